//! `biopin check`: every scenario under every design it asks for, compared with `[expect]`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use biopin::scenario::verdict_text;
use biopin::{Cell, Design, Match, Program};
use biopin_explore::{Bounds, Outcome, Strategy};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::out::outln;
use crate::{EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_MISMATCH, EXIT_OK, Format, StrategyArg};

/// `biopin check`'s arguments.
#[derive(clap::Args)]
pub struct Options {
    /// Scenario files, or directories searched for *.toml.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// A design (`linux-6.5+cow=refcount`) or `all`; overrides the files' `designs`.
    #[arg(long)]
    design: Option<String>,
    /// Search strategy.
    #[arg(long, value_enum, default_value = "dfs")]
    strategy: StrategyArg,
    /// Output format (JSON is documented in docs/json.md).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Print exploration statistics (timing goes to stderr).
    #[arg(long)]
    stats: bool,
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

fn bounds(o: &Options) -> Result<Bounds, String> {
    let timeout = match o.timeout {
        None => None,
        Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
        Some(t) => return Err(format!("--timeout {t} is not a positive number of seconds")),
    };
    Ok(Bounds::new(o.max_states, o.max_depth, timeout))
}

pub fn run(o: Options) -> u8 {
    // Read and check every input before running anything.
    let files = match scenario_files(&o.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
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
    let designs = match o.design.as_deref().map(Design::parse_list).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("--design: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let bounds = match bounds(&o) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    if bad {
        return EXIT_BAD_INPUT;
    }
    let strategy = match o.strategy {
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
    let elapsed = started.elapsed();

    let report = Report {
        programs: &programs,
        results: &results,
    };
    match o.format {
        Format::Text => report.text(o.stats, elapsed),
        Format::Json => report.json(elapsed),
        Format::Markdown => report.markdown(),
    }
    let cells = results.iter().flatten();
    if cells.clone().any(|c| c.matches() == Match::Mismatch) {
        EXIT_MISMATCH
    } else if cells.clone().any(|c| c.matches() == Match::Incomplete) {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    }
}

struct Report<'a> {
    programs: &'a [(PathBuf, Program)],
    results: &'a [Vec<Cell>],
}

fn match_text(cell: &Cell) -> String {
    match (cell.matches(), cell.outcome) {
        (Match::Expected, _) => "as expected".into(),
        (Match::Mismatch, _) => format!("MISMATCH: expected {}", verdict_text(&cell.expected)),
        (Match::Incomplete, Outcome::Incomplete(bound)) => {
            format!("INCOMPLETE: stopped by {bound}")
        }
        (Match::Incomplete, Outcome::Complete) => {
            unreachable!("a complete run is never incomplete")
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Report<'_> {
    fn cells(&self) -> impl Iterator<Item = &Cell> {
        self.results.iter().flatten()
    }

    /// Every design checked, in order of first appearance.
    fn designs(&self) -> Vec<Design> {
        let mut designs: Vec<Design> = Vec::new();
        for c in self.cells() {
            if !designs.contains(&c.design) {
                designs.push(c.design);
            }
        }
        designs
    }

    fn summary(&self) -> String {
        let n = self.cells().count();
        let count = |m| self.cells().filter(|c| c.matches() == m).count();
        format!(
            "{} scenarios, {n} scenario × design cells: {} as expected, {} mismatched, {} incomplete",
            self.programs.len(),
            count(Match::Expected),
            count(Match::Mismatch),
            count(Match::Incomplete)
        )
    }

    fn text(&self, stats: bool, elapsed: Duration) {
        fn cost_text(c: &biopin::Cost) -> String {
            let per = c
                .per_page()
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
            format!(
                "cost: {} page-reference operations for {} pages of I/O ({per} per page)",
                c.ref_ops, c.io_pages
            )
        }
        let width = self
            .cells()
            .map(|c| c.design.canonical().len())
            .max()
            .unwrap_or(0);
        for ((file, program), cells) in self.programs.iter().zip(self.results) {
            outln!("{}: {}", file.display(), program.name);
            for cell in cells {
                let d = cell.design.canonical();
                outln!(
                    "  {d:<width$}  {:<40} {}",
                    verdict_text(&cell.verdict),
                    match_text(cell)
                );
                if stats {
                    let s = &cell.stats;
                    outln!(
                        "  {:<width$}  states={} unique={} depth={} ends={}",
                        "",
                        s.states,
                        s.unique,
                        s.max_depth,
                        s.ends
                    );
                    outln!("  {:<width$}  {}", "", cost_text(&cell.cost));
                    eprintln!(
                        "{}: {d}: secs={:.6} states/s={:.0}",
                        program.name,
                        secs(s.elapsed),
                        s.states_per_sec()
                    );
                }
                for f in &cell.found {
                    let n = f.schedule.len();
                    let at = if f.at_end {
                        format!("at the end of {n} steps")
                    } else {
                        format!("at step {n}")
                    };
                    outln!(
                        "  {:<width$}    {} {at}: biopin replay {} {}",
                        "",
                        f.id,
                        file.display(),
                        f.token
                    );
                }
            }
        }
        if stats {
            outln!("totals by design:");
            let designs = self.designs();
            for d in designs {
                let (mut states, mut unique, mut time) = (0u64, 0u64, Duration::ZERO);
                for c in self.cells().filter(|c| c.design == d) {
                    states += c.stats.states;
                    unique += c.stats.unique;
                    time += c.stats.elapsed;
                }
                outln!(
                    "  {:<width$}  states={states} unique={unique}",
                    d.canonical()
                );
                let rate = if time.is_zero() {
                    0.0
                } else {
                    states as f64 / secs(time)
                };
                eprintln!(
                    "{}: secs={:.6} states/s={rate:.0}",
                    d.canonical(),
                    secs(time)
                );
            }
        }
        outln!("{}", self.summary());
        if stats {
            eprintln!("wall time: {:.3} s", secs(elapsed));
        }
    }

    fn json(&self, elapsed: Duration) {
        #[derive(Serialize)]
        struct Json<'a> {
            format: u32,
            biopin: &'static str,
            scenarios: Vec<JsonScenario<'a>>,
            summary: JsonSummary,
            timing: JsonTiming,
        }
        #[derive(Serialize)]
        struct JsonScenario<'a> {
            file: String,
            name: &'a str,
            summary: &'a str,
            selftest: &'a [String],
            cells: Vec<JsonCell>,
        }
        #[derive(Serialize)]
        struct JsonCell {
            design: String,
            verdict: Vec<&'static str>,
            expected: Vec<&'static str>,
            r#match: &'static str,
            complete: bool,
            bound: Option<&'static str>,
            stats: JsonStats,
            cost: JsonCost,
            violations: Vec<JsonFound>,
            timing: JsonTiming,
        }
        #[derive(Serialize)]
        struct JsonCost {
            ref_ops: u64,
            io_pages: u64,
        }
        #[derive(Serialize)]
        struct JsonStats {
            states: u64,
            unique: u64,
            max_depth: u32,
            ends: u64,
        }
        #[derive(Serialize)]
        struct JsonFound {
            id: &'static str,
            steps: usize,
            at_end: bool,
            token: String,
        }
        #[derive(Serialize)]
        struct JsonTiming {
            secs: f64,
            states_per_sec: f64,
        }
        #[derive(Serialize)]
        struct JsonSummary {
            scenarios: usize,
            cells: usize,
            expected: usize,
            mismatched: usize,
            incomplete: usize,
        }
        let ids = |v: &biopin::Verdict| v.iter().map(|i| i.id()).collect::<Vec<_>>();
        let count = |m| self.cells().filter(|c| c.matches() == m).count();
        let total_states: u64 = self.cells().map(|c| c.stats.states).sum();
        let json = Json {
            format: 1,
            biopin: env!("CARGO_PKG_VERSION"),
            scenarios: self
                .programs
                .iter()
                .zip(self.results)
                .map(|((file, p), cells)| JsonScenario {
                    file: file.display().to_string(),
                    name: &p.name,
                    summary: &p.summary,
                    selftest: &p.selftest,
                    cells: cells
                        .iter()
                        .map(|c| JsonCell {
                            design: c.design.canonical(),
                            verdict: ids(&c.verdict),
                            expected: ids(&c.expected),
                            r#match: match c.matches() {
                                Match::Expected => "expected",
                                Match::Mismatch => "mismatch",
                                Match::Incomplete => "incomplete",
                            },
                            complete: c.outcome == Outcome::Complete,
                            bound: match c.outcome {
                                Outcome::Complete => None,
                                Outcome::Incomplete(b) => Some(b),
                            },
                            stats: JsonStats {
                                states: c.stats.states,
                                unique: c.stats.unique,
                                max_depth: c.stats.max_depth,
                                ends: c.stats.ends,
                            },
                            cost: JsonCost {
                                ref_ops: c.cost.ref_ops,
                                io_pages: c.cost.io_pages,
                            },
                            violations: c
                                .found
                                .iter()
                                .map(|f| JsonFound {
                                    id: f.id.id(),
                                    steps: f.schedule.len(),
                                    at_end: f.at_end,
                                    token: f.token.clone(),
                                })
                                .collect(),
                            timing: JsonTiming {
                                secs: secs(c.stats.elapsed),
                                states_per_sec: c.stats.states_per_sec(),
                            },
                        })
                        .collect(),
                })
                .collect(),
            summary: JsonSummary {
                scenarios: self.programs.len(),
                cells: self.cells().count(),
                expected: count(Match::Expected),
                mismatched: count(Match::Mismatch),
                incomplete: count(Match::Incomplete),
            },
            timing: JsonTiming {
                secs: secs(elapsed),
                states_per_sec: if elapsed.is_zero() {
                    0.0
                } else {
                    total_states as f64 / secs(elapsed)
                },
            },
        };
        outln!(
            "{}",
            serde_json::to_string_pretty(&json).expect("the report serialises")
        );
    }

    fn markdown(&self) {
        let designs = self.designs();
        let header: Vec<String> = designs.iter().map(|d| format!("`{d}`")).collect();
        outln!("| scenario | {} |", header.join(" | "));
        outln!("|---|{}", "---|".repeat(designs.len()));
        for ((_, program), cells) in self.programs.iter().zip(self.results) {
            let row: Vec<String> = designs
                .iter()
                .map(|d| match cells.iter().find(|c| c.design == *d) {
                    None => String::new(),
                    Some(c) => {
                        let mark = match c.matches() {
                            Match::Expected => "",
                            Match::Mismatch => " ✗",
                            Match::Incomplete => " …",
                        };
                        format!("{}{mark}", verdict_text(&c.verdict))
                    }
                })
                .collect();
            outln!("| {} | {} |", program.name, row.join(" | "));
        }
        outln!();
        outln!("{}", self.summary());
    }
}
