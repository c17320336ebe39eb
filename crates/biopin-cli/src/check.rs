//! `biopin check`: every scenario under every design it asks for, compared with `[expect]`.

use std::path::PathBuf;
use std::time::Duration;

use biopin::scenario::verdict_text;
use biopin::{Cell, Match, Program};
use biopin_explore::Outcome;
use serde::Serialize;

use crate::Format;
use crate::out::outln;
use crate::run::{JsonSummary, JsonVerdict, Run, RunArgs, verdict_cell};

/// `biopin check`'s arguments.
#[derive(clap::Args)]
pub struct Options {
    /// Scenario files, or directories searched for *.toml.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
    /// Output format (JSON is documented in docs/json.md).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Print exploration statistics and costs (timing goes to stderr).
    #[arg(long)]
    stats: bool,
}

pub fn run(o: Options) -> u8 {
    let run = match crate::run::run(&o.paths, &o.run) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let report = Report { run: &run };
    match o.format {
        Format::Text => report.text(o.stats, run.elapsed),
        Format::Json => report.json(run.elapsed),
        Format::Markdown => crate::matrix::markdown(&run),
    }
    run.exit_code()
}

struct Report<'a> {
    run: &'a Run,
}

fn match_text(program: &Program, cell: &Cell) -> String {
    match (cell.matches(), cell.outcome) {
        (Match::Expected, _) => "as expected".into(),
        (Match::Mismatch, _) if !program.expects(&cell.design) => {
            "MISMATCH: expected ok (the scenario's [expect] does not name this design)".into()
        }
        (Match::Mismatch, _) => format!("MISMATCH: expected {}", verdict_text(&cell.expected)),
        (Match::Incomplete, Outcome::Incomplete(bound)) => format!(
            "stopped by {bound}; expected {}",
            verdict_text(&cell.expected)
        ),
        (Match::Incomplete, Outcome::Complete) => {
            unreachable!("a complete run is never incomplete")
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Report<'_> {
    fn cells(&self) -> impl Iterator<Item = &Cell> + Clone {
        self.run.cells()
    }

    fn text(&self, stats: bool, elapsed: Duration) {
        fn cost_text(c: &biopin::Cost) -> String {
            let ops = crate::run::plural(c.ref_ops, "page-reference operation");
            match c.per_page() {
                None => format!("cost: {ops}, no I/O"),
                Some(per) => format!(
                    "cost: {ops} for {} of I/O ({per:.2} per page)",
                    crate::run::plural(c.io_pages, "page")
                ),
            }
        }
        // Columns are aligned within each scenario's block. A design name longer than
        // `LONG` goes on a line of its own, its verdict on the next, so that one long override
        // does not push every other row to the right.
        const LONG: usize = 28;
        for ((file, program), cells) in self.run.programs.iter().zip(&self.run.results) {
            outln!("{}: {}", file.display(), program.name);
            let width = cells
                .iter()
                .map(|c| c.design.canonical().len())
                .filter(|&n| n <= LONG)
                .max()
                .unwrap_or(LONG);
            let vwidth = cells
                .iter()
                .map(|c| verdict_cell(c).chars().count())
                .max()
                .unwrap_or(0);
            for cell in cells {
                let d = cell.design.canonical();
                let verdict = verdict_cell(cell);
                let line = format!("{verdict:<vwidth$}  {}", match_text(program, cell));
                if d.len() > width {
                    outln!("  {d}");
                    outln!("  {:<width$}  {line}", "");
                } else {
                    outln!("  {d:<width$}  {line}");
                }
                for note in program.anachronisms(&cell.design) {
                    outln!("  {:<width$}    note: {note}", "");
                }
                // Unexpected errnos and skipped ops raise nothing, but the checks after them
                // may never run: say so, from the least schedule.
                const SHOWN: usize = 3;
                for f in cell.failures.iter().take(SHOWN) {
                    outln!("  {:<width$}    note: on the least schedule, {f}", "");
                }
                if cell.failures.len() > SHOWN {
                    outln!(
                        "  {:<width$}    note: and {} more (biopin trace shows them)",
                        "",
                        cell.failures.len() - SHOWN
                    );
                }
                if stats {
                    let s = &cell.stats;
                    outln!(
                        "  {:<width$}    states={} unique={} depth={} ends={}",
                        "",
                        s.states,
                        s.unique,
                        s.max_depth,
                        s.ends
                    );
                    outln!("  {:<width$}    {}", "", cost_text(&cell.cost));
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
            for d in self.run.designs() {
                let (mut states, mut unique, mut time) = (0u64, 0u64, Duration::ZERO);
                for c in self.cells().filter(|c| c.design == d) {
                    states += c.stats.states;
                    unique += c.stats.unique;
                    time += c.stats.elapsed;
                }
                outln!("  {}  states={states} unique={unique}", d.canonical());
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
        outln!("{}", self.run.summary());
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
            cells: Vec<JsonCell<'a>>,
        }
        #[derive(Serialize)]
        struct JsonCell<'a> {
            #[serde(flatten)]
            verdict: JsonVerdict,
            bound: Option<&'static str>,
            stats: JsonStats,
            cost: JsonCost,
            failures: &'a [String],
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
        let total_states: u64 = self.cells().map(|c| c.stats.states).sum();
        let json = Json {
            format: 1,
            biopin: env!("CARGO_PKG_VERSION"),
            scenarios: self
                .run
                .programs
                .iter()
                .zip(&self.run.results)
                .map(|((file, p), cells)| JsonScenario {
                    file: file.display().to_string(),
                    name: &p.name,
                    summary: &p.summary,
                    selftest: &p.selftest,
                    cells: cells
                        .iter()
                        .map(|c| JsonCell {
                            verdict: JsonVerdict::of(c),
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
                            failures: &c.failures,
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
            summary: self.run.json_summary(),
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
}
