//! `biopin`: check scenarios under each design, print the matrix of what breaks where, follow
//! a path step by step, replay counterexamples, list designs, explain scenarios
//! (docs/design.md, The command).

mod check;
mod describe;
mod html;
mod matrix;
mod out;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit status: everything as expected.
const EXIT_OK: u8 = 0;
/// Exit status: some cell's verdict differs from its expectation.
const EXIT_MISMATCH: u8 = 1;
/// Exit status: bad input (a scenario, a design, a token); nothing ran.
const EXIT_BAD_INPUT: u8 = 2;
/// Exit status: some run hit a bound before it was exhaustive.
const EXIT_INCOMPLETE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "biopin",
    version,
    about = "Which design for tracking I/O page references prevents which kernel bug: an executable, model-checked model."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How `check` reports.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Subcommand)]
enum Command {
    /// Check scenarios under each design and compare with their [expect] tables.
    Check(check::Options),
    /// Scenarios down, designs across: what breaks where, and what each design's I/O costs.
    Matrix(matrix::Options),
    /// Print one complete path step by step: the least schedule, or the one given.
    Trace {
        /// The scenario file.
        file: PathBuf,
        /// The design to run it under.
        #[arg(long)]
        design: String,
        /// The steps to take: comma-separated actor names, and `dev:K` for the K-th pending
        /// device step (from 1); after them the least schedule runs to the end of the path.
        #[arg(long)]
        schedule: Option<String>,
    },
    /// Re-run a counterexample from its token, printing every step and what it changed.
    Replay {
        /// The scenario file the token was made for.
        file: PathBuf,
        /// The token `biopin check` printed.
        token: String,
    },
    /// List the design presets and knobs.
    Designs,
    /// Show a scenario's ops expanded into steps, and what is expected of it.
    Explain {
        /// The scenario file.
        file: PathBuf,
        /// Describe each step as this design runs it (the kernel functions of its era).
        #[arg(long)]
        design: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(options) => check::run(options),
        Command::Matrix(options) => matrix::run(options),
        Command::Trace {
            file,
            design,
            schedule,
        } => describe::trace(&file, &design, schedule.as_deref()),
        Command::Replay { file, token } => describe::replay(&file, &token),
        Command::Designs => describe::designs(),
        Command::Explain { file, design } => describe::explain(&file, design.as_deref()),
    };
    ExitCode::from(code)
}
