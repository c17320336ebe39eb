//! The Rust face of the scenario format: everything a scenario file can say, said in code.

use xxhash_rust::xxh3::xxh3_64;

use super::op::parse_op;
use super::{
    ActorSpec, FileSpec, Machine, OpLine, ProcessSpec, Scenario, ScenarioError, Source, VmaSpec,
};
use crate::design::Design;
use crate::mm::Invariant;
use crate::pagecache::Fs;
use crate::program::Program;
use crate::vm::{Prot, VmaKind};

/// Builds a scenario in Rust; [`ScenarioBuilder::build`] compiles it as a file's would be.
///
/// ```
/// use biopin::{Design, Invariant, ScenarioBuilder};
/// let program = ScenarioBuilder::new("pin-leak")
///     .process("app", |p| p.anon("buf", 1))
///     .actor("dev", ["store app:buf[0] 1", "pin app:buf[0] write as h"])
///     .expect(Design::parse("linux-6.5").unwrap(), [Invariant::Leak])
///     .build()
///     .unwrap();
/// assert_eq!(program.actors.len(), 3); // prologue, dev, epilogue
/// ```
#[derive(Clone, Debug)]
pub struct ScenarioBuilder {
    scenario: Scenario,
    error: Option<ScenarioError>,
}

/// Builds a process's VMAs.
#[derive(Clone, Debug)]
pub struct ProcessBuilder {
    spec: ProcessSpec,
}

impl ProcessBuilder {
    /// Adds a VMA.
    pub fn vma(mut self, vma: VmaSpec) -> Self {
        self.spec.vmas.push(vma);
        self
    }

    /// Adds a private anonymous read-write VMA of `pages` small pages.
    pub fn anon(self, name: &str, pages: u32) -> Self {
        self.vma(VmaSpec {
            name: name.into(),
            kind: VmaKind::Anon,
            file: None,
            offset: 0,
            pages,
            prot: Prot::Rw,
            huge: false,
            at: None,
        })
    }

    /// Adds a file mapping of `pages` pages of `file` from page `offset`: `MAP_SHARED` or
    /// `MAP_PRIVATE`, read-write or read-only.
    pub fn file_vma(
        self,
        name: &str,
        kind: VmaKind,
        file: &str,
        offset: u32,
        pages: u32,
        prot: Prot,
    ) -> Self {
        self.vma(VmaSpec {
            name: name.into(),
            kind,
            file: Some(file.into()),
            offset,
            pages,
            prot,
            huge: false,
            at: None,
        })
    }

    /// Adds a private anonymous read-write VMA backed by one large folio of `pages` pages.
    pub fn huge_anon(self, name: &str, pages: u32) -> Self {
        self.vma(VmaSpec {
            name: name.into(),
            kind: VmaKind::Anon,
            file: None,
            offset: 0,
            pages,
            prot: Prot::Rw,
            huge: true,
            at: None,
        })
    }
}

impl ScenarioBuilder {
    /// A scenario named `name` on the default machine.
    pub fn new(name: &str) -> Self {
        ScenarioBuilder {
            scenario: Scenario {
                name: name.into(),
                ..Scenario::default()
            },
            error: None,
        }
    }

    /// `[[file]]`: a file of `pages` pages on `fs`, every block holding `init`.
    pub fn file(mut self, name: &str, pages: u32, fs: Fs, init: u8) -> Self {
        self.scenario.files.push(FileSpec {
            name: name.into(),
            pages,
            fs,
            stable_writes: false,
            init,
            at: None,
        });
        self
    }

    /// A kernel selftest case the scenario ports: the `# [RUN] …` line the selftest prints.
    pub fn selftest(mut self, case: &str) -> Self {
        self.scenario.selftest.push(case.into());
        self
    }

    /// One sentence on what it shows.
    pub fn summary(mut self, summary: &str) -> Self {
        self.scenario.summary = summary.into();
        self
    }

    /// `[machine] frames`.
    pub fn frames(mut self, frames: u32) -> Self {
        self.scenario.machine.frames = frames;
        self
    }

    /// `[device]`: the block device's queue limits.
    pub fn device(mut self, limits: crate::block::QueueLimits) -> Self {
        self.scenario.device = limits;
        self
    }

    /// `[machine] movable`.
    pub fn movable(mut self, movable: u32) -> Self {
        self.scenario.machine.movable = movable;
        self
    }

    /// `designs`: the designs to check by default.
    pub fn designs(mut self, designs: impl IntoIterator<Item = Design>) -> Self {
        self.scenario.designs = Some(designs.into_iter().map(|d| (d, None)).collect());
        self
    }

    /// A `[[process]]` with the VMAs `vmas` adds.
    pub fn process(
        mut self,
        name: &str,
        vmas: impl FnOnce(ProcessBuilder) -> ProcessBuilder,
    ) -> Self {
        let p = vmas(ProcessBuilder {
            spec: ProcessSpec {
                name: name.into(),
                vmas: Vec::new(),
                at: None,
            },
        });
        self.scenario.processes.push(p.spec);
        self
    }

    fn ops<S: AsRef<str>>(&mut self, whose: &str, ops: impl IntoIterator<Item = S>) -> Vec<OpLine> {
        let mut lines = Vec::new();
        for (i, text) in ops.into_iter().enumerate() {
            let text = text.as_ref();
            match parse_op(text) {
                Ok((op, expect)) => lines.push(OpLine {
                    op,
                    expect,
                    text: text.into(),
                    origin: None,
                }),
                Err(e) => {
                    let message = format!(
                        "{whose}, op {} `{text}`, column {}: {}",
                        i + 1,
                        text[..e.at.start].chars().count() + 1,
                        e.message
                    );
                    self.error.get_or_insert(ScenarioError {
                        path: None,
                        line_col: None,
                        message,
                    });
                }
            }
        }
        lines
    }

    /// `prologue`: ops that run first, alone, in order.
    pub fn prologue<S: AsRef<str>>(mut self, ops: impl IntoIterator<Item = S>) -> Self {
        self.scenario.prologue = self.ops("prologue", ops);
        self
    }

    /// `epilogue`: ops that run last, alone, in order.
    pub fn epilogue<S: AsRef<str>>(mut self, ops: impl IntoIterator<Item = S>) -> Self {
        self.scenario.epilogue = self.ops("epilogue", ops);
        self
    }

    /// An `[[actor]]` running `ops` in order.
    pub fn actor<S: AsRef<str>>(mut self, name: &str, ops: impl IntoIterator<Item = S>) -> Self {
        let ops = self.ops(&format!("actor `{name}`"), ops);
        self.scenario.actors.push(ActorSpec {
            name: name.into(),
            ops,
            at: None,
        });
        self
    }

    /// An `[[actor]]` with ops already parsed.
    pub fn actor_lines(mut self, name: &str, ops: Vec<OpLine>) -> Self {
        self.scenario.actors.push(ActorSpec {
            name: name.into(),
            ops,
            at: None,
        });
        self
    }

    /// `[expect]`: under `design`, exactly these violations (none: `ok`).
    pub fn expect(mut self, design: Design, ids: impl IntoIterator<Item = Invariant>) -> Self {
        self.scenario
            .expect
            .push((design, ids.into_iter().collect(), None));
        self
    }

    /// The scenario as written, or the first op that did not parse.
    pub fn scenario(self) -> Result<Scenario, ScenarioError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut scenario = self.scenario;
        scenario.source = Source {
            path: None,
            text: None,
            hash: xxh3_64(format!("{scenario:?}").as_bytes()),
        };
        Ok(scenario)
    }

    /// Compiles the scenario, checking everything a file is checked for.
    pub fn build(self) -> Result<Program, ScenarioError> {
        Program::compile(&self.scenario()?)
    }
}

impl Default for ScenarioBuilder {
    fn default() -> Self {
        ScenarioBuilder::new("scenario")
    }
}

/// Checks `[machine]`: at least one frame, at most 2^21, no more movable than frames.
pub(crate) fn check_machine(m: &Machine) -> Result<(), (&'static str, String)> {
    use crate::mm::MAX_FRAMES;
    if m.frames == 0 || m.frames > MAX_FRAMES {
        return Err((
            "frames",
            format!(
                "frames = {} is out of range: 1..={MAX_FRAMES} (2^21)",
                m.frames
            ),
        ));
    }
    if m.movable > m.frames {
        return Err((
            "movable",
            format!("movable = {} is more than frames = {}", m.movable, m.frames),
        ));
    }
    Ok(())
}

/// The valid range of a `[device]` key, in words.
pub(crate) fn check_device_range(key: &str) -> &'static str {
    match key {
        "max_segments" => "1..=65535",
        "max_sectors" => "8..=2^23 (4 GiB)",
        "max_segment_size" => "4096..=2^32-1",
        "dma_alignment" => "2^k - 1 in 0..=4095 (a mask: 3, 511, 4095…)",
        _ => "512, 1024, 2048 or 4096",
    }
}

/// Checks `[device]`: `logical_block_size` a power of two in 512..=4096, `max_segments` ≥ 1,
/// `max_sectors` ≥ 8, `max_segment_size` ≥ 4096, `dma_alignment` a mask below a page (the
/// kernel's own floors:
/// `blk_validate_limits`), and none so large that a request's bytes overflow `unsigned int`.
pub(crate) fn check_device(q: &crate::block::QueueLimits) -> Result<(), (&'static str, String)> {
    let bad = |key: &'static str, v: u32| {
        Err((
            key,
            format!("{key} = {v} is out of range: {}", check_device_range(key)),
        ))
    };
    if !(1..=65535).contains(&q.max_segments) {
        return bad("max_segments", q.max_segments);
    }
    if !(8..=1 << 23).contains(&q.max_sectors) {
        return bad("max_sectors", q.max_sectors);
    }
    if q.max_segment_size < 4096 {
        return bad("max_segment_size", q.max_segment_size);
    }
    if q.dma_alignment > 4095 || !(q.dma_alignment + 1).is_power_of_two() {
        return bad("dma_alignment", q.dma_alignment);
    }
    if !q.logical_block_size.is_power_of_two() || !(512..=4096).contains(&q.logical_block_size) {
        return Err((
            "logical_block_size",
            format!(
                "logical_block_size = {} must be a power of two in 512..=4096",
                q.logical_block_size
            ),
        ));
    }
    Ok(())
}

/// The most page-table entries a scenario's VMAs may have in all (2^22): each is part of every
/// state the explorer keeps, so this bounds a state to some tens of MiB.
pub const MAX_TOTAL_PAGES: u64 = 1 << 22;

/// Checks that all VMAs together stay within [`MAX_TOTAL_PAGES`].
pub(crate) fn check_total_pages(total: u64) -> Result<(), String> {
    if total > MAX_TOTAL_PAGES {
        return Err(format!(
            "the VMAs have {total} pages in all: biopin keeps at most {MAX_TOTAL_PAGES} (2^22) page-table entries per scenario; make them smaller"
        ));
    }
    Ok(())
}

/// A `selftest` entry is a selftest's `# [RUN] …` line, exactly as it prints it.
pub(crate) fn check_selftest(case: &str) -> Result<(), String> {
    match case.strip_prefix("# [RUN] ") {
        Some(rest) if !rest.trim().is_empty() && !case.contains('\n') => Ok(()),
        _ => Err(format!(
            "selftest entry `{case}` is not a selftest case line: write it as the selftest prints it, \
             e.g. \"# [RUN] Basic COW after fork() ... with base page\""
        )),
    }
}

/// Checks a VMA's size: 1..=2^21 pages; a huge one 2^k pages with 2 ≤ k ≤ 9.
pub(crate) fn check_vma(pages: i128, huge: bool) -> Result<(), String> {
    use crate::mm::{HPAGE_PMD_ORDER, MAX_FRAMES};
    if pages <= 0 || pages > i128::from(MAX_FRAMES) {
        return Err(format!(
            "pages = {pages} is out of range: 1..={MAX_FRAMES} (2^21)"
        ));
    }
    let max = 1i128 << HPAGE_PMD_ORDER;
    if huge && (!(pages as u64).is_power_of_two() || !(4..=max).contains(&pages)) {
        return Err(format!(
            "a huge VMA is one folio: pages must be a power of two from 4 to {max}, not {pages} \
             (the kernel allocates no order-1 anonymous folio)"
        ));
    }
    Ok(())
}
