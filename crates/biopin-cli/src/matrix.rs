//! `biopin matrix`: scenarios down, designs across, each cell what breaks; the cost of each
//! design's I/O as footer rows.

use std::path::PathBuf;

use biopin::scenario::verdict_text;
use biopin::{Cell, Design, Match};
use serde::Serialize;

use crate::out::outln;
use crate::run::{JsonSummary, JsonVerdict, Run, RunArgs, verdict_cell};

/// How `matrix` reports.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum MatrixFormat {
    /// Aligned columns for a terminal.
    Text,
    /// A markdown table, aligned so that it also reads as plain text (a mail, a commit).
    Markdown,
    /// JSON (docs/json.md).
    Json,
    /// One self-contained HTML file: the matrix and a timeline of each violation.
    Html,
}

/// `biopin matrix`'s arguments.
#[derive(clap::Args)]
pub struct Options {
    /// Scenario files, or directories searched for *.toml [default: scenarios/]. The designs
    /// are the five presets unless --design names others.
    paths: Vec<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: MatrixFormat,
}

pub fn run(o: Options) -> u8 {
    let paths = if o.paths.is_empty() {
        let default = PathBuf::from("scenarios");
        if !default.is_dir() {
            eprintln!(
                "no scenarios/ directory here: run biopin matrix from the top of the repository, or name the scenario files or directories"
            );
            return crate::EXIT_BAD_INPUT;
        }
        vec![default]
    } else {
        o.paths
    };
    let mut args = o.run;
    args.default_to_presets();
    let run = match crate::run::run(&paths, &args) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match o.format {
        MatrixFormat::Text => text(&run),
        MatrixFormat::Markdown => markdown(&run),
        MatrixFormat::Json => json(&run),
        MatrixFormat::Html => outln!("{}", crate::html::report(&run)),
    }
    run.exit_code()
}

/// A cell as the matrix shows it: the verdict, and a mismatch with its expectation.
pub fn cell_text(cell: Option<&Cell>) -> String {
    match cell {
        None => "·".into(),
        Some(c) => {
            let v = verdict_cell(c);
            match c.matches() {
                Match::Mismatch => {
                    format!("{v} (MISMATCH: expected {})", verdict_text(&c.expected))
                }
                Match::Expected | Match::Incomplete => v,
            }
        }
    }
}

/// The cost of a cell's least schedule: page-reference operations / pages of I/O.
pub fn cost_text(cell: Option<&Cell>) -> String {
    match cell {
        None => "·".into(),
        Some(c) => match c.cost.per_page() {
            None => format!("{} ops, no I/O", c.cost.ref_ops),
            Some(per) => format!("{}/{} = {per:.2}", c.cost.ref_ops, c.cost.io_pages),
        },
    }
}

/// One matrix row: a label and a cell per design.
pub struct Row {
    /// The row's label (a scenario's name, or a footer's).
    pub label: String,
    /// One text per design.
    pub cells: Vec<String>,
}

/// The matrix of a run: its columns, its scenario rows and its footer rows.
pub struct Matrix<'a> {
    /// The run.
    pub run: &'a Run,
    /// The columns.
    pub designs: Vec<Design>,
}

impl<'a> Matrix<'a> {
    pub fn new(run: &'a Run) -> Self {
        Matrix {
            run,
            designs: run.designs(),
        }
    }

    /// Scenario `i`'s cell under `d`, if it ran there.
    pub fn cell(&self, i: usize, d: &Design) -> Option<&'a Cell> {
        self.run.results[i].iter().find(|c| c.design == *d)
    }

    /// One row per scenario.
    pub fn rows(&self) -> Vec<Row> {
        (0..self.run.programs.len())
            .map(|i| Row {
                label: self.run.programs[i].1.name.clone(),
                cells: self
                    .designs
                    .iter()
                    .map(|d| cell_text(self.cell(i, d)))
                    .collect(),
            })
            .collect()
    }

    /// The scenarios whose I/O costs differ between the matrix's designs: the figures that
    /// tell the designs apart.
    pub fn cost_scenarios(&self) -> Vec<usize> {
        (0..self.run.programs.len())
            .filter(|&i| {
                let cells = &self.run.results[i];
                cells.iter().any(|c| c.cost.io_pages > 0)
                    && cells.iter().any(|c| c.cost != cells[0].cost)
            })
            .collect()
    }

    /// The footer: how many scenarios break under each design, the cost of each scenario
    /// whose cost differs between designs, and the whole run's cost per page of I/O.
    pub fn footer(&self) -> Vec<Row> {
        let mut rows = vec![Row {
            label: "scenarios with a violation".into(),
            cells: self
                .designs
                .iter()
                .map(|d| {
                    let ran: Vec<&Cell> = self.run.cells().filter(|c| c.design == *d).collect();
                    let broken = ran.iter().filter(|c| !c.verdict.is_empty()).count();
                    format!("{broken} of {}", ran.len())
                })
                .collect(),
        }];
        for i in self.cost_scenarios() {
            rows.push(Row {
                label: format!("cost: {}", self.run.programs[i].1.name),
                cells: self
                    .designs
                    .iter()
                    .map(|d| cost_text(self.cell(i, d)))
                    .collect(),
            });
        }
        rows.push(Row {
            label: "cost: every scenario's I/O".into(),
            cells: self
                .designs
                .iter()
                .map(|d| {
                    let (ops, pages) = self
                        .run
                        .cells()
                        .filter(|c| c.design == *d)
                        .fold((0, 0), |(o, p), c| {
                            (o + c.cost.ref_ops, p + c.cost.io_pages)
                        });
                    if pages == 0 {
                        format!("{ops} ops, no I/O")
                    } else {
                        format!("{ops}/{pages} = {:.2}", ops as f64 / pages as f64)
                    }
                })
                .collect(),
        });
        rows
    }
}

/// What the matrix's cells and footer mean, for every format.
pub const LEGEND: &str = "Each cell: `ok`, or the invariants that some interleaving violates (MISMATCH marks a verdict that differs from the scenario's [expect]; `·` a design the scenario does not run). cost: page-reference operations (atomic _refcount and _pincount updates made for I/O) / pages of I/O, along the least schedule; the last row sums every scenario's, so its page totals differ where a design refuses, skips or bounces I/O.";

/// Pads each column to its widest cell.
fn aligned(header: &[String], rows: &[Vec<String>]) -> Vec<usize> {
    (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain(std::iter::once(header[c].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect()
}

fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(n)))
}

fn table(m: &Matrix<'_>) -> (Vec<String>, Vec<Vec<String>>, usize) {
    let header: Vec<String> = std::iter::once("scenario".to_owned())
        .chain(m.designs.iter().map(Design::canonical))
        .collect();
    let rows = m.rows();
    let footer = m.footer();
    let split = rows.len();
    let all: Vec<Vec<String>> = rows
        .into_iter()
        .chain(footer)
        .map(|r| std::iter::once(r.label).chain(r.cells).collect())
        .collect();
    (header, all, split)
}

fn text(run: &Run) {
    let m = Matrix::new(run);
    let (header, rows, split) = table(&m);
    let w = aligned(&header, &rows);
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(&w).map(|(c, &w)| pad(c, w)).collect();
        padded.join("  ").trim_end().to_owned()
    };
    outln!("{}", line(&header));
    let rule: Vec<String> = w.iter().map(|&w| "-".repeat(w)).collect();
    outln!("{}", line(&rule));
    for (i, r) in rows.iter().enumerate() {
        if i == split {
            outln!("{}", line(&rule));
        }
        outln!("{}", line(r));
    }
    outln!();
    outln!("{LEGEND}");
    outln!("{}", run.summary());
}

/// The matrix as a markdown table, each column padded to its widest cell so that the source
/// reads as a table too.
pub fn markdown(run: &Run) {
    let m = Matrix::new(run);
    let (header, rows, split) = table(&m);
    let header: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, h)| if i == 0 { h.clone() } else { format!("`{h}`") })
        .collect();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            if i >= split {
                let mut r = r;
                r[0] = format!("**{}**", r[0]);
                r
            } else {
                r
            }
        })
        .collect();
    let w = aligned(&header, &rows);
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(&w).map(|(c, &w)| pad(c, w)).collect();
        format!("| {} |", padded.join(" | "))
    };
    outln!("{}", line(&header));
    let rule: Vec<String> = w.iter().map(|&w| "-".repeat(w)).collect();
    outln!("{}", line(&rule));
    for r in &rows {
        outln!("{}", line(r));
    }
    outln!();
    outln!("{LEGEND}");
    outln!();
    outln!("{}", run.summary());
}

fn json(run: &Run) {
    #[derive(Serialize)]
    struct Json {
        format: u32,
        biopin: &'static str,
        designs: Vec<String>,
        scenarios: Vec<JsonRow>,
        violating: Vec<JsonCount>,
        costs: Vec<JsonCostRow>,
        summary: JsonSummary,
    }
    #[derive(Serialize)]
    struct JsonRow {
        file: String,
        name: String,
        cells: Vec<JsonCell>,
    }
    #[derive(Serialize)]
    struct JsonCell {
        #[serde(flatten)]
        verdict: JsonVerdict,
        ref_ops: u64,
        io_pages: u64,
    }
    #[derive(Serialize)]
    struct JsonCount {
        design: String,
        violating: usize,
        scenarios: usize,
    }
    #[derive(Serialize)]
    struct JsonCostRow {
        scenario: String,
        cells: Vec<JsonCost>,
    }
    #[derive(Serialize)]
    struct JsonCost {
        design: String,
        ref_ops: u64,
        io_pages: u64,
    }
    let m = Matrix::new(run);
    let json = Json {
        format: 1,
        biopin: env!("CARGO_PKG_VERSION"),
        designs: m.designs.iter().map(Design::canonical).collect(),
        scenarios: run
            .programs
            .iter()
            .zip(&run.results)
            .map(|((file, p), cells)| JsonRow {
                file: file.display().to_string(),
                name: p.name.clone(),
                cells: cells
                    .iter()
                    .map(|c| JsonCell {
                        verdict: JsonVerdict::of(c),
                        ref_ops: c.cost.ref_ops,
                        io_pages: c.cost.io_pages,
                    })
                    .collect(),
            })
            .collect(),
        violating: m
            .designs
            .iter()
            .map(|d| {
                let ran: Vec<&Cell> = run.cells().filter(|c| c.design == *d).collect();
                JsonCount {
                    design: d.canonical(),
                    violating: ran.iter().filter(|c| !c.verdict.is_empty()).count(),
                    scenarios: ran.len(),
                }
            })
            .collect(),
        costs: m
            .cost_scenarios()
            .into_iter()
            .map(|i| JsonCostRow {
                scenario: run.programs[i].1.name.clone(),
                cells: run.results[i]
                    .iter()
                    .map(|c| JsonCost {
                        design: c.design.canonical(),
                        ref_ops: c.cost.ref_ops,
                        io_pages: c.cost.io_pages,
                    })
                    .collect(),
            })
            .collect(),
        summary: run.json_summary(),
    };
    outln!(
        "{}",
        serde_json::to_string_pretty(&json).expect("the matrix serialises")
    );
}
