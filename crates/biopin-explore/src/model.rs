//! The interface a model implements to be explored.

use std::fmt::Debug;

/// A transition system the explorer can search, applied in place.
///
/// Contracts, relied on by every strategy and by replay:
/// - [`Model::actions`] lists the enabled actions of a state in a deterministic order, a pure
///   function of the state: the same state gives the same list, always.
/// - [`Model::apply`] is deterministic: the same state and action give the same state and the
///   same properties. It changes the state in place and must be undoable: [`Model::undo`]
///   restores exactly the state before the latest `apply` not yet undone (applies and undos
///   nest like a stack). With a state made of [`crate::Table`]s, `apply` opens a checkpoint
///   first and `undo` rolls back to it.
/// - [`Model::fingerprint`] is a pure function of the state's contents, stable for the length
///   of a run: equal states give equal fingerprints, and distinct states distinct ones except
///   with negligible probability. It should cost what the last step changed, not the size of
///   the state (see [`crate::Table`]).
/// - Properties are reported by the transition that raises them, or by [`Model::finish`] when a
///   path ends (no action enabled). A property may be raised by several transitions; the explorer
///   keeps the shortest path to each.
pub trait Model {
    /// A state of the system.
    type State;
    /// A step some actor can take.
    type Action: Copy + Eq + Debug;
    /// The identifier of a violated property.
    type Property: Copy + Ord + Debug;

    /// The state every path starts from.
    fn init_state(&self) -> Self::State;

    /// Appends the actions enabled in `state`, in a deterministic order, to `actions`.
    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>);

    /// Takes `action` in `state`, in place, appending to `raised` the properties the step
    /// violates.
    fn apply(
        &self,
        state: &mut Self::State,
        action: Self::Action,
        raised: &mut Vec<Self::Property>,
    );

    /// Undoes the latest [`Model::apply`] not yet undone.
    fn undo(&self, state: &mut Self::State);

    /// The state's fingerprint.
    fn fingerprint(&self, state: &Self::State) -> u64;

    /// Called for a state in which no action is enabled: appends the properties that the end of
    /// a path violates (end-state checks, deadlock).
    fn finish(&self, state: &Self::State, raised: &mut Vec<Self::Property>);

    /// Encodes an action as a number for schedules and tokens.
    fn encode_action(&self, action: Self::Action) -> u32;

    /// Decodes a number made by [`Model::encode_action`]; `None` if it names no action of this
    /// model.
    fn decode_action(&self, code: u32) -> Option<Self::Action>;
}
