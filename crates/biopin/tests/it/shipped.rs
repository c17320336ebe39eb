//! The shipped scenario suite is a test: every cell as expected, every violation replayed from
//! its token, every run deterministic.

use std::path::{Path, PathBuf};

use biopin::trace::replay_token;
use biopin::{Match, load_file};

use crate::run;

pub fn shipped() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files = Vec::new();
    walk(&root, &mut files);
    assert!(
        files.len() >= 15,
        "the shipped suite is missing: {}",
        root.display()
    );
    files
}

#[test]
fn every_shipped_scenario_meets_its_expectations_and_names_every_preset() {
    for file in shipped() {
        let program = load_file(&file).unwrap();
        for preset in biopin::Design::all() {
            assert!(
                program.expect.contains_key(&preset),
                "{}: no [expect] for {preset}",
                file.display()
            );
            assert!(
                program.designs.contains(&preset),
                "{}: {preset} is not checked",
                file.display()
            );
        }
        for &design in &program.designs {
            let cell = run(&program, design);
            assert_eq!(
                cell.matches(),
                Match::Expected,
                "{} under {design}: got {:?}, expected {:?}",
                file.display(),
                cell.verdict,
                cell.expected
            );
        }
    }
}

#[test]
fn every_reported_violation_replays_from_its_token() {
    let mut replayed = 0;
    for file in shipped() {
        let program = load_file(&file).unwrap();
        for &design in &program.designs {
            for found in run(&program, design).found {
                let trace = replay_token(&program, &found.token).unwrap();
                assert_eq!(trace.design, design);
                assert_eq!(trace.steps.len(), found.schedule.len());
                let raised_by_last = trace
                    .steps
                    .last()
                    .is_some_and(|s| s.raised.iter().any(|(id, _)| *id == found.id));
                let raised_at_end = trace.end.iter().flatten().any(|(id, _)| *id == found.id);
                assert!(
                    if found.at_end {
                        raised_at_end
                    } else {
                        raised_by_last
                    },
                    "{} under {design}: {} not reproduced\n{trace}",
                    file.display(),
                    found.id
                );
                replayed += 1;
            }
        }
    }
    assert!(replayed > 20, "only {replayed} violations replayed");
}

#[test]
fn runs_are_deterministic() {
    for file in shipped() {
        let program = load_file(&file).unwrap();
        for &design in &program.designs {
            let (a, b) = (run(&program, design), run(&program, design));
            assert_eq!(a.found, b.found);
            assert_eq!(
                (a.stats.states, a.stats.unique, a.stats.max_depth),
                (b.stats.states, b.stats.unique, b.stats.max_depth)
            );
        }
    }
}

#[test]
fn a_token_for_another_scenario_or_step_table_is_refused() {
    let files = shipped();
    let a = load_file(&files[0]).unwrap();
    let b = load_file(&files[1]).unwrap();
    let found = files.iter().map(|f| load_file(f).unwrap()).find_map(|p| {
        p.designs
            .iter()
            .find_map(|&d| run(&p, d).found.into_iter().next())
            .map(|f| (p, f))
    });
    let (program, found) = found.expect("some shipped scenario violates something");
    let other = if program.source.hash == a.source.hash {
        &b
    } else {
        &a
    };
    let err = replay_token(other, &found.token).unwrap_err();
    assert!(
        err.to_string()
            .contains("different version of the scenario"),
        "{err}"
    );
    // Same scenario, altered token.
    let mut altered = found.token.clone();
    altered.push('A');
    assert!(replay_token(&program, &altered).is_err());
    // A schedule that does not fit: every step given to an actor that has finished.
    let token = biopin::model::token(
        &program,
        &program.designs[0],
        vec![0; found.schedule.len() + 50],
    );
    let err = replay_token(&program, &token).unwrap_err();
    assert!(err.to_string().contains("not enabled"), "{err}");
}

#[test]
fn bfs_agrees_with_dfs_and_finds_counterexamples_no_longer() {
    use biopin_explore::{Bounds, Strategy};
    for file in shipped() {
        let program = load_file(&file).unwrap();
        for &design in &program.designs {
            let dfs = run(&program, design);
            let bfs = biopin::check(&program, design, Strategy::Bfs, Bounds::NONE, &mut |_| {});
            assert_eq!(
                dfs.verdict,
                bfs.verdict,
                "{} under {design}",
                file.display()
            );
            assert_eq!(
                dfs.stats.unique,
                bfs.stats.unique,
                "{} under {design}",
                file.display()
            );
            for (d, b) in dfs.found.iter().zip(&bfs.found) {
                assert!(
                    b.schedule.len() <= d.schedule.len(),
                    "{} under {design}: {}",
                    file.display(),
                    d.id
                );
            }
        }
    }
}

#[test]
fn a_token_from_another_step_table_or_an_unknown_design_is_refused() {
    use biopin::program::STEP_TABLE_VERSION;
    use biopin::trace::ReplayError;
    use biopin_explore::Token;
    let file = &shipped()[0];
    let program = load_file(file).unwrap();
    let token = |step_table, config: &str| {
        Token {
            input_hash: program.source.hash,
            step_table,
            config: config.into(),
            schedule: Vec::new(),
        }
        .encode()
    };
    let err = replay_token(&program, &token(STEP_TABLE_VERSION + 1, "linux-6.5")).unwrap_err();
    assert!(matches!(err, ReplayError::StepTable { .. }), "{err}");
    assert!(err.to_string().contains("rerun `biopin check`"), "{err}");
    let err = replay_token(&program, &token(STEP_TABLE_VERSION, "linux-9.9")).unwrap_err();
    assert!(matches!(err, ReplayError::Design(..)), "{err}");
    let ok = replay_token(&program, &token(STEP_TABLE_VERSION, "linux-6.5"));
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn every_selftest_case_a_scenario_names_is_one_the_kernel_runs() {
    // oracle/run records the cases linux 6.12 ran, per selftest; a scenario naming any other
    // line would never be compared with the real kernel.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut lists = Vec::new();
    for entry in std::fs::read_dir(root.join("oracle")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("cases-6.12-") && name.ends_with(".txt") {
            lists.push(std::fs::read_to_string(&path).unwrap());
        }
    }
    let known: std::collections::BTreeSet<&str> = lists
        .iter()
        .flat_map(|l| l.lines())
        .filter(|l| l.starts_with("# [RUN] "))
        .collect();
    assert!(
        known.len() > 100,
        "the recorded case lists are short: {}",
        known.len()
    );
    let mut named = 0;
    for file in shipped() {
        let program = load_file(&file).unwrap();
        for case in &program.selftest {
            assert!(
                known.contains(case.as_str()),
                "{}: `{case}` is not a case the oracle's selftests run on 6.12",
                file.display()
            );
            named += 1;
        }
    }
    assert!(named >= 35, "only {named} scenarios port a selftest case");
}

/// docs/guide/ explains every shipped scenario: one `### \`NAME\`` section each, with a link to
/// its file and a table with one row per design it runs under, in its order, whose verdict
/// column is the scenario's `[expect]`. A new scenario without a section, or a changed
/// expectation, fails here until the guide says why.
#[test]
fn the_guide_explains_every_shipped_scenario_with_its_verdicts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut sections: Vec<(String, String, String)> = Vec::new();
    for doc in ["cow.md", "gup.md", "io.md"] {
        let text = std::fs::read_to_string(root.join("docs/guide").join(doc)).unwrap();
        for part in text.split("\n### `").skip(1) {
            let name = part[..part.find('`').unwrap()].to_owned();
            sections.push((doc.to_owned(), name, part.to_owned()));
        }
    }
    let files = shipped();
    assert_eq!(
        sections.len(),
        files.len(),
        "one guide section per shipped scenario"
    );
    for file in files {
        let program = load_file(&file).unwrap();
        let rel = file
            .strip_prefix(&root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| {
                let s = file.display().to_string();
                s[s.find("scenarios/").unwrap()..].to_owned()
            });
        let matching: Vec<_> = sections.iter().filter(|s| s.1 == program.name).collect();
        assert_eq!(
            matching.len(),
            1,
            "{}: one section in docs/guide",
            program.name
        );
        let (doc, name, body) = matching[0];
        assert!(
            body.contains(&format!("File: [{rel}](../../{rel})")),
            "docs/guide/{doc}, {name}: the link to {rel}"
        );
        let rows: Vec<(String, String)> = body
            .lines()
            .skip_while(|l| !l.starts_with("| design | verdict | why |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split(" | ").collect();
                let unquote = |c: &str| {
                    c.trim_matches(|ch| ch == '|' || ch == ' ' || ch == '`')
                        .to_owned()
                };
                (unquote(cells[0]), unquote(cells[1]))
            })
            .collect();
        let want: Vec<(String, String)> = program
            .designs
            .iter()
            .map(|d| {
                (
                    d.canonical(),
                    biopin::scenario::verdict_text(&program.expected(d)),
                )
            })
            .collect();
        assert_eq!(rows, want, "docs/guide/{doc}, {name}: the verdict table");
    }
}
