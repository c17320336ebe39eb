//! biopin's integration tests: one binary, a module per feature.

mod dio;
mod errors;
mod fork;
mod gup;
mod pagecache;
mod properties;
mod recorded;
mod runs;
mod shipped;
mod tables;

use biopin::mm::{Events, MemMap};
use biopin::pagecache::PageCache;
use biopin::vm::{Kernel, Vm};
use biopin::{Cell, Design, Program, Verdict, check};
use biopin_explore::{Bounds, Strategy};

/// Checks `program` exhaustively under `design`.
pub fn run(program: &Program, design: Design) -> Cell {
    check(program, design, Strategy::Dfs, Bounds::NONE, &mut |_| {})
}

/// The verdict of `program` under every preset.
pub fn verdicts(program: &Program) -> Vec<(Design, Verdict)> {
    Design::all()
        .into_iter()
        .map(|d| (d, run(program, d).verdict))
        .collect()
}

/// A design by name.
pub fn design(text: &str) -> Design {
    Design::parse(text).unwrap()
}

/// A kernel of its own parts, for the tests that call the model's functions directly; each
/// test module builds its own and adds what it needs.
pub struct Machine {
    /// Frames.
    pub mem: MemMap,
    /// Tasks.
    pub vm: Vm,
    /// Files.
    pub cache: PageCache,
    /// The design in force.
    pub design: Design,
    /// What the calls raise.
    pub ev: Events,
}

impl Machine {
    /// Whether `id` was raised.
    pub fn has(&self, id: biopin::Invariant) -> bool {
        self.ev.raised.iter().any(|(i, _)| *i == id)
    }

    /// The kernel over these parts.
    pub fn k(&mut self) -> Kernel<'_> {
        Kernel {
            mem: &mut self.mem,
            vm: &mut self.vm,
            cache: &mut self.cache,
            design: &self.design,
            ev: &mut self.ev,
        }
    }
}
