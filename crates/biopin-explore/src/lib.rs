//! A generic explicit-state explorer, in the shape of stateright's checker.
//!
//! It knows nothing of pages: a [`Model`] gives an initial state, the enabled actions of a state
//! in a deterministic order, a step applied in place (and undone) with the properties
//! (violations) it raises, a fingerprint, and the properties raised when a path ends. The
//! explorer visits every reachable state once (fingerprints), records for each property the
//! shortest path found to it, and reports statistics on every run. Paths are schedules of
//! actions; a [`Token`] carries one, versioned and checksummed, so that anyone can replay it.
//!
//! A state is written through [`Table`]s, which keep its fingerprint incrementally and an undo
//! log, so a step costs what it touches and no successor copies the state.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod explore;
mod model;
mod replay;
mod table;
mod token;
mod visited;

pub use explore::{Bounds, Discovery, Exploration, Outcome, Stats, Strategy, explore};
pub use model::Model;
pub use replay::{ReplayError, ReplayStep, replay};
pub use table::{Cached, Journaled, Record, Table};
pub use token::{Token, TokenError};
