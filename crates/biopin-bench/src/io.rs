//! The I/O cost of each design: one O_DIRECT read of 1, 16 and 256 pages, into small pages and
//! into one large folio, along the least schedule (the figure `biopin check --stats` prints
//! per cell), with the time the model takes to run that schedule.

use biopin::{Design, Program, ScenarioBuilder, least_schedule};

/// A read of `pages` pages into a buffer written first (so that its pages exist), a large
/// folio if `huge`.
fn scenario(pages: u32, huge: bool) -> Program {
    ScenarioBuilder::new("dio-cost")
        .frames(2 * pages + 8)
        .file("f", pages, biopin::pagecache::Fs::Ext4, 0xab)
        .process("app", |p| {
            if huge {
                p.huge_anon("buf", pages)
            } else {
                p.anon("buf", pages)
            }
        })
        .prologue(["store app:buf 0x11"])
        .actor("reader", ["dio-read app:buf f[0]"])
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One line per read size, folio kind and preset.
pub fn bench(runs: u32) -> Vec<String> {
    let mut out = Vec::new();
    for (pages, huge) in [
        (1, false),
        (16, false),
        (16, true),
        (256, false),
        (256, true),
    ] {
        let program = scenario(pages, huge);
        for design in Design::all() {
            let mut secs = Vec::new();
            let mut cost = None;
            for _ in 0..runs {
                let ((_, c), t) = crate::timed(|| least_schedule(&program, design));
                secs.push(t);
                cost = Some(c);
            }
            let cost = cost.expect("runs >= 1");
            let per_page = cost
                .per_page()
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
            out.push(format!(
                "dio pages={pages} folio={} design={} ref_ops={} io_pages={} per_page={per_page} run_secs={:.6}",
                if huge { "large" } else { "small" },
                design.canonical(),
                cost.ref_ops,
                cost.io_pages,
                crate::median(&mut secs)
            ));
        }
    }
    out
}
