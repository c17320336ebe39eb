//! The kernel model on benchmark scenarios: exhaustive DFS over scenarios of growing size, and
//! one scenario on machines of growing RAM.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use biopin::{Design, Program, load_file};
use biopin_explore::{Bounds, Strategy};

/// The benchmark scenarios, smallest first (about 2·10^4, 10^6 and 10^7 generated states).
const SCENARIOS: [&str; 3] = ["three-actors", "four-actors", "five-actors"];

/// The scenario the frame-scaling figures run: big enough that setting up a 2^20-frame
/// machine is a small part of its time.
const FRAMES_SCENARIO: &str = "four-actors";

/// The machine sizes of the frame-scaling figures.
const FRAMES: [u32; 4] = [64, 4096, 65536, 1 << 20];

/// The design every figure runs under.
const DESIGN: &str = "linux-6.5";

fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"))
}

fn load(name: &str) -> Program {
    load_file(&scenario_path(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn design() -> Design {
    Design::parse(DESIGN).expect("a preset")
}

/// One exhaustive DFS of `program`: the cell, checked to be violation-free, and its seconds.
fn run(program: &Program) -> (biopin::Cell, f64) {
    let (cell, secs) =
        crate::timed(|| biopin::check(program, design(), Strategy::Dfs, Bounds::NONE, &mut |_| {}));
    assert!(
        cell.verdict.is_empty(),
        "{}: a benchmark scenario must be violation-free, got {:?}",
        program.name,
        cell.verdict
    );
    (cell, secs)
}

/// One line per benchmark scenario, the median of `runs`.
pub fn scenarios(runs: u32) -> Vec<String> {
    SCENARIOS
        .iter()
        .map(|name| {
            let program = load(name);
            let mut secs = Vec::new();
            let mut last = None;
            for _ in 0..runs {
                let (cell, s) = run(&program);
                secs.push(s);
                last = Some(cell.stats);
            }
            let stats = last.expect("at least one run");
            let secs = crate::median(&mut secs);
            format!(
                "scenario={name} design={DESIGN} states={} unique={} depth={} secs={secs:.3} states_per_s={:.0}",
                stats.states,
                stats.unique,
                stats.max_depth,
                stats.states as f64 / secs
            )
        })
        .collect()
}

/// The frame-scaling lines: one per machine size, each from a process of its own (this program
/// started again to run [`frames_child`]), then the ratio of the largest to the smallest.
pub fn frames(runs: u32) -> Result<Vec<String>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    let mut per_state = Vec::new();
    for frames in FRAMES {
        let out = Command::new(&exe)
            .args(["frames", &frames.to_string(), &runs.to_string()])
            .output()
            .map_err(|e| format!("frames={frames}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "frames={frames}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let ns: f64 = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("ns_per_state="))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("frames={frames}: no ns_per_state in `{line}`"))?;
        per_state.push(ns);
        lines.push(line);
    }
    lines.push(format!(
        "frames_scaling largest={} smallest={} ratio={:.2}",
        FRAMES[FRAMES.len() - 1],
        FRAMES[0],
        per_state[per_state.len() - 1] / per_state[0]
    ));
    Ok(lines)
}

/// The frame-scaling run: [`FRAMES_SCENARIO`] on a machine of `frames` frames, `runs` times,
/// then the median time per generated state and this process's peak resident memory.
pub fn frames_child(frames: u32, runs: u32) -> ExitCode {
    let mut program = load(FRAMES_SCENARIO);
    program.machine.frames = frames;
    let mut secs = Vec::new();
    let mut states = 0;
    for _ in 0..runs {
        let (cell, s) = run(&program);
        secs.push(s);
        states = cell.stats.states;
    }
    let secs = crate::median(&mut secs);
    let peak = match peak_rss_mb() {
        Some(mb) => format!("{mb:.1}"),
        None => "unknown".into(),
    };
    println!(
        "frames={frames} scenario={FRAMES_SCENARIO} states={states} ns_per_state={:.1} peak_rss_mb={peak}",
        secs * 1e9 / states as f64
    );
    ExitCode::SUCCESS
}

/// `VmHWM` of /proc/self/status, in MiB (Linux only).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
