//! Property tests: random, correctly paired get/pin/put/unpin sequences keep every invariant
//! under every preset, and each kind of mis-pairing is caught.

use biopin::{Invariant, ScenarioBuilder};
use proptest::prelude::*;

use crate::verdicts;

/// One handle's life: what it takes and how.
#[derive(Clone, Debug)]
struct Life {
    pin: bool,
    huge: bool,
    first: u32,
    len: u32,
    write: bool,
    fast: bool,
    longterm: bool,
    times: u64,
    dirty: bool,
}

fn life() -> impl Strategy<Value = Life> {
    (
        any::<bool>(),
        any::<bool>(),
        0u32..4,
        1u32..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![1u64..4, Just(1000u64)],
        any::<bool>(),
    )
        .prop_map(
            |(pin, huge, first, len, write, fast, longterm, times, dirty)| Life {
                pin,
                huge,
                first,
                len: len.min(4 - first),
                write,
                fast,
                longterm: longterm && pin,
                times,
                dirty,
            },
        )
}

impl Life {
    fn acquire(&self, name: &str) -> String {
        let vma = if self.huge { "big" } else { "small" };
        format!(
            "{} app:{vma}[{}..{}]{}{}{} times {} as {name}",
            if self.pin { "pin" } else { "get" },
            self.first,
            self.first + self.len,
            if self.write { " write" } else { "" },
            if self.longterm { " longterm" } else { "" },
            if self.fast { " fast" } else { "" },
            self.times
        )
    }

    fn release(&self, name: &str, wrong: bool) -> String {
        let verb = if self.pin != wrong { "unpin" } else { "put" };
        format!("{verb} {name}{}", if self.dirty { " dirty" } else { "" })
    }
}

/// How a handle's release is written (its index, its life, its name): the ops.
type Mutate = Box<dyn Fn(usize, &Life, &str) -> Vec<String>>;

/// Two actors; each takes its handles in order and releases each after taking it, in an
/// order `order` picks. Returns the two actors' ops.
fn schedule(
    lives: &[Life],
    order: &[bool],
    mutate: impl Fn(usize, &Life, &str) -> Vec<String>,
) -> [Vec<String>; 2] {
    let mut actors: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let mut pending: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    for (i, l) in lives.iter().enumerate() {
        let a = i % 2;
        actors[a].push(l.acquire(&format!("h{i}")));
        pending[a].push(i);
        // Release something now, or later.
        if order.get(i).copied().unwrap_or(true)
            && let Some(j) = pending[a].pop()
        {
            actors[a].extend(mutate(j, &lives[j], &format!("h{j}")));
        }
    }
    for a in 0..2 {
        while let Some(j) = pending[a].pop() {
            actors[a].extend(mutate(j, &lives[j], &format!("h{j}")));
        }
    }
    actors
}

fn verdicts_of(actors: [Vec<String>; 2], movable: u32) -> Vec<(biopin::Design, biopin::Verdict)> {
    let [a, b] = actors;
    let program = ScenarioBuilder::new("random")
        .frames(24)
        .movable(movable)
        .process("app", |p| p.anon("small", 4).huge_anon("big", 4))
        // Every page populated: a read-only pin of a page still backed by the zero page
        // becomes unreliable when a later write copies it away (`pin-unreliable`), which is
        // the kernel's documented behaviour and no pairing mistake.
        .prologue(["store app:small 0x11", "store app:big 0x22"])
        .actor("a", &a)
        .actor("b", &b)
        .build()
        .unwrap_or_else(|e| panic!("{e}\n{a:?}\n{b:?}"));
    verdicts(&program)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn paired_sequences_keep_every_invariant(
        lives in prop::collection::vec(life(), 1..5),
        order in prop::collection::vec(any::<bool>(), 0..5),
        movable in prop_oneof![Just(0u32), Just(8)],
    ) {
        let actors = schedule(&lives, &order, |_, l, n| vec![l.release(n, false)]);
        for (design, verdict) in verdicts_of(actors.clone(), movable) {
            prop_assert!(verdict.is_empty(), "{design}: {verdict:?}\n{actors:?}");
        }
    }

    #[test]
    fn each_kind_of_mispairing_is_caught(
        lives in prop::collection::vec(life(), 1..4),
        order in prop::collection::vec(any::<bool>(), 0..4),
        victim in any::<prop::sample::Index>(),
        kind in 0usize..4,
    ) {
        let victim = victim.index(lives.len());
        let (expected, mutate): (Invariant, Mutate) = match kind {
            // put of a pin, unpin of a reference
            0 => (Invariant::BadRelease, Box::new(move |j, l: &Life, n: &str| vec![l.release(n, j == victim)])),
            // released twice
            1 => (Invariant::BadRelease, Box::new(move |j, l: &Life, n: &str| {
                let mut ops = vec![l.release(n, false)];
                if j == victim { ops.push(l.release(n, false)); }
                ops
            })),
            // never released
            2 => (Invariant::Leak, Box::new(move |j, l: &Life, n: &str| {
                if j == victim { vec![] } else { vec![l.release(n, false)] }
            })),
            // a device uses it after its release
            _ => (Invariant::UseAfterFree, Box::new(move |j, l: &Life, n: &str| {
                let mut ops = vec![l.release(n, false)];
                if j == victim { ops.push(format!("dma-read {n}")); }
                ops
            })),
        };
        let actors = schedule(&lives, &order, mutate);
        // No movable zone: every bind succeeds, so the mistake always runs.
        for (design, verdict) in verdicts_of(actors.clone(), 0) {
            prop_assert!(verdict.contains(&expected), "{design}: {verdict:?} lacks {expected}\n{actors:?}");
        }
    }
}
