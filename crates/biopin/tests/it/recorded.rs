//! What the explorer found, recorded and compared on every run: for the shipped suite and two
//! benchmark scenarios, under every design each checks, with DFS and with BFS, the generated,
//! unique and end-state counts, the depth, the verdict, and each violation's shortest schedule
//! and token; and the replay of every token of `scenarios/gup`. They were first recorded before
//! the world moved to incrementally fingerprinted tables, and must not change unless a change
//! means them to: such a change re-records them with
//! `BIOPIN_RECORD=1 cargo test -p biopin --test it recorded` and says why in its commit.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use biopin::trace::replay_token;
use biopin::{Design, load_file};
use biopin_explore::{Bounds, Strategy};

use crate::shipped::shipped;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files recorded, by their path from the repository's root.
fn files() -> Vec<(String, PathBuf)> {
    let root = root();
    let mut files: Vec<PathBuf> = shipped();
    for name in ["three-actors", "four-actors"] {
        files.push(root.join(format!("crates/biopin-bench/scenarios/{name}.toml")));
    }
    files
        .into_iter()
        .map(|f| {
            let canonical = f.canonicalize().unwrap();
            let relative = canonical
                .strip_prefix(root.canonicalize().unwrap())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (relative, f)
        })
        .collect()
}

fn counts() -> String {
    let mut out = String::new();
    for (strategy, name) in [(Strategy::Dfs, "dfs"), (Strategy::Bfs, "bfs")] {
        for (relative, file) in files() {
            let program = load_file(&file).unwrap();
            for &design in &program.designs {
                let cell = biopin::check(&program, design, strategy, Bounds::NONE, &mut |_| {});
                let s = cell.stats;
                let verdict: Vec<&str> = cell.verdict.iter().map(|i| i.id()).collect();
                let verdict = if verdict.is_empty() {
                    "ok".to_owned()
                } else {
                    verdict.join(",")
                };
                write!(
                    out,
                    "{relative} {design} {name} states={} unique={} depth={} ends={} verdict={verdict}",
                    s.states, s.unique, s.max_depth, s.ends
                )
                .unwrap();
                for f in &cell.found {
                    let at = if f.at_end { "end" } else { "step" };
                    write!(out, " {}:{}:{at}:{}", f.id, f.schedule.len(), f.token).unwrap();
                }
                out.push('\n');
            }
        }
    }
    out
}

/// Replays of the suite the representation change was checked on (`scenarios/gup`): the
/// later scenarios' replays are checked by `shipped` (each reproduces its violation).
fn replays() -> String {
    let mut out = String::new();
    for (relative, file) in files() {
        if !relative.starts_with("scenarios/gup/") {
            continue;
        }
        let program = load_file(&file).unwrap();
        for &design in &program.designs {
            let cell = biopin::check(&program, design, Strategy::Dfs, Bounds::NONE, &mut |_| {});
            for f in cell.found {
                let trace = replay_token(&program, &f.token).unwrap();
                writeln!(out, "=== {relative} {}\n{trace}", f.token).unwrap();
            }
        }
    }
    out
}

/// Compares `now` with the recording `name`, or records it under `BIOPIN_RECORD=1`.
fn compare(name: &str, now: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/recorded")
        .join(name);
    if std::env::var_os("BIOPIN_RECORD").is_some() {
        std::fs::write(&path, now).unwrap();
        return;
    }
    let recorded = std::fs::read_to_string(&path).unwrap();
    for (i, (a, b)) in recorded.lines().zip(now.lines()).enumerate() {
        assert_eq!(a, b, "{name}, line {}: recorded first, now second", i + 1);
    }
    assert_eq!(
        recorded.lines().count(),
        now.lines().count(),
        "{name}: a different number of lines"
    );
}

#[test]
fn counts_verdicts_shortest_paths_and_tokens_are_as_recorded() {
    let now = counts();
    assert!(
        now.lines().count() >= 2 * (Design::all().len() * 2 + 90),
        "too few cells"
    );
    compare("counts.txt", &now);
}

#[test]
fn replays_are_as_recorded() {
    compare("replays.txt", &replays());
}
