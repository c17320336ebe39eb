//! The toy model both explorers are measured on: biopin's shape (pages with counts, pins and
//! values; actors with a program counter and a register; racy read-modify-writes, break-COW
//! writes, nondeterministic choices) and nothing of biopin's model, so that the comparison
//! measures the explorers.
//!
//! The semantics are written once, over [`ToyMem`]; stateright explores [`StToy`], whose
//! `next_state` clones the state and applies the step (its only way), and biopin-explore
//! explores [`BpToy`], which applies the step in place on [`Table`]s and undoes it. Both must
//! report the same unique and generated counts.

use biopin_explore::{Journaled, Model, Record, Table, journaled};

/// `Page::flags`: the page is pinned.
const PINNED: u8 = 1;
/// `Page::flags`: the page was written.
const DIRTY: u8 = 2;
/// An actor whose `pc` reaches this is done.
const OPS: u8 = 8;

/// A page: 12 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Page {
    refcount: i32,
    pincount: u32,
    value: u8,
    flags: u8,
}

impl Record for Page {
    fn pack(self) -> u128 {
        u128::from(self.refcount as u32)
            | u128::from(self.pincount) << 32
            | u128::from(self.value) << 64
            | u128::from(self.flags) << 72
    }
}

/// An actor: 8 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Actor {
    pc: u8,
    reg: i32,
}

impl Record for Actor {
    fn pack(self) -> u128 {
        u128::from(self.pc) | u128::from(self.reg as u32) << 8
    }
}

/// One step of an actor's program.
#[derive(Clone, Copy, Debug)]
enum Op {
    #[expect(
        dead_code,
        reason = "in the toy's step table, though no program uses it"
    )]
    Get(usize),
    Put(usize),
    LoadRef(usize),
    StoreRef(usize),
    Pin(usize),
    Unpin(usize),
    Write(usize, u8, usize),
    Copy(usize, usize),
    Choice(usize),
}

use Op::*;

/// The three actors' programs.
const PROGRAMS: [[Op; OPS as usize]; 3] = [
    [
        Copy(2, 3),
        LoadRef(1),
        Write(3, 10, 11),
        Pin(0),
        Choice(0),
        StoreRef(1),
        Put(0),
        Unpin(0),
    ],
    [
        Choice(1),
        StoreRef(0),
        Pin(1),
        LoadRef(1),
        Write(3, 20, 11),
        Copy(1, 2),
        Put(0),
        Unpin(1),
    ],
    [
        Put(2),
        Pin(1),
        LoadRef(0),
        Copy(1, 3),
        Choice(1),
        Write(0, 30, 8),
        StoreRef(0),
        Unpin(1),
    ],
];

/// What the semantics need of a state.
trait ToyMem {
    fn page(&self, p: usize) -> Page;
    fn set_page(&mut self, p: usize, page: Page);
    fn actor(&self, a: usize) -> Actor;
    fn set_actor(&mut self, a: usize, actor: Actor);
}

/// A transition: an actor and the outcome of its step (0 unless the step is a `Choice`).
pub type ToyAction = (u8, u8);

/// The actor's next op, if it has one and it is enabled.
fn next_op(m: &impl ToyMem, a: usize) -> Option<Op> {
    let pc = m.actor(a).pc;
    if pc >= OPS {
        return None;
    }
    let op = PROGRAMS[a][pc as usize];
    match op {
        Unpin(p) if m.page(p).pincount == 0 => None,
        _ => Some(op),
    }
}

fn actions(m: &impl ToyMem, k: u8, out: &mut Vec<ToyAction>) {
    for a in 0..3 {
        match next_op(m, a) {
            None => {}
            Some(Choice(_)) => out.extend((0..k).map(|o| (a as u8, o))),
            Some(_) => out.push((a as u8, 0)),
        }
    }
}

/// The invariant, which never fails: a page's pin count is at most 3, `PINNED` says whether it
/// is positive, and the refcount stays above -100.
fn page_ok(page: Page) -> bool {
    page.pincount <= 3 && (page.flags & PINNED != 0) == (page.pincount > 0) && page.refcount > -100
}

/// Rewrites page `p` with `f`; returns `p`.
fn update(m: &mut impl ToyMem, p: usize, f: impl FnOnce(&mut Page)) -> usize {
    let mut page = m.page(p);
    f(&mut page);
    m.set_page(p, page);
    p
}

/// Takes the step; returns the page it wrote, if any.
fn step(m: &mut impl ToyMem, (a, outcome): ToyAction) -> Option<usize> {
    let a = a as usize;
    let mut actor = m.actor(a);
    let written = match PROGRAMS[a][actor.pc as usize] {
        Get(p) => Some(update(m, p, |page| page.refcount += 1)),
        Put(p) => Some(update(m, p, |page| page.refcount -= 1)),
        LoadRef(p) => {
            actor.reg = m.page(p).refcount;
            None
        }
        StoreRef(p) => Some(update(m, p, |page| page.refcount = actor.reg + 1)),
        Pin(p) => Some(update(m, p, |page| {
            page.pincount += 1;
            page.refcount += 1;
            page.flags |= PINNED;
        })),
        Unpin(p) => Some(update(m, p, |page| {
            page.pincount -= 1;
            page.refcount -= 1;
            if page.pincount == 0 {
                page.flags &= !PINNED;
            }
        })),
        Write(p, v, q) => {
            let target = if m.page(p).flags & PINNED != 0 { q } else { p };
            Some(update(m, target, |page| {
                page.value = v;
                page.flags |= DIRTY;
            }))
        }
        Copy(s, d) => {
            let value = m.page(s).value;
            Some(update(m, d, |page| page.value = value))
        }
        Choice(p) => Some(update(m, p, |page| page.value = 100 + outcome)),
    };
    actor.pc += 1;
    m.set_actor(a, actor);
    written
}

/// The toy state as stateright needs it: plain arrays, cloned for every successor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ToyState {
    pages: [Page; 16],
    actors: [Actor; 3],
}

impl ToyMem for ToyState {
    fn page(&self, p: usize) -> Page {
        self.pages[p]
    }
    fn set_page(&mut self, p: usize, page: Page) {
        self.pages[p] = page;
    }
    fn actor(&self, a: usize) -> Actor {
        self.actors[a]
    }
    fn set_actor(&mut self, a: usize, actor: Actor) {
        self.actors[a] = actor;
    }
}

/// The toy model for stateright: `k` outcomes per choice.
pub struct StToy {
    /// Outcomes of each `Choice`.
    pub k: u8,
}

impl stateright::Model for StToy {
    type State = ToyState;
    type Action = ToyAction;

    fn init_states(&self) -> Vec<ToyState> {
        vec![ToyState::default()]
    }

    fn actions(&self, state: &ToyState, out: &mut Vec<ToyAction>) {
        actions(state, self.k, out);
    }

    fn next_state(&self, state: &ToyState, action: ToyAction) -> Option<ToyState> {
        let mut next = state.clone();
        step(&mut next, action);
        Some(next)
    }

    fn properties(&self) -> Vec<stateright::Property<Self>> {
        vec![stateright::Property::always(
            "pages ok",
            |_, s: &ToyState| s.pages.iter().all(|&p| page_ok(p)),
        )]
    }
}

/// The toy state as biopin-explore holds it: two tables, written in place.
#[derive(Debug)]
pub struct TableToy {
    pages: Table<Page>,
    actors: Table<Actor>,
}

journaled!(TableToy { pages, actors });

impl ToyMem for TableToy {
    fn page(&self, p: usize) -> Page {
        self.pages.get(p)
    }
    fn set_page(&mut self, p: usize, page: Page) {
        self.pages.set(p, page);
    }
    fn actor(&self, a: usize) -> Actor {
        self.actors.get(a)
    }
    fn set_actor(&mut self, a: usize, actor: Actor) {
        self.actors.set(a, actor);
    }
}

/// The toy model for biopin-explore: `k` outcomes per choice. The invariant is checked on the
/// page each step writes (the others are unchanged), the way biopin checks its own.
pub struct BpToy {
    /// Outcomes of each `Choice`.
    pub k: u8,
}

impl Model for BpToy {
    type State = TableToy;
    type Action = ToyAction;
    type Property = &'static str;

    fn init_state(&self) -> TableToy {
        TableToy {
            pages: Table::new(1, 16),
            actors: Table::new(2, 3),
        }
    }

    fn actions(&self, state: &TableToy, out: &mut Vec<ToyAction>) {
        actions(state, self.k, out);
    }

    fn apply(&self, state: &mut TableToy, action: ToyAction, raised: &mut Vec<&'static str>) {
        state.checkpoint();
        if let Some(p) = step(state, action)
            && !page_ok(state.pages.get(p))
        {
            raised.push("pages ok");
        }
    }

    fn undo(&self, state: &mut TableToy) {
        state.rollback();
    }

    fn fingerprint(&self, state: &TableToy) -> u64 {
        state.fingerprint()
    }

    fn finish(&self, _: &TableToy, _: &mut Vec<&'static str>) {}

    fn encode_action(&self, (a, o): ToyAction) -> u32 {
        u32::from(a) << 8 | u32::from(o)
    }

    fn decode_action(&self, code: u32) -> Option<ToyAction> {
        let (a, o) = (code >> 8, code & 0xff);
        (a < 3 && o < u32::from(self.k)).then_some((a as u8, o as u8))
    }
}

/// The toy model at `k` outcomes per choice, explored `runs` times by each explorer
/// (interleaved): the summary line, with medians.
pub fn bench(k: u8, runs: u32) -> String {
    use biopin_explore::{Bounds, Strategy, explore};
    use stateright::{Checker, Model as _};
    let (mut st, mut bp) = (Vec::new(), Vec::new());
    let mut counts = None;
    for _ in 0..runs {
        let (s, secs) = crate::timed(|| StToy { k }.checker().threads(1).spawn_dfs().join());
        let s_counts = (s.unique_state_count() as u64, s.state_count() as u64);
        st.push(s_counts.0 as f64 / secs);
        let (e, secs) =
            crate::timed(|| explore(&BpToy { k }, Strategy::Dfs, Bounds::NONE, &mut |_| {}));
        let b_counts = (e.stats.unique, e.stats.states);
        assert_eq!(s_counts, b_counts, "the explorers disagree at k={k}");
        bp.push(b_counts.0 as f64 / secs);
        counts = Some(b_counts);
    }
    let (unique, generated) = counts.expect("at least one run");
    let (st, bp) = (crate::median(&mut st), crate::median(&mut bp));
    format!(
        "toy k={k} unique={unique} generated={generated} stateright_unique_per_s={st:.0} biopin_unique_per_s={bp:.0} ratio={:.2}",
        bp / st
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use biopin_explore::{Bounds, Strategy, explore};
    use stateright::{Checker, Model as _};

    /// The counts every correct explorer finds, exhaustively.
    const COUNTS: [(u8, u64, u64); 2] = [(2, 226_386, 468_385), (3, 690_948, 1_435_356)];

    #[test]
    fn both_explorers_find_the_known_counts() {
        for (k, unique, generated) in COUNTS {
            let e = explore(&BpToy { k }, Strategy::Dfs, Bounds::NONE, &mut |_| {});
            assert_eq!(
                (e.stats.unique, e.stats.states),
                (unique, generated),
                "k={k}"
            );
            assert!(e.discoveries.is_empty(), "the invariant holds");
            assert!(e.stats.max_depth <= 24);
            let s = StToy { k }.checker().spawn_dfs().join();
            assert_eq!(
                (s.unique_state_count() as u64, s.state_count() as u64),
                (unique, generated),
                "stateright, k={k}"
            );
        }
    }
}
