//! `biopin replay`, `biopin designs`, `biopin explain`.

use std::path::Path;

use biopin::design::{Knob, Preset};
use biopin::program::Role;
use biopin::scenario::verdict_text;
use biopin::trace::replay_token;

use crate::{EXIT_BAD_INPUT, EXIT_OK};

pub fn replay(file: &Path, token: &str) -> u8 {
    let program = match biopin::load_file(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    match replay_token(&program, token) {
        Ok(trace) => {
            println!("{trace}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("{}: cannot replay: {e}", file.display());
            EXIT_BAD_INPUT
        }
    }
}

pub fn designs() -> u8 {
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("preset".to_owned())
            .chain(Knob::ALL.iter().map(|k| k.key().to_owned()))
            .collect(),
    ];
    for p in Preset::ALL {
        let d = p.design();
        rows.push(
            std::iter::once(p.name().to_owned())
                .chain(Knob::ALL.iter().map(|&k| d.get(k).to_owned()))
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    println!();
    println!(
        "A design is PRESET(+KNOB=VALUE)*, each knob at most once, e.g. linux-6.5+cow=refcount; `all` is every preset."
    );
    println!(
        "glisse-2019 and kara-2019 differ only in bio_refs; both get the consumer policies their tracking was meant to"
    );
    println!(
        "enable. Kara withdrew his proposal on 2019-04-18: iomap, mpage and dm-io hold no bio-owned page reference."
    );
    println!();
    println!("knobs:");
    for k in Knob::ALL {
        println!("  {:<20} {}", k.key(), k.values().join(" | "));
        println!("  {:<20} {}", "", k.modelled());
    }
    EXIT_OK
}

pub fn explain(file: &Path) -> u8 {
    let program = match biopin::load_file(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    println!("{}", program.name);
    if !program.summary.is_empty() {
        println!("  {}", program.summary);
    }
    for case in &program.selftest {
        println!("  ports {case}");
    }
    println!(
        "machine: {} frames, the last {} movable",
        program.machine.frames, program.machine.movable
    );
    for p in &program.processes {
        for v in &p.vmas {
            println!(
                "  {}:{}  {} pages, {}{}",
                p.name,
                v.name,
                v.pages,
                v.prot.name(),
                if v.huge { ", one large folio" } else { "" }
            );
        }
    }
    for a in &program.actors {
        if a.ops.is_empty() {
            continue;
        }
        let how = match a.role {
            Role::Prologue => "runs first, alone",
            Role::Actor => "interleaves with the other actors",
            Role::Epilogue => "runs last, alone",
        };
        println!("{} ({how}):", a.name);
        for (i, op) in a.ops.iter().enumerate() {
            let wait = op
                .waits_for
                .map(|h| format!("  [waits for handle `{}`]", program.handles[h].name))
                .unwrap_or_default();
            println!("  {}. {}{wait}", i + 1, op.text);
            for (j, s) in op.cmd.steps().iter().enumerate() {
                println!("       step {}: {s}", j + 1);
            }
        }
    }
    println!("designs and expectations:");
    for d in &program.designs {
        println!(
            "  {:<32} {}",
            d.canonical(),
            verdict_text(&program.expected(d))
        );
    }
    EXIT_OK
}
