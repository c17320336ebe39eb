//! How a run proceeds: the prologue alone, actors interleaved, waits for handles, the
//! epilogue last; deadlock; skipped steps; fast GUP's two steps.

use biopin::trace::replay;
use biopin::{Invariant, ScenarioBuilder};

use crate::{design, run};

#[test]
fn actors_waiting_for_each_others_handles_deadlock() {
    let program = ScenarioBuilder::new("deadlock")
        .process("app", |p| p.anon("buf", 2))
        .actor("a", ["dma-read hb", "pin app:buf[0] as ha", "unpin ha"])
        .actor("b", ["dma-read ha", "pin app:buf[1] as hb", "unpin hb"])
        .build()
        .unwrap();
    let cell = run(&program, design("linux-6.5"));
    assert_eq!(
        cell.verdict.iter().copied().collect::<Vec<_>>(),
        vec![Invariant::Deadlock]
    );
    let found = &cell.found[0];
    assert!(
        found.at_end && found.schedule.is_empty(),
        "stuck before any step: {found:?}"
    );
    let trace = replay(&program, design("linux-6.5"), &found.schedule).unwrap();
    let end = trace.end.unwrap();
    assert!(end[0].1.contains("a, b not finished"), "{}", end[0].1);
}

#[test]
fn a_failed_bind_skips_the_steps_that_wait_for_it() {
    let program = ScenarioBuilder::new("skip")
        .process("app", |p| p.anon("buf", 1))
        .prologue(["munmap app:buf"])
        .actor("a", ["pin app:buf[0] write as h expect EFAULT"])
        .actor("b", ["dma-write h 1", "unpin h"])
        .build()
        .unwrap();
    let cell = run(&program, design("linux-6.5"));
    assert!(cell.verdict.is_empty(), "{:?}", cell.verdict);
    // b waits for the bind, so a runs first in every path: 1 (prologue) + 1 + 2 steps.
    assert_eq!(cell.stats.max_depth, 4);
    let trace = replay(&program, design("linux-6.5"), &[0, 1, 2, 2]).unwrap();
    assert!(
        trace.steps[2].notes[0].contains("skipped: handle `h` was never bound"),
        "{trace}"
    );
}

#[test]
fn an_unmet_expect_errno_is_expect_failed_and_its_binding_stands() {
    let program = ScenarioBuilder::new("expect")
        .process("app", |p| p.anon("buf", 1))
        .actor("a", ["pin app:buf[0] as h expect ENOMEM", "unpin h"])
        .build()
        .unwrap();
    let cell = run(&program, design("linux-6.5"));
    assert_eq!(
        cell.verdict.iter().copied().collect::<Vec<_>>(),
        vec![Invariant::ExpectFailed]
    );
}

#[test]
fn the_epilogue_runs_after_every_actor_and_the_prologue_before() {
    let program = ScenarioBuilder::new("phases")
        .process("app", |p| p.anon("buf", 1))
        .prologue(["store app:buf[0] 1"])
        .actor("a", ["store app:buf[0] 2"])
        .actor("b", ["load app:buf[0]"])
        .epilogue(["load app:buf[0] == 2"])
        .build()
        .unwrap();
    let cell = run(&program, design("linux-6.5"));
    assert!(cell.verdict.is_empty(), "{:?}", cell.verdict);
    // prologue, then a and b in either order (two paths, sharing their end), then epilogue.
    assert_eq!(
        (cell.stats.unique, cell.stats.states, cell.stats.ends),
        (6, 7, 1)
    );
}

#[test]
fn gup_fast_is_two_steps_that_other_actors_can_come_between() {
    let program = ScenarioBuilder::new("fast")
        .process("app", |p| p.anon("buf", 1))
        .prologue(["store app:buf[0] 1"])
        .actor("a", ["pin app:buf[0] write fast as h", "unpin h"])
        .actor("b", ["mprotect app:buf r"])
        .build()
        .unwrap();
    let cell = run(&program, design("linux-6.5"));
    assert!(cell.verdict.is_empty(), "{:?}", cell.verdict);
    // mprotect between the grab and the recheck makes the fast path drop its grab and the
    // slow path refuse FOLL_WRITE on the now read-only VMA.
    let trace = replay(&program, design("linux-6.5"), &[0, 1, 2, 1, 1]).unwrap();
    let recheck = &trace.steps[3];
    assert!(
        recheck
            .notes
            .iter()
            .any(|n| n.contains("drop and fall back")),
        "{trace}"
    );
    assert!(
        recheck
            .notes
            .iter()
            .any(|n| n.contains("failed with EFAULT")),
        "{trace}"
    );
}

#[test]
fn the_kernel_models_state_space_is_exact_for_independent_actors() {
    // Two actors each fault k zero-page mappings into their own VMA: a state is the pair of
    // program counters, so (k+1)^2 states, 2·k·(k+1) transitions, one end.
    for k in [1u32, 3, 5] {
        let ops = |v: &str| {
            (0..k)
                .map(|i| format!("load app:{v}[{i}]"))
                .collect::<Vec<_>>()
        };
        let program = ScenarioBuilder::new("grid")
            .process("app", |p| p.anon("x", k).anon("y", k))
            .actor("a", ops("x"))
            .actor("b", ops("y"))
            .build()
            .unwrap();
        let cell = run(&program, design("linux-6.5"));
        let (k, n) = (u64::from(k), u64::from(k) + 1);
        assert_eq!(
            (cell.stats.unique, cell.stats.states, cell.stats.ends),
            (n * n, 1 + 2 * k * n, 1)
        );
        assert_eq!(cell.stats.max_depth, 2 * k as u32);
    }
}

#[test]
fn allocation_order_is_part_of_the_state() {
    // Stores allocate the lowest free frame, so which actor faults first shows in the frame
    // numbers: both orders are distinct end states.
    let program = ScenarioBuilder::new("alloc")
        .process("app", |p| p.anon("x", 1).anon("y", 1))
        .actor("a", ["store app:x[0] 1"])
        .actor("b", ["store app:y[0] 2"])
        .build()
        .unwrap();
    let cell = run(&program, design("linux-6.5"));
    assert_eq!((cell.stats.unique, cell.stats.ends), (5, 2));
}

#[test]
fn no_leak_or_bad_release_follows_from_a_use_after_free() {
    // A wrapped count frees the page under a pin; unpinning it afterwards reaches a freed page:
    // use-after-free, and nothing else (the vmstat counters stay balanced).
    let program = ScenarioBuilder::new("dangle")
        .process("app", |p| p.anon("buf", 1))
        .actor(
            "a",
            [
                "store app:buf[0] 0x11",
                "pin app:buf[0] write as p",
                "get app:buf[0] times 4294966271 as many",
                "get app:buf[0] as one",
                "put one",
                "unpin p",
                "put many",
            ],
        )
        .build()
        .unwrap();
    let cell = run(&program, design("linux-5.0"));
    let got: Vec<_> = cell.verdict.iter().copied().collect();
    assert_eq!(
        got,
        vec![Invariant::UseAfterFree, Invariant::RefcountOverflow]
    );
}
