//! A generic explicit-state explorer, in the shape of stateright's checker.
//!
//! It knows nothing of pages: a [`Model`] gives an initial state, the enabled actions of a state
//! in a deterministic order, the next state with the properties (violations) a step raises, and
//! the properties raised when a path ends. The explorer visits every reachable state once
//! (fingerprints), records for each property the shortest path found to it, and reports
//! statistics on every run. Paths are schedules of actions; a [`Token`] carries one, versioned
//! and checksummed, so that anyone can replay it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod explore;
mod fingerprint;
mod model;
mod replay;
mod token;

pub use explore::{Bounds, Discovery, Exploration, Outcome, Stats, Strategy, explore};
pub use fingerprint::fingerprint;
pub use model::Model;
pub use replay::{ReplayError, ReplayStep, replay};
pub use token::{Token, TokenError};
