//! The interface a model implements to be explored.

use std::fmt::Debug;
use std::hash::Hash;

/// A transition system the explorer can search.
///
/// Contracts, relied on by every strategy and by replay:
/// - [`Model::actions`] lists the enabled actions of a state in a deterministic order, a pure
///   function of the state: the same state gives the same list, always.
/// - [`Model::next_state`] is deterministic: the same state and action give the same state and
///   the same properties.
/// - A state's [`Hash`] is stable for the length of a run (it is used as a fingerprint), and two
///   states that compare equal hash equally.
/// - Properties are reported by the transition that raises them, or by [`Model::finish`] when a
///   path ends (no action enabled). A property may be raised by several transitions; the explorer
///   keeps the shortest path to each.
pub trait Model {
    /// A state of the system; only it is fingerprinted and compared.
    type State: Clone + Eq + Hash;
    /// A step some actor can take.
    type Action: Copy + Eq + Debug;
    /// The identifier of a violated property.
    type Property: Copy + Ord + Debug;

    /// The state every path starts from.
    fn init_state(&self) -> Self::State;

    /// Appends the actions enabled in `state`, in a deterministic order, to `actions` (which is
    /// empty on entry).
    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>);

    /// Takes `action` from `state` and returns the resulting state, appending to `raised` the
    /// properties the step violates.
    fn next_state(
        &self,
        state: &Self::State,
        action: Self::Action,
        raised: &mut Vec<Self::Property>,
    ) -> Self::State;

    /// Called for a state in which no action is enabled: appends the properties that the end of
    /// a path violates (end-state checks, deadlock).
    fn finish(&self, state: &Self::State, raised: &mut Vec<Self::Property>);

    /// Encodes an action as a number for schedules and tokens.
    fn encode_action(&self, action: Self::Action) -> u32;

    /// Decodes a number made by [`Model::encode_action`]; `None` if it names no action of this
    /// model.
    fn decode_action(&self, code: u32) -> Option<Self::Action>;
}
