//! Replay: re-running one schedule, step by step; just another (fully determined) scheduler.

use thiserror::Error;

use crate::model::Model;

/// One replayed step: the action and what it raised.
pub struct ReplayStep<M: Model> {
    /// The action taken.
    pub action: M::Action,
    /// The properties the step raised.
    pub raised: Vec<M::Property>,
}

impl<M: Model> std::fmt::Debug for ReplayStep<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayStep")
            .field("action", &self.action)
            .field("raised", &self.raised)
            .finish()
    }
}

/// Why a schedule cannot be replayed on a model.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ReplayError {
    /// An encoded action names nothing in this model.
    #[error("step {step} of the schedule names action {code}, which this model does not have")]
    UnknownAction {
        /// 1-based step number.
        step: usize,
        /// The encoded action.
        code: u32,
    },
    /// The action exists but is not enabled where the schedule takes it.
    #[error("step {step} of the schedule takes action {code}, which is not enabled there")]
    NotEnabled {
        /// 1-based step number.
        step: usize,
        /// The encoded action.
        code: u32,
    },
}

/// Replays `schedule` (encoded actions) from the initial state, refusing any step that the
/// model does not enable: a schedule is never silently replayed as a different one. Returns the
/// state the schedule reaches, and each step.
pub fn replay<M: Model>(
    model: &M,
    schedule: &[u32],
) -> Result<(M::State, Vec<ReplayStep<M>>), ReplayError> {
    let mut state = model.init_state();
    let mut steps = Vec::with_capacity(schedule.len());
    let mut enabled = Vec::new();
    for (i, &code) in schedule.iter().enumerate() {
        let step = i + 1;
        let action = model
            .decode_action(code)
            .ok_or(ReplayError::UnknownAction { step, code })?;
        enabled.clear();
        model.actions(&state, &mut enabled);
        if !enabled.contains(&action) {
            return Err(ReplayError::NotEnabled { step, code });
        }
        let mut raised = Vec::new();
        model.apply(&mut state, action, &mut raised);
        steps.push(ReplayStep { action, raised });
    }
    Ok((state, steps))
}
