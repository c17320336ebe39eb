//! `biopin`: check scenarios under each design, replay counterexamples, list designs, explain
//! scenarios (docs/design.md, The command).

mod check;
mod describe;
mod out;

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

/// `check --strategy`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum StrategyArg {
    /// Exhaustive depth-first search with fingerprints.
    Dfs,
    /// Exhaustive breadth-first search: shortest counterexamples.
    Bfs,
}

#[derive(Subcommand)]
enum Command {
    /// Check scenarios under each design and compare with their [expect] tables.
    Check(check::Options),
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(options) => check::run(options),
        Command::Replay { file, token } => describe::replay(&file, &token),
        Command::Designs => describe::designs(),
        Command::Explain { file } => describe::explain(&file),
    };
    ExitCode::from(code)
}
