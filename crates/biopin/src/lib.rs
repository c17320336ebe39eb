//! biopin: an executable, model-checked model of how Linux tracks the page references that
//! block I/O holds — folios and their counts, GUP references and pins, and (as they land) bios,
//! direct I/O, RDMA, the page cache and fork — under each design argued over since 2019.
//!
//! Layers, lowest first (docs/design.md, Layers): [`mm`], [`pagecache`], [`vm`], [`gup`], [`block`],
//! [`reclaim`], [`io`]; then [`check`] (end-state checks) and [`scenario`] (the file format).
//! A scenario compiles into a [`Program`]; a [`World`] is the state one run changes;
//! [`check()`] explores every interleaving under a [`Design`]; [`trace::replay_token`]
//! replays a counterexample.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod block;
pub mod check;
pub mod design;
pub mod errno;
mod exec;
pub mod gup;
pub mod io;
pub mod mm;
pub mod model;
pub mod pagecache;
pub mod program;
pub mod reclaim;
pub mod scenario;
pub mod state;
pub mod trace;
pub mod vm;
pub mod world;

pub use design::{Design, Knob, Preset};
pub use errno::Errno;
pub use mm::Invariant;
pub use model::{
    Action, Cell, Cost, Found, KernelModel, LeastPath, Match, check, least_path, least_schedule,
};
pub use program::Program;
pub use scenario::{ScenarioBuilder, ScenarioError, Verdict, load_file, load_str};
pub use world::World;
