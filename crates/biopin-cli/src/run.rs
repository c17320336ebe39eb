//! What `check` and `matrix` share: reading every input first, then checking each scenario
//! under each design.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use biopin::{Cell, Design, Match, Program};
use biopin_explore::{Bounds, Strategy};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_MISMATCH, EXIT_OK};

/// `--strategy`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum StrategyArg {
    /// Exhaustive depth-first search with fingerprints.
    Dfs,
    /// Exhaustive breadth-first search: shortest counterexamples.
    Bfs,
}

/// How a run explores: the designs, the strategy and the bounds.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Designs: one (`linux-6.5+cow=refcount`), a comma-separated list, or `all` (every
    /// preset); repeatable. Overrides the files' `designs`.
    #[arg(long = "design", value_name = "DESIGNS")]
    designs: Vec<String>,
    /// Search strategy.
    #[arg(long, value_enum, default_value = "dfs")]
    strategy: StrategyArg,
    /// Stop a run after this many unique states (the run is then incomplete).
    #[arg(long)]
    max_states: Option<u64>,
    /// Do not explore deeper than this many steps.
    #[arg(long)]
    max_depth: Option<u32>,
    /// Stop a run after this many seconds.
    #[arg(long)]
    timeout: Option<f64>,
}

/// Every scenario checked under every design asked for.
pub struct Run {
    /// The scenarios, each with the file it came from.
    pub programs: Vec<(PathBuf, Program)>,
    /// Each scenario's cells, in the order of its designs.
    pub results: Vec<Vec<Cell>>,
    /// The whole run's wall time.
    pub elapsed: Duration,
}

/// The scenario files named by `paths`: files as given, directories searched (recursively) for
/// `*.toml`, each directory's in name order.
fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: cannot read the directory: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = files.len();
            walk(path, &mut files)?;
            if files.len() == before {
                return Err(format!(
                    "{}: no scenario files (*.toml) in this directory",
                    path.display()
                ));
            }
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

impl RunArgs {
    /// Without `--design`, every preset (for `matrix`, whose columns are designs).
    pub fn default_to_presets(&mut self) {
        if self.designs.is_empty() {
            self.designs.push("all".into());
        }
    }

    fn bounds(&self) -> Result<Bounds, String> {
        let timeout = match self.timeout {
            None => None,
            Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
            Some(t) => return Err(format!("--timeout {t} is not a positive number of seconds")),
        };
        if self.max_states == Some(0) {
            return Err(
                "--max-states 0 would explore nothing: give 1 or more unique states".into(),
            );
        }
        Ok(Bounds::new(self.max_states, self.max_depth, timeout))
    }

    /// The designs `--design` names (each once, in order), or `None` without it.
    fn designs(&self) -> Result<Option<Vec<Design>>, String> {
        if self.designs.is_empty() {
            return Ok(None);
        }
        let mut out: Vec<Design> = Vec::new();
        for text in &self.designs {
            for d in Design::parse_list(text).map_err(|e| format!("--design {text}: {e}"))? {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        Ok(Some(out))
    }
}

/// Reads and checks every input, reporting every bad one on stderr (then nothing runs and the
/// exit status is [`EXIT_BAD_INPUT`]), and runs every scenario under every design.
pub fn run(paths: &[PathBuf], args: &RunArgs) -> Result<Run, u8> {
    let files = scenario_files(paths).map_err(|e| {
        eprintln!("{e}");
        EXIT_BAD_INPUT
    })?;
    let mut programs = Vec::new();
    let mut bad = false;
    for file in &files {
        match biopin::load_file(file) {
            Ok(p) => programs.push((file.clone(), p)),
            Err(e) => {
                eprintln!("{e}");
                bad = true;
            }
        }
    }
    let designs = args.designs();
    let bounds = args.bounds();
    for e in [designs.as_ref().err(), bounds.as_ref().err()]
        .into_iter()
        .flatten()
    {
        eprintln!("{e}");
        bad = true;
    }
    let (Ok(designs), Ok(bounds), false) = (designs, bounds, bad) else {
        return Err(EXIT_BAD_INPUT);
    };
    let strategy = match args.strategy {
        StrategyArg::Dfs => Strategy::Dfs,
        StrategyArg::Bfs => Strategy::Bfs,
    };
    let jobs: Vec<(usize, Design)> = programs
        .iter()
        .enumerate()
        .flat_map(|(i, (_, p))| {
            designs
                .clone()
                .unwrap_or_else(|| p.designs.clone())
                .into_iter()
                .map(move |d| (i, d))
        })
        .collect();

    let bar = if std::io::stderr().is_terminal() {
        let bar =
            ProgressBar::with_draw_target(Some(jobs.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{pos}/{len} {wide_msg}").expect("a valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let mut results: Vec<Vec<Cell>> = vec![Vec::new(); programs.len()];
    for (i, design) in jobs {
        let (_, program) = &programs[i];
        bar.set_message(format!("{} under {design}", program.name));
        let cell = biopin::check(program, design, strategy, bounds, &mut |s| {
            bar.set_message(format!(
                "{} under {design}: {} states",
                program.name, s.states
            ));
        });
        bar.inc(1);
        results[i].push(cell);
    }
    bar.finish_and_clear();
    Ok(Run {
        programs,
        results,
        elapsed: started.elapsed(),
    })
}

impl Run {
    /// Every cell, scenario by scenario.
    pub fn cells(&self) -> impl Iterator<Item = &Cell> + Clone {
        self.results.iter().flatten()
    }

    /// Every design checked, in order of first appearance.
    pub fn designs(&self) -> Vec<Design> {
        let mut designs: Vec<Design> = Vec::new();
        for c in self.cells() {
            if !designs.contains(&c.design) {
                designs.push(c.design);
            }
        }
        designs
    }

    /// How many cells compare with their expectation as `m`.
    pub fn count(&self, m: Match) -> usize {
        self.cells().filter(|c| c.matches() == m).count()
    }

    /// The one-line summary every format ends with.
    pub fn summary(&self) -> String {
        format!(
            "{}, {}: {} as expected, {} mismatched, {} incomplete",
            plural(self.programs.len() as u64, "scenario"),
            plural(self.cells().count() as u64, "scenario × design cell"),
            self.count(Match::Expected),
            self.count(Match::Mismatch),
            self.count(Match::Incomplete)
        )
    }

    /// `check`'s exit status: a mismatch first, then an incomplete run.
    pub fn exit_code(&self) -> u8 {
        if self.count(Match::Mismatch) > 0 {
            EXIT_MISMATCH
        } else if self.count(Match::Incomplete) > 0 {
            EXIT_INCOMPLETE
        } else {
            EXIT_OK
        }
    }
}

/// `n` and `noun`, with an `s` unless `n` is 1.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// How a cell compares with its expectation, as JSON says it.
pub fn match_id(m: Match) -> &'static str {
    match m {
        Match::Expected => "expected",
        Match::Mismatch => "mismatch",
        Match::Incomplete => "incomplete",
    }
}

/// A cell's verdict as every JSON report starts it (docs/json.md).
#[derive(serde::Serialize)]
pub struct JsonVerdict {
    design: String,
    verdict: Vec<&'static str>,
    expected: Vec<&'static str>,
    r#match: &'static str,
    complete: bool,
}

impl JsonVerdict {
    /// `cell`'s.
    pub fn of(cell: &Cell) -> JsonVerdict {
        let ids = |v: &biopin::Verdict| v.iter().map(|i| i.id()).collect::<Vec<_>>();
        JsonVerdict {
            design: cell.design.canonical(),
            verdict: ids(&cell.verdict),
            expected: ids(&cell.expected),
            r#match: match_id(cell.matches()),
            complete: cell.outcome == biopin_explore::Outcome::Complete,
        }
    }
}

/// The counts every JSON report ends with (docs/json.md).
#[derive(serde::Serialize)]
pub struct JsonSummary {
    scenarios: usize,
    cells: usize,
    expected: usize,
    mismatched: usize,
    incomplete: usize,
}

impl Run {
    /// The run's [`JsonSummary`].
    pub fn json_summary(&self) -> JsonSummary {
        JsonSummary {
            scenarios: self.programs.len(),
            cells: self.cells().count(),
            expected: self.count(Match::Expected),
            mismatched: self.count(Match::Mismatch),
            incomplete: self.count(Match::Incomplete),
        }
    }
}

/// A cell's verdict as a report shows it: `ok` or the IDs; an incomplete run says so first,
/// with the states explored and what it found so far, so that it never reads as `ok`.
pub fn verdict_cell(cell: &Cell) -> String {
    let found = biopin::scenario::verdict_text(&cell.verdict);
    match cell.outcome {
        biopin_explore::Outcome::Complete => found,
        biopin_explore::Outcome::Incomplete(_) => {
            let so_far = if cell.verdict.is_empty() {
                "nothing".to_owned()
            } else {
                found
            };
            let n = cell.stats.unique;
            format!(
                "incomplete after {n} state{}: found {so_far} so far",
                if n == 1 { "" } else { "s" }
            )
        }
    }
}
