//! `biopin replay`, `biopin designs`, `biopin explain`.

use std::path::Path;

use biopin::Design;
use biopin::Program;
use biopin::design::{Knob, Preset};
use biopin::program::{Resources, Role};
use biopin::scenario::verdict_text;
use biopin::trace::{era_names, replay_token, trace_path};
use biopin::vm::VmaKind;

use crate::out::outln;
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
            outln!("{trace}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("{}: cannot replay: {e}", file.display());
            EXIT_BAD_INPUT
        }
    }
}

pub fn trace(file: &Path, design: &str, schedule: Option<&str>) -> u8 {
    let program = match biopin::load_file(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    if design.trim() == "all" || design.contains(',') {
        eprintln!(
            "--design {design}: trace follows one design; name one (a preset such as linux-6.5, or PRESET+KNOB=VALUE)"
        );
        return EXIT_BAD_INPUT;
    }
    let design = match Design::parse(design) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("--design {design}: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    match trace_path(&program, design, schedule) {
        Ok(trace) => {
            for note in program.anachronisms(&design) {
                outln!("note: {note}");
            }
            outln!("{trace}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            EXIT_BAD_INPUT
        }
    }
}

/// A footprint's resources in words.
fn resources(program: &Program, r: &Resources) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(
        r.mms
            .iter()
            .map(|&t| format!("{}'s page tables", program.processes[t].name)),
    );
    parts.extend(
        r.files
            .iter()
            .map(|&f| format!("{}'s page cache and blocks", program.files[f].name)),
    );
    parts.extend(r.ios.iter().map(|&o| {
        let d = &program.ios[o];
        format!(
            "the bios of {}'s direct I/O {o}",
            program.actors[d.actor].name
        )
    }));
    parts.extend(
        r.handles
            .iter()
            .map(|&h| format!("handle {}", program.handles[h].name)),
    );
    if r.frames {
        parts.push("frames".into());
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
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
        outln!("{}", cells.join("  ").trim_end());
    }
    outln!();
    for p in Preset::ALL {
        outln!("{:<12} {}", p.name(), p.summary());
    }
    outln!();
    outln!(
        "A design is PRESET(+KNOB=VALUE)*, each knob at most once, e.g. linux-6.5+cow=refcount; `all` is every preset."
    );
    outln!(
        "glisse-2019 and kara-2019 differ only in bio_refs; both get the consumer policies their tracking was meant to"
    );
    outln!(
        "enable. Kara withdrew his proposal on 2019-04-18: iomap, mpage and dm-io hold no bio-owned page reference."
    );
    outln!();
    outln!("knobs:");
    for k in Knob::ALL {
        let (about, values) = k.about();
        outln!("  {:<20} {about}", k.key());
        for (value, meaning) in values {
            outln!("  {:<20}   {value:<15} {meaning}", "");
        }
        outln!("  {:<20}   {}", "", k.modelled());
    }
    EXIT_OK
}

pub fn explain(file: &Path, design: Option<&str>) -> u8 {
    let program = match biopin::load_file(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let design = match design.map(Design::parse).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("--design: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    outln!("{}", program.name);
    if !program.summary.is_empty() {
        outln!("  {}", program.summary);
    }
    for case in &program.selftest {
        outln!("  ports {case}");
    }
    match program.machine.movable {
        0 => outln!("machine: {} frames, none movable", program.machine.frames),
        m => outln!(
            "machine: {} frames, the last {m} in ZONE_MOVABLE",
            program.machine.frames
        ),
    }
    let q = &program.device;
    outln!(
        "device: max_segments {}, max_sectors {}, max_segment_size {}, logical_block_size {}, dma_alignment {}",
        q.max_segments,
        q.max_sectors,
        q.max_segment_size,
        q.logical_block_size,
        q.dma_alignment
    );
    for f in &program.files {
        outln!(
            "  file {}  {} pages, {}, every block {:#04x}",
            f.name,
            f.pages,
            f.fs.name(),
            f.init
        );
    }
    for (t, p) in program.processes.iter().enumerate() {
        let forked = program.parents[t]
            .map(|parent| format!(" (forked from {})", program.processes[parent].name))
            .unwrap_or_default();
        for v in &p.vmas {
            let what = match (&v.file, v.kind) {
                (Some(file), VmaKind::Shared) => {
                    format!("shared mapping of {file}[{}..]", v.offset)
                }
                (Some(file), _) => format!("private mapping of {file}[{}..]", v.offset),
                (None, _) => "anon".into(),
            };
            outln!(
                "  {}:{}  {} pages, {what}, {}{}{forked}",
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
        outln!("{} ({how}):", a.name);
        for (i, op) in a.ops.iter().enumerate() {
            let mut wait = op
                .waits_for
                .map(|h| format!("  [waits for handle `{}`]", program.handles[h].name))
                .unwrap_or_default();
            if let Some(t) = op.waits_for_task {
                wait += &format!("  [waits for the fork of `{}`]", program.processes[t].name);
            }
            outln!("  {}. {}{wait}", i + 1, op.text);
            for (j, s) in op.cmd.steps().iter().enumerate() {
                match design {
                    Some(d) => outln!(
                        "       step {}: {}",
                        j + 1,
                        era_names(&d, op.cmd.step_text(j, &d))
                    ),
                    None => outln!("       step {}: {s}", j + 1),
                }
                let f = program.footprint(&op.cmd, j as u32);
                outln!(
                    "         reads {}; writes {}",
                    resources(&program, &f.reads),
                    resources(&program, &f.writes)
                );
            }
        }
    }
    if let Some(d) = design {
        outln!("steps as {} runs them", d.canonical());
        for note in program.anachronisms(&d) {
            outln!("  note: {note}");
        }
    }
    outln!("designs and expectations:");
    for d in &program.designs {
        outln!("  {}", d.canonical());
        outln!("      expected: {}", verdict_text(&program.expected(d)));
        for note in program.anachronisms(d) {
            outln!("      note: {note}");
        }
    }
    EXIT_OK
}
