//! The `biopin` command end to end: exit statuses (docs/design.md, The command), errors, output formats,
//! replay.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn biopin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_biopin"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("biopin runs")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

const APP: &str =
    "[[process]]\nname = \"app\"\n[[process.vma]]\nname = \"buf\"\nkind = \"anon\"\npages = 2\n";

/// Writes a scenario into a fresh directory and returns its path.
fn scenario(dir: &tempfile::TempDir, name: &str, text: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn the_shipped_suite_passes_and_its_output_is_deterministic() {
    let a = biopin(&["check", "scenarios/"]);
    assert_eq!(a.status.code(), Some(0), "{}{}", stdout(&a), stderr(&a));
    let out = stdout(&a);
    assert!(out.contains("0 mismatched, 0 incomplete"), "{out}");
    let b = biopin(&["check", "scenarios/"]);
    assert_eq!(out, stdout(&b), "two runs differ");
}

#[test]
fn a_mismatch_exits_1_and_a_bound_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = scenario(&dir, "wrong.toml", format!("{APP}[[actor]]\nname = \"a\"\nops = [\"pin app:buf[0] as h\"]\n[expect]\n\"linux-6.5\" = \"ok\"\n").as_bytes());
    let o = biopin(&["check", &wrong, "--design", "linux-6.5"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("MISMATCH: expected ok"),
        "{}",
        stdout(&o)
    );
    let racy = scenario(&dir, "racy.toml", format!("{APP}[[actor]]\nname = \"a\"\nops = [\"store app:buf[0] 1\", \"store app:buf[1] 2\"]\n[[actor]]\nname = \"b\"\nops = [\"load app:buf[0]\", \"load app:buf[1]\"]\n").as_bytes());
    let o = biopin(&["check", &racy, "--max-states", "3"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    // An incomplete cell says so first, with the states explored and what it found so far;
    // it never reads as `ok`, even when it expects a violation.
    for line in stdout(&o).lines().filter(|l| l.contains("max-states")) {
        let verdict = line.split_whitespace().nth(1).unwrap();
        assert_eq!(verdict, "incomplete", "{line}");
        assert!(
            line.contains("after 3 states: found nothing so far"),
            "{line}"
        );
    }
    // The bound counts unique states exactly: a space of U states is complete under
    // --max-states U and stopped at U - 1 under U - 1.
    let full = stdout(&biopin(&[
        "check",
        &racy,
        "--design",
        "linux-6.5",
        "--stats",
    ]));
    let unique: u64 = full
        .split("unique=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let at = |n: u64| {
        biopin(&[
            "check",
            &racy,
            "--design",
            "linux-6.5",
            "--max-states",
            &n.to_string(),
        ])
    };
    assert_eq!(at(unique).status.code(), Some(0), "{unique} states");
    let short = at(unique - 1);
    assert_eq!(short.status.code(), Some(3));
    assert!(stdout(&short).contains(&format!("after {} states", unique - 1)));
    assert_eq!(
        biopin(&["check", &racy, "--max-states", "0"]).status.code(),
        Some(2)
    );
    let expects = biopin(&[
        "check",
        "scenarios/gup/double-unpin.toml",
        "--design",
        "linux-6.5",
        "--max-states",
        "3",
    ]);
    assert_eq!(expects.status.code(), Some(3), "{}", stdout(&expects));
    let out = stdout(&expects);
    let line = out.lines().nth(1).unwrap();
    assert!(
        line.starts_with("  linux-6.5  incomplete after") && !line.contains(" ok "),
        "{out}"
    );
    assert!(line.contains("expected bad-release, leak"), "{out}");
    assert_eq!(biopin(&["check", &racy]).status.code(), Some(0));
}

#[test]
fn bad_inputs_exit_2_with_one_line_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let op = |op: &str| format!("{APP}[[actor]]\nname = \"a\"\nops = [\"{op}\"]\n").into_bytes();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("syntax.toml", b"[machine\nframes = 4\n".to_vec(), ":1:"),
        ("verb.toml", op("frobnicate app:buf[0]"), ":9:9:"),
        ("handle.toml", op("put nobody"), ":9:13:"),
        ("kind.toml", b"[[process]]\nname = \"p\"\n[[process.vma]]\nname = \"v\"\nkind = \"heap\"\npages = 1\n".to_vec(), ":5:8:"),
        ("file.toml", b"[[process]]\nname = \"p\"\n[[process.vma]]\nname = \"v\"\nkind = \"shared\"\nfile = \"nofile\"\npages = 1\n".to_vec(), ":4:8:"),
        ("index.toml", op("store app:buf[2] 1"), ":9:22:"),
        ("value.toml", op("store app:buf[0] 0x100"), ":9:26:"),
        ("times.toml", op("pin app:buf[0] times 1099511627777 as h"), ":9:30:"),
        ("twice.toml", format!("{APP}[[actor]]\nname = \"a\"\nops = [\"pin app:buf[0] as h\", \"pin app:buf[1] as h\"]\n").into_bytes(), ":9:50:"),
        ("empty.toml", Vec::new(), ":1:1:"),
        ("latin1.toml", b"name = \"caf\xe9\"\n".to_vec(), ":1:12:"),
        ("frames.toml", b"[machine]\nframes = 10000000000\n".to_vec(), ":2:10:"),
    ];
    for (name, text, place) in cases {
        let path = scenario(&dir, name, &text);
        let o = biopin(&["check", &path]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(
            stdout(&o).is_empty(),
            "{name}: something ran: {}",
            stdout(&o)
        );
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.starts_with(&format!("{path}{place}")), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    // A missing file, a directory without scenarios, a bad design, a bad timeout.
    for args in [
        vec!["check", "no/such/file.toml"],
        vec!["check", dir.path().to_str().unwrap()],
        vec!["check", "scenarios/", "--design", "linux-6.5+cow=sometimes"],
        vec!["check", "scenarios/", "--timeout", "-1"],
    ] {
        let o = biopin(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stdout(&o).is_empty() && !stderr(&o).contains("panicked"),
            "{args:?}"
        );
    }
}

#[test]
fn every_bad_file_is_reported_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    scenario(&dir, "a.toml", b"[machine]\nframes = 0\n");
    scenario(&dir, "b.toml", b"[machine]\nmovable = -1\n");
    scenario(
        &dir,
        "c.toml",
        format!("{APP}[[actor]]\nname = \"a\"\nops = [\"store app:buf[0] 1\"]\n").as_bytes(),
    );
    let o = biopin(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 2, "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

fn first_token(out: &str) -> (String, String) {
    let line = out
        .lines()
        .find(|l| l.contains("biopin replay"))
        .expect("a token");
    let mut words = line.split_whitespace().rev();
    let token = words.next().unwrap().to_owned();
    let file = words.next().unwrap().to_owned();
    (file, token)
}

#[test]
fn replay_reproduces_a_reported_violation_and_refuses_bad_tokens() {
    let o = biopin(&[
        "check",
        "scenarios/gup/cve-2019-11487-refcount-overflow.toml",
        "--design",
        "linux-5.0",
    ]);
    let (file, token) = first_token(&stdout(&o));
    let r = biopin(&["replay", &file, &token]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let trace = stdout(&r);
    assert!(trace.contains("under linux-5.0"), "{trace}");
    assert!(trace.contains("!! use-after-free"), "{trace}");
    assert!(
        trace
            .trim_end()
            .ends_with("violations: use-after-free, refcount-overflow")
            || trace.contains("violations: use-after-free"),
        "{trace}"
    );

    let mut corrupt = token.clone();
    corrupt.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
    for (f, t, words) in [
        (file.as_str(), corrupt.as_str(), "checksum"),
        (file.as_str(), "hello", "not a biopin replay token"),
        (
            "scenarios/gup/double-unpin.toml",
            token.as_str(),
            "different version of the scenario",
        ),
    ] {
        let r = biopin(&["replay", f, t]);
        assert_eq!(r.status.code(), Some(2), "{t}");
        assert!(stderr(&r).contains(words), "{}", stderr(&r));
        assert!(stdout(&r).is_empty());
    }
}

#[test]
fn json_output_is_documented_and_stable() {
    let o = biopin(&[
        "check",
        "scenarios/gup/put-of-a-pin.toml",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["format"], 1);
    let cells = v["scenarios"][0]["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 5);
    let c = &cells[0];
    assert_eq!(c["design"], "linux-5.0");
    assert_eq!(c["verdict"], serde_json::json!(["bad-release", "leak"]));
    assert_eq!(c["expected"], c["verdict"]);
    assert_eq!(c["match"], "expected");
    assert_eq!(c["complete"], true);
    assert!(c["stats"]["states"].as_u64().unwrap() >= c["stats"]["unique"].as_u64().unwrap());
    assert!(c["timing"]["secs"].is_number());
    assert!(
        c["violations"][0]["token"]
            .as_str()
            .unwrap()
            .starts_with("bp")
    );
    assert_eq!(v["summary"]["mismatched"], 0);
}

#[test]
fn stats_go_to_stdout_and_timing_to_stderr() {
    let o = biopin(&["check", "scenarios/gup/", "--stats"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("states=") && !stdout(&o).contains("secs="));
    assert!(stderr(&o).contains("states/s=") && stderr(&o).contains("wall time"));
    let md = biopin(&[
        "check",
        "scenarios/gup/put-of-a-pin.toml",
        "--format",
        "markdown",
    ]);
    let md = stdout(&md);
    assert!(md.starts_with("| scenario "), "{md}");
    assert!(
        md.lines().nth(2).unwrap().starts_with("| put-of-a-pin ")
            && md.lines().next().unwrap().contains("| `linux-5.0` "),
        "{md}"
    );
}

#[test]
fn designs_and_explain_describe_what_will_run() {
    let o = biopin(&["designs"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    for row in [
        "linux-5.0    get  ref",
        "kara-2019    pin  all-pins",
        "linux-6.5    pin  pinned-flag",
    ] {
        assert!(out.contains(row), "{row}\n{out}");
    }
    // Every knob says how much of it is modelled.
    assert!(
        out.contains("writeback's test of maybe-DMA-pinned folios"),
        "{out}"
    );
    let o = biopin(&["explain", "scenarios/gup/gup-fast-races-munmap.toml"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("step 2: gup-fast: recheck"), "{out}");
    assert!(
        !out.contains("waits for"),
        "the handle is bound by the same actor: {out}"
    );
    let out = stdout(&biopin(&[
        "explain",
        "scenarios/gup/reference-outlives-munmap.toml",
    ]));
    assert!(
        out.contains("1. dma-write h 0xab  [waits for handle `h`]"),
        "{out}"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_biopin"))
        // More output than a pipe holds (64 KiB), so that some of it meets the closed pipe.
        .args([
            "check",
            "scenarios/",
            "scenarios/",
            "scenarios/",
            "scenarios/",
            "--design",
            "all",
        ])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: the rest of the output meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with("scenarios/"), "{first}");
    assert_eq!(out.status.code(), Some(141), "as SIGPIPE would");
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// Runs `biopin ARGS` with its standard output a pipe whose reader is closed before the
/// command starts, so that its first write meets a closed pipe. (Closing the reader after the
/// spawn would race with the command's writes, and with other tests' children inheriting it.)
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = os_pipe::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_biopin"))
        .args(args)
        .current_dir(root())
        .stdout(writer)
        .output()
        .unwrap()
}

#[test]
fn every_command_ends_quietly_when_its_reader_is_gone() {
    let out = stdout(&biopin(&[
        "check",
        "scenarios/gup/longterm-pin-leaves-zone-movable.toml",
        "--design",
        "linux-5.0",
    ]));
    let (file, token) = first_token(&out);
    let f = "scenarios/gup/longterm-pin-leaves-zone-movable.toml";
    for args in [
        vec!["replay", file.as_str(), token.as_str()],
        vec!["trace", f, "--design", "linux-6.5"],
        vec!["explain", f],
        vec!["designs"],
        vec!["matrix", "scenarios/gup", "--design", "all"],
        vec!["check", f],
    ] {
        let o = with_closed_stdout(&args);
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
        assert_eq!(o.status.code(), Some(141), "{args:?}: as SIGPIPE would");
    }
}

#[test]
fn the_readmes_cow_example_holds_and_an_unnamed_design_says_so() {
    // The README: `biopin check scenarios/cow --design linux-6.5+cow=refcount` shows which
    // cow.c cases a 5.10 kernel fails; every port names that design in its [expect].
    let o = biopin(&[
        "check",
        "scenarios/cow",
        "--design",
        "linux-6.5+cow=refcount",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // A design the file's [expect] does not name is expected ok, and the mismatch says why.
    let o = biopin(&[
        "check",
        "scenarios/gup/put-of-a-pin.toml",
        "--design",
        "linux-6.5+cow=refcount",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o)
            .contains("MISMATCH: expected ok (the scenario's [expect] does not name this design)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn design_takes_a_list_and_can_be_repeated() {
    let o = biopin(&[
        "check",
        "scenarios/gup/put-of-a-pin.toml",
        "--design",
        "linux-6.5,linux-5.0",
        "--design",
        "kara-2019",
        "--design",
        "linux-5.0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let designs: Vec<String> = stdout(&o)
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(designs, ["linux-6.5", "linux-5.0", "kara-2019"]);
    let o = biopin(&[
        "check",
        "scenarios/gup/put-of-a-pin.toml",
        "--design",
        "linux-6.5,,kara-2019",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("empty item"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

#[test]
fn columns_stay_aligned_with_many_ids_and_long_design_names() {
    let long = "linux-6.5+gup=get+bio_refs=ref+cow=pae-anon-only+longterm_file_write=allow+zero_page_pin=count";
    let designs = format!("linux-5.0,{long},kara-2019");
    let o = biopin(&[
        "check",
        "scenarios/gup/double-unpin-takes-another-pin.toml",
        "--design",
        &designs,
    ]);
    let out = stdout(&o);
    // Every match column ("as expected", or MISMATCH for the 6.1 design the scenario does not
    // list) starts in the same place, whatever the verdict's length.
    let columns: Vec<usize> = out
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.find("as expected").or_else(|| l.find("MISMATCH")))
        .collect();
    assert_eq!(columns.len(), 3, "{out}");
    assert!(columns.iter().all(|&c| c == columns[0]), "{out}");
    // The long name is on a line of its own and does not widen the others.
    assert!(out.lines().any(|l| l.trim() == long), "{out}");
    let short = out.lines().find(|l| l.starts_with("  linux-5.0")).unwrap();
    assert!(short.starts_with("  linux-5.0  use-after-free"), "{out}");
}

#[test]
fn trace_prints_a_complete_path_and_follows_a_schedule() {
    let f = "scenarios/gup/reference-outlives-munmap.toml";
    let least = biopin(&["trace", f, "--design", "linux-6.5"]);
    assert_eq!(least.status.code(), Some(0), "{}", stderr(&least));
    let out = stdout(&least);
    assert!(
        out.starts_with("reference-outlives-munmap under linux-6.5"),
        "{out}"
    );
    assert!(out.contains("end of path"), "a complete path: {out}");
    // The printed schedule names the same path.
    let schedule = out
        .lines()
        .find_map(|l| l.strip_prefix("schedule: "))
        .unwrap()
        .to_owned();
    let again = biopin(&["trace", f, "--design", "linux-6.5", "--schedule", &schedule]);
    assert_eq!(stdout(&again), out);
    // Another order: the nic waits for the handle, so the driver's steps come first either
    // way; naming the driver twice then the nic is a different path from the least one only
    // if the scenario allows it. A name that is no actor is refused, with the actors listed.
    let bad = biopin(&["trace", f, "--design", "linux-6.5", "--schedule", "nobody"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("item 1 (`nobody`)") && stderr(&bad).contains("the actors are"),
        "{}",
        stderr(&bad)
    );
    assert!(stdout(&bad).is_empty());
    let bad = biopin(&["trace", f, "--design", "linux-6.5", "--schedule", "dev:0"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("K = 1, 2"), "{}", stderr(&bad));
}

#[test]
fn trace_follows_dev_k_through_a_race() {
    // A4: a direct-I/O read into a private buffer while the parent forks and writes. The
    // schedule runs the DIO's submission, then the fork, then the device's transfer.
    let f = "scenarios/dio/odirect-read-races-fork-parent-writes.toml";
    let least = stdout(&biopin(&["trace", f, "--design", "linux-5.0"]));
    let schedule = least
        .lines()
        .find_map(|l| l.strip_prefix("schedule: "))
        .unwrap();
    assert!(schedule.contains("dev:1"), "{least}");
    let o = biopin(&["trace", f, "--design", "linux-5.0", "--schedule", schedule]);
    assert_eq!(stdout(&o), least);
}

#[test]
fn step_descriptions_come_from_what_the_design_did() {
    let f = "scenarios/gup/longterm-pin-leaves-zone-movable.toml";
    let old = stdout(&biopin(&["trace", f, "--design", "linux-5.0"]));
    assert!(
        !old.contains("migrate out of ZONE_MOVABLE (longterm_migrate = movable)"),
        "{old}"
    );
    assert!(old.contains("longterm_migrate = none"), "{old}");
    let new = stdout(&biopin(&["trace", f, "--design", "linux-6.5"]));
    assert!(
        new.contains("is unpinned, migrated to a normal frame and the pin retried"),
        "{new}"
    );
    // The load after the pin finds the page mapped: no fault.
    let load = new
        .lines()
        .skip_while(|l| !l.contains("] load app:buf[0] == 0x5a"))
        .nth(1)
        .unwrap();
    assert_eq!(
        load.trim(),
        "load through the mapped PTE (no fault)",
        "{new}"
    );
    // The first store faults, and the trace names the handler that ran.
    assert!(new.contains("handle_mm_fault on a missing PTE"), "{new}");
    assert!(
        new.contains("(do_anonymous_page (write): new anon folio at pfn"),
        "{new}"
    );
    // A COW copy says why the page was not reused, as each era decides.
    let cow = |d: &str| {
        stdout(&biopin(&[
            "trace",
            "scenarios/dio/odirect-read-races-fork-parent-writes.toml",
            "--design",
            d,
            "--schedule",
            "t1,t2,t2,t2",
        ]))
    };
    assert!(
        cow("linux-5.0").contains("do_wp_page: pfn 0 not reused: mapped 2 times (cow = mapcount)")
    );
    assert!(cow("linux-5.0").contains("no write_protect_seq before 5.11"));
    assert!(!cow("linux-5.0").contains("write_protect_seq 0 → 1"));
    assert!(cow("linux-6.5").contains("write_protect_seq 0 → 1"));
    // PageAnonExclusive did not exist in 5.0: its trace does not show the bit.
    assert!(!old.contains("PageAnonExclusive") && new.contains("PageAnonExclusive"));

    // A 2 MiB THP's 512 PTEs and subpages read as one line each, not 512.
    let thp = stdout(&biopin(&[
        "trace",
        "scenarios/cow/vmsplice-unmap-in-child-thp.toml",
        "--design",
        "linux-5.0",
    ]));
    assert!(
        thp.contains("app:mem[0–511]: PTE none → pfn 0–511 rw (×512)"),
        "{thp}"
    );
    assert!(thp.lines().count() < 100, "{thp}");

    // A large folio migrated by a long-term pin: the new folio's line has its _pincount.
    let dir = tempfile::tempdir().unwrap();
    let huge = scenario(
        &dir,
        "huge.toml",
        b"designs = [\"linux-6.5\"]\n[machine]\nframes = 16\nmovable = 8\n[[process]]\nname = \"app\"\n[[process.vma]]\nname = \"buf\"\nkind = \"anon\"\npages = 4\nhuge = true\n[[actor]]\nname = \"a\"\nops = [\"store app:buf[0] 1\", \"assert zone app:buf[0] movable\", \"pin app:buf[0..4] write longterm as h\", \"unpin h\"]\n",
    );
    let o = biopin(&["trace", &huge, "--design", "linux-6.5"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}{out}", stderr(&o));
    assert!(
        out.lines()
            .any(|l| l.contains("(normal): allocated, order 2") && l.contains("_pincount 4")),
        "{out}"
    );
}

#[test]
fn a_printed_replay_command_runs_once_installed() {
    // The README installs the command with `cargo install --path crates/biopin-cli`: the
    // package there builds a binary called `biopin`.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("cargo install --path crates/biopin-cli"));
    let manifest = std::fs::read_to_string(root().join("crates/biopin-cli/Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"biopin\""));
    // A line `check` prints runs as pasted, `biopin` being the installed binary.
    let out = stdout(&biopin(&["check", "scenarios/gup/double-unpin.toml"]));
    let line = out.lines().find(|l| l.contains("biopin replay")).unwrap();
    let command = &line[line.find("biopin replay").unwrap()..];
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "biopin");
    let r = biopin(&words[1..]);
    assert_eq!(r.status.code(), Some(0), "{command}: {}", stderr(&r));
    assert!(stdout(&r).contains("<== bad-release"), "{}", stdout(&r));
}

#[test]
fn numbers_out_of_range_name_the_range_not_the_parser() {
    let dir = tempfile::tempdir().unwrap();
    let frames = scenario(
        &dir,
        "frames.toml",
        format!("[machine]\nframes = 99999999999999999999\n{APP}[[actor]]\nname = \"a\"\nops = [\"load app:buf[0]\"]\n").as_bytes(),
    );
    let index = scenario(
        &dir,
        "index.toml",
        format!("{APP}[[actor]]\nname = \"a\"\nops = [\"load app:buf[4294967296]\"]\n").as_bytes(),
    );
    for (file, want) in [
        (
            &frames,
            "frames = 99999999999999999999 is out of range: 1..=2097152",
        ),
        (&index, "page 4294967296 is out of range"),
    ] {
        let o = biopin(&["check", file]);
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert!(err.contains(want), "{err}");
        for internal in ["i128", "i64", "invalid type", "is not a page index"] {
            assert!(!err.contains(internal), "{err}");
        }
    }
}

#[test]
fn an_api_newer_than_the_design_is_flagged() {
    let f = "scenarios/gup/put-of-a-pin.toml";
    let check = stdout(&biopin(&["check", f, "--design", "linux-5.0,linux-6.5"]));
    let notes: Vec<&str> = check
        .lines()
        .filter(|l| l.contains("v5.7+ semantics"))
        .collect();
    assert_eq!(notes.len(), 1, "only under linux-5.0: {check}");
    assert!(
        notes[0].contains("`pin`") && notes[0].contains("linux-5.0 predates"),
        "{check}"
    );
    let explain = stdout(&biopin(&["explain", f]));
    assert!(explain.contains("v5.7+ semantics"), "{explain}");
    let trace = stdout(&biopin(&["trace", f, "--design", "linux-5.0"]));
    assert!(trace.starts_with("note: `pin`"), "{trace}");
    // A scenario without pins gets no note.
    let get = stdout(&biopin(&[
        "check",
        "scenarios/gup/reference-outlives-munmap.toml",
        "--design",
        "linux-5.0",
    ]));
    assert!(!get.contains("semantics"), "{get}");
}

#[test]
fn nothing_shipped_points_outside_the_repository() {
    // The planning notes the project was built from are not in the repository; nothing it
    // ships may send a reader to them.
    let names = [
        "DESIGN",
        "KERNEL",
        "SCENARIOS",
        "ORACLE",
        "STYLE",
        "BENCH",
        "CALLERS",
    ]
    .map(|n| format!("{n}.md"));
    let shared = format!("../{}", "shared");
    let mut stack = vec![root()];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    stack.push(path);
                }
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            checked += 1;
            for n in names.iter().chain(std::iter::once(&shared)) {
                // An all-caps file name only counts as a reference when it is not the name of
                // a file the repository holds (there is none of these).
                assert!(
                    !text.contains(n.as_str()),
                    "{} mentions {n}",
                    path.display()
                );
            }
        }
    }
    assert!(checked > 100, "{checked} files checked");
}

#[test]
fn the_readme_opens_with_the_matrix_the_command_prints() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = "<!-- matrix: biopin matrix --design all --format markdown -->\n";
    let from = readme.find(start).expect("the README's matrix block") + start.len();
    let to = from + readme[from..].find("\n<!-- end matrix -->").unwrap();
    let o = biopin(&["matrix", "--design", "all", "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        readme[from..to].trim_end(),
        stdout(&o).trim_end(),
        "the README's matrix is stale: paste `biopin matrix --design all --format markdown`"
    );
    // It comes before the set-up.
    assert!(readme.find(start) < readme.find("## Set-up"));
}

#[test]
fn matrix_has_a_row_per_scenario_a_column_per_design_and_cost_footers() {
    let o = biopin(&[
        "matrix",
        "scenarios/dio",
        "scenarios/gup/put-of-a-pin.toml",
        "--design",
        "linux-5.0,kara-2019,linux-6.5",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v["designs"],
        serde_json::json!(["linux-5.0", "kara-2019", "linux-6.5"])
    );
    let rows = v["scenarios"].as_array().unwrap();
    let dio = std::fs::read_dir(root().join("scenarios/dio"))
        .unwrap()
        .count();
    assert_eq!(rows.len(), dio + 1, "one row per scenario");
    let put = rows.last().unwrap();
    assert_eq!(put["name"], "put-of-a-pin");
    assert_eq!(
        put["cells"][0]["verdict"],
        serde_json::json!(["bad-release", "leak"])
    );
    // The large-folio direct I/O costs differ: the footer has them, as the kernel counts
    // them (one pin per folio under pinned-flag, one per page under the 2019 designs).
    let costs = v["costs"].as_array().unwrap();
    let large = costs
        .iter()
        .find(|c| c["scenario"] == "merge-and-split-at-queue-limits")
        .expect("a cost row for the large folio");
    let ops: Vec<u64> = large["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ref_ops"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ops,
        [17, 34, 4],
        "a 16-page folio: get per page + 1, pin and unpin per page, one pin per folio"
    );

    // A mismatch is marked in the cell, and the exit status is check's.
    let dir = tempfile::tempdir().unwrap();
    let wrong = scenario(
        &dir,
        "wrong.toml",
        format!("{APP}[[actor]]\nname = \"a\"\nops = [\"pin app:buf[0] as h\"]\n").as_bytes(),
    );
    let o = biopin(&[
        "matrix",
        &wrong,
        "--design",
        "linux-6.5",
        "--format",
        "markdown",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("leak (MISMATCH: expected ok)"),
        "{}",
        stdout(&o)
    );
    let o = biopin(&["matrix", &wrong, "--format", "pdf"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Chromium, when installed: `.ci/run` installs it and sets BIOPIN_REQUIRE_CHROMIUM=1, so CI
/// cannot skip the HTML test.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("which").arg(name).output()
            && o.status.success()
        {
            return Some(PathBuf::from(String::from_utf8(o.stdout).unwrap().trim()));
        }
    }
    assert!(
        std::env::var_os("BIOPIN_REQUIRE_CHROMIUM").is_none(),
        "BIOPIN_REQUIRE_CHROMIUM is set but no chromium is installed"
    );
    None
}

#[test]
fn the_html_report_renders_the_matrix_and_a_timeline_of_each_violation() {
    let dir = tempfile::tempdir().unwrap();
    let o = biopin(&[
        "matrix",
        "scenarios/gup",
        "scenarios/dio/odirect-read-races-fork-parent-writes.toml",
        "--design",
        "all",
        "--format",
        "html",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = stdout(&o);
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "self-contained"
    );
    let file = dir.path().join("report.html");
    std::fs::write(&file, &html).unwrap();
    let Some(chromium) = chromium() else {
        eprintln!("skipped: no chromium installed (apt-get install chromium); .ci/run requires it");
        return;
    };
    // What a browser builds from the file, not the file's text.
    let o = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let dom = stdout(&o);
    // The matrix: a row per scenario (17 + 1), a column per preset, then the footer.
    let matrix = &dom[dom.find("<table id=\"matrix\">").unwrap()..];
    let matrix = &matrix[..matrix.find("</table>").unwrap()];
    let body = &matrix[matrix.find("<tbody>").unwrap()..matrix.find("</tbody>").unwrap()];
    assert_eq!(body.matches("<tr>").count(), 18, "{matrix}");
    for d in [
        "linux-5.0",
        "glisse-2019",
        "kara-2019",
        "linux-6.5",
        "kara-2023",
    ] {
        assert!(matrix.contains(&format!("<th>{d}</th>")), "{d}");
    }
    assert!(matrix.contains("scenarios with a violation"));
    // What each preset stands for, before the matrix.
    let presets = &dom
        [dom.find("<table id=\"presets\">").unwrap()..dom.find("<table id=\"matrix\">").unwrap()];
    assert!(
        presets.contains("Keep track of GUPed pages in fs and block")
            && presets.contains("BIO_PAGE_PINNED"),
        "{presets}"
    );
    // A broken cell links to its timeline; the timeline has a lane per actor and device, the
    // violating step marked, the invariant explained, and the folio states.
    assert!(
        matrix.contains("<td class=\"broken\"><a href=\"#t-"),
        "{matrix}"
    );
    let t = &dom[dom
        .find("odirect-read-races-fork-parent-writes under <code>linux-5.0</code>")
        .expect("its timeline")..];
    let t = &t[..t.find("</section>").unwrap()];
    for lane in [
        "<th class=\"lane\">t1</th>",
        "<th class=\"lane\">t2</th>",
        "<th class=\"lane\">device: dio-read app:buf[0] f[0] len 512</th>",
    ] {
        assert!(t.contains(lane), "{lane}\n{t}");
    }
    assert!(t.contains("class=\"step violation\""), "{t}");
    assert!(t.contains("violates leak-parent-to-child"), "{t}");
    assert!(
        t.contains("after fork the child saw a value the parent wrote"),
        "{t}"
    );
    assert!(t.contains("_refcount"), "folio states: {t}");
}

#[test]
fn small_mistakes_get_errors_that_say_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            format!(
                "[machine]\nframes = \"4\"\n{APP}[[actor]]\nname = \"a\"\nops = [\"load app:buf[0]\"]\n"
            ),
            "expected a whole number",
        ),
        (
            format!(
                "{APP}[[actor]]\nname = \"a\"\nops = [\"load app:buf[0]\"]\n[expect]\n\"linux-6.5\" = \"OK\"\n"
            ),
            "write \"ok\" in lower case",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let f = scenario(&dir, &format!("s{i}.toml"), text.as_bytes());
        let o = biopin(&["check", &f]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
        assert!(!stderr(&o).contains("i128"), "{}", stderr(&o));
    }
    let o = biopin(&["explain", "scenarios/dio"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is a directory: name one scenario file"),
        "{}",
        stderr(&o)
    );
    let o = biopin(&[
        "trace",
        "scenarios/gup/put-of-a-pin.toml",
        "--design",
        "all",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("trace follows one design"),
        "{}",
        stderr(&o)
    );
    // `designs` says what each knob value means.
    let designs = stdout(&biopin(&["designs"]));
    assert!(
        designs.contains("racy            No recheck of the sequence"),
        "{designs}"
    );
}

#[test]
fn ops_that_fail_or_are_skipped_on_the_least_schedule_are_noted() {
    // The pin fails (nothing is mapped any more), so the device's check never runs: no
    // violation, but check says why the cell is ok.
    let dir = tempfile::tempdir().unwrap();
    let f = scenario(
        &dir,
        "silent.toml",
        format!("prologue = [\"store app:buf[0] 0x11\", \"munmap app:buf\"]\n{APP}[[actor]]\nname = \"a\"\nops = [\"pin app:buf[0] as h\", \"dma-read h == 0x22\", \"unpin h\"]\n").as_bytes(),
    );
    let o = biopin(&["check", &f, "--design", "linux-6.5"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains("note: on the least schedule, `pin app:buf[0] as h` failed with EFAULT"),
        "{out}"
    );
    assert!(
        out.contains("`dma-read h == 0x22` skipped: handle `h` was never bound"),
        "{out}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&biopin(&[
        "check",
        &f,
        "--design",
        "linux-6.5",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(
        json["scenarios"][0]["cells"][0]["failures"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn explain_can_describe_the_steps_as_a_design_runs_them() {
    let f = "scenarios/gup/longterm-pin-leaves-zone-movable.toml";
    let neutral = stdout(&biopin(&["explain", f]));
    let old = stdout(&biopin(&["explain", f, "--design", "linux-5.0"]));
    let new = stdout(&biopin(&["explain", f, "--design", "linux-6.5"]));
    assert!(neutral.contains("migrate out of ZONE_MOVABLE"), "{neutral}");
    assert!(
        old.contains("in place (longterm_migrate = none") && old.contains("mmap_sem"),
        "{old}"
    );
    assert!(
        new.contains("the pin retried") && new.contains("mmap_lock"),
        "{new}"
    );
    assert!(
        old.contains("note: `pin`, `unpin` run with v5.7+ semantics"),
        "{old}"
    );
    assert_eq!(
        biopin(&["explain", f, "--design", "linux-9"]).status.code(),
        Some(2)
    );
}
