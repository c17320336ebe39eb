//! biopin's benchmarks, one summary line per figure (`key=value`, space-separated), so that
//! figures compare across commits and machines:
//!
//! - `toy`: the toy model explored by stateright's single-thread DFS and by biopin-explore, in
//!   the same run, interleaved, median of `--runs`; `ratio` is biopin-explore ÷ stateright in
//!   unique states per second.
//! - `scenario=`: the kernel model on benchmark scenarios of growing size (about 10^4 to 10^7
//!   generated states), exhaustive DFS, median of `--runs`.
//! - `frames=`: one scenario on machines of 64 to 2^20 frames, each in its own process so that
//!   its peak memory is its own: a step should cost what it touches, not the machine.
//! - `primitive`: pinning then unpinning 2^21 small pages through the model's batch GUP
//!   primitives, against a raw `wrapping_add(1024)` / `wrapping_sub(1024)` pass over a
//!   `Vec<i32>` of 2^21; and the same per subpage on large folios.
//! - `dio`: what one O_DIRECT read of 1, 16 and 256 pages costs each design in atomic updates
//!   of `_refcount` and `_pincount` (the cost line of `biopin check --stats`), into small
//!   pages and into one large folio, and how long the model takes to run it.
//!
//! Run it as `cargo run --release -p biopin-bench`. Absolute figures vary by machine; the
//! ratios, measured in one run, are what to compare.
#![forbid(unsafe_code)]

mod io;
mod kernel;
mod primitive;
mod toy;

use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "biopin-bench",
    about = "biopin's benchmarks: one line per figure"
)]
struct Args {
    /// Only these groups of figures (default: all).
    #[arg(long, value_enum)]
    only: Vec<Group>,
    /// Runs per figure; the median is printed.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=99))]
    runs: u32,
    #[command(subcommand)]
    child: Option<Child>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Group {
    Toy,
    Scenarios,
    Frames,
    Primitive,
    Dio,
}

#[derive(Subcommand)]
enum Child {
    /// One frame-scaling run, in a process of its own (the parent starts it).
    #[command(hide = true)]
    Frames {
        /// Frames of RAM.
        frames: u32,
        /// Runs; the median is printed.
        runs: u32,
    },
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs `f` and returns its result and the seconds it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(Child::Frames { frames, runs }) = args.child {
        return kernel::frames_child(frames, runs);
    }
    let all = args.only.is_empty();
    let wants = |g: Group| all || args.only.contains(&g);
    if wants(Group::Toy) {
        for k in [2, 3, 5] {
            println!("{}", toy::bench(k, args.runs));
        }
    }
    if wants(Group::Scenarios) {
        for line in kernel::scenarios(args.runs) {
            println!("{line}");
        }
    }
    if wants(Group::Frames) {
        match kernel::frames(args.runs) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    if wants(Group::Primitive) {
        for line in primitive::bench(args.runs) {
            println!("{line}");
        }
    }
    if wants(Group::Dio) {
        for line in io::bench(args.runs) {
            println!("{line}");
        }
    }
    std::process::ExitCode::SUCCESS
}
