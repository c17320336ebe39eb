//! biopin's integration tests: one binary, a module per feature.

mod dio;
mod errors;
mod fork;
mod gup;
mod properties;
mod recorded;
mod runs;
mod shipped;
mod tables;

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
