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
    assert!(
        stdout(&o).contains("INCOMPLETE: stopped by max-states"),
        "{}",
        stdout(&o)
    );
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
    assert!(
        stdout(&md).starts_with("| scenario | `linux-5.0` |"),
        "{}",
        stdout(&md)
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
