//! Scenarios: what a scenario file says, built from TOML ([`load`]) or from Rust
//! ([`ScenarioBuilder`]), and compiled into a [`crate::program::Program`].

pub(crate) mod builder;
mod error;
pub mod load;
pub mod op;

use std::collections::BTreeSet;
use std::ops::Range;

pub use builder::{ProcessBuilder, ScenarioBuilder};
pub use error::ScenarioError;
pub use load::{load_file, load_str};
pub use op::{OpLine, parse_op};

use crate::design::Design;
use crate::mm::Invariant;
use crate::pagecache::Fs;
use crate::vm::{Prot, VmaKind};

/// The violations a path or a scenario shows: empty is `ok`.
pub type Verdict = BTreeSet<Invariant>;

/// Formats a verdict as reports and `[expect]` write it: `ok`, or IDs in the table's order.
pub fn verdict_text(verdict: &Verdict) -> String {
    if verdict.is_empty() {
        "ok".into()
    } else {
        verdict
            .iter()
            .map(|i| i.id())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where a scenario came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// The file's path as given, if it came from a file.
    pub path: Option<String>,
    /// The file's text, to turn byte offsets into line:column.
    pub text: Option<String>,
    /// XXH3-64 of the file's bytes (of a canonical rendering for built scenarios): replay
    /// tokens carry it.
    pub hash: u64,
}

/// `[machine]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machine {
    /// Page frames of RAM.
    pub frames: u32,
    /// The last `movable` frames are `ZONE_MOVABLE`.
    pub movable: u32,
}

impl Machine {
    /// `frames` when a scenario does not say.
    pub const DEFAULT_FRAMES: u32 = 64;
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            frames: Machine::DEFAULT_FRAMES,
            movable: 0,
        }
    }
}

/// A `[[file]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// Its name.
    pub name: String,
    /// Its size in pages.
    pub pages: u32,
    /// Its filesystem.
    pub fs: Fs,
    /// The file requires stable pages during writeback (ext4 only).
    pub stable_writes: bool,
    /// Every block's initial byte.
    pub init: u8,
    /// Where its name was written.
    pub at: Option<Range<usize>>,
}

/// A `[[process.vma]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmaSpec {
    /// Its name.
    pub name: String,
    /// What it maps.
    pub kind: VmaKind,
    /// For `shared` and `private`: the file it maps.
    pub file: Option<String>,
    /// For `shared` and `private`: the file page its first page maps.
    pub offset: u32,
    /// Its size in pages.
    pub pages: u32,
    /// Its protection.
    pub prot: Prot,
    /// One large folio (pages = 2^k, 2 ≤ k ≤ 9; anonymous only).
    pub huge: bool,
    /// Where its name was written.
    pub at: Option<Range<usize>>,
}

/// A `[[process]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Its name.
    pub name: String,
    /// Its VMAs.
    pub vmas: Vec<VmaSpec>,
    /// Where its name was written.
    pub at: Option<Range<usize>>,
}

/// An `[[actor]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorSpec {
    /// Its name.
    pub name: String,
    /// Its ops, in order.
    pub ops: Vec<OpLine>,
    /// Where its name was written.
    pub at: Option<Range<usize>>,
}

/// A scenario as written, before names are resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scenario {
    /// `name`.
    pub name: String,
    /// `summary`.
    pub summary: String,
    /// `designs`, if given (each with where it was written).
    pub designs: Option<Vec<(Design, Option<Range<usize>>)>>,
    /// `selftest`: the kernel selftest cases the scenario ports, each the text of its
    /// `# [RUN] …` line.
    pub selftest: Vec<String>,
    /// `[machine]`.
    pub machine: Machine,
    /// `[device]`: the block device's queue limits.
    pub device: crate::block::QueueLimits,
    /// `[[file]]`.
    pub files: Vec<FileSpec>,
    /// `[[process]]`.
    pub processes: Vec<ProcessSpec>,
    /// `prologue`.
    pub prologue: Vec<OpLine>,
    /// `epilogue`.
    pub epilogue: Vec<OpLine>,
    /// `[[actor]]`.
    pub actors: Vec<ActorSpec>,
    /// `[expect]`: per design, the exact verdict (with where it was written).
    pub expect: Vec<(Design, Verdict, Option<Range<usize>>)>,
    /// Where it came from.
    pub source: Source,
}
