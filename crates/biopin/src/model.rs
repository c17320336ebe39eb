//! The kernel model as the explorer sees it, and checking a program under a design.

use biopin_explore::{Bounds, Exploration, Model, Outcome, Stats, Strategy, Token, explore};

use crate::check::end_state;
use crate::design::Design;
use crate::exec;
use crate::mm::{Events, Invariant};
use crate::program::{ActorId, Program, STEP_TABLE_VERSION};
use crate::scenario::Verdict;
use crate::world::{Handle, World};

/// A program under one design, explorable.
#[derive(Clone, Copy, Debug)]
pub struct KernelModel<'p> {
    /// The program.
    pub program: &'p Program,
    /// The design in force.
    pub design: Design,
}

impl<'p> KernelModel<'p> {
    /// The program under `design`.
    pub fn new(program: &'p Program, design: Design) -> Self {
        KernelModel { program, design }
    }

    /// The actors that can take a step, in order (DESIGN.md §2): the prologue alone until it
    /// is done, then every actor not done and not waiting for a handle another actor binds,
    /// then the epilogue alone.
    pub fn enabled(&self, world: &World, out: &mut Vec<ActorId>) {
        let p = self.program;
        let last = p.actors.len() - 1;
        if !world.done(p, 0) {
            out.push(0);
            return;
        }
        let mut unfinished = false;
        for a in 1..last {
            if world.done(p, a) {
                continue;
            }
            unfinished = true;
            let op = &p.actors[a].ops[world.actors[a].pc as usize];
            let waiting = op
                .waits_for
                .is_some_and(|h| world.handles[h] == Handle::Unbound);
            if !waiting {
                out.push(a);
            }
        }
        if !unfinished && !world.done(p, last) {
            out.push(last);
        }
    }

    /// Runs one step of `actor` on a copy of `world`.
    pub fn step(&self, world: &World, actor: ActorId, ev: &mut Events) -> World {
        let mut next = world.clone();
        exec::step(self.program, &self.design, &mut next, actor, ev);
        next
    }

    /// The end of a path: the end-state checks if every actor is done, else `deadlock`.
    pub fn finish(&self, world: &World, ev: &mut Events) {
        let p = self.program;
        let stuck: Vec<&str> = (0..p.actors.len())
            .filter(|&a| !world.done(p, a))
            .map(|a| p.actors[a].name.as_str())
            .collect();
        if stuck.is_empty() {
            end_state(p, &self.design, world, ev);
        } else {
            ev.raise(Invariant::Deadlock, || {
                format!("no step is enabled and {} not finished", stuck.join(", "))
            });
        }
    }
}

fn push_unique(raised: &mut Vec<Invariant>, ev: &Events) {
    for &(id, _) in &ev.raised {
        if !raised.contains(&id) {
            raised.push(id);
        }
    }
}

impl Model for KernelModel<'_> {
    type State = World;
    type Action = ActorId;
    type Property = Invariant;

    fn init_state(&self) -> World {
        World::new(self.program)
    }

    fn actions(&self, state: &World, actions: &mut Vec<ActorId>) {
        self.enabled(state, actions);
    }

    fn next_state(&self, state: &World, action: ActorId, raised: &mut Vec<Invariant>) -> World {
        let mut ev = Events::quiet();
        let next = self.step(state, action, &mut ev);
        push_unique(raised, &ev);
        next
    }

    fn finish(&self, state: &World, raised: &mut Vec<Invariant>) {
        let mut ev = Events::quiet();
        KernelModel::finish(self, state, &mut ev);
        push_unique(raised, &ev);
    }

    fn encode_action(&self, action: ActorId) -> u32 {
        action as u32
    }

    fn decode_action(&self, code: u32) -> Option<ActorId> {
        ((code as usize) < self.program.actors.len()).then_some(code as usize)
    }
}

/// A violation found under one design: the shortest schedule to it and its replay token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The invariant.
    pub id: Invariant,
    /// Actor indices, one per step.
    pub schedule: Vec<u32>,
    /// Raised by the end-of-path checks rather than by the last step.
    pub at_end: bool,
    /// `biopin replay FILE TOKEN` reproduces it.
    pub token: String,
}

/// One scenario checked under one design.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The design.
    pub design: Design,
    /// The union of violations over every explored path.
    pub verdict: Verdict,
    /// What `[expect]` says (`ok` when it says nothing).
    pub expected: Verdict,
    /// Each violation with its shortest schedule.
    pub found: Vec<Found>,
    /// Exploration statistics.
    pub stats: Stats,
    /// Whether the exploration was exhaustive.
    pub outcome: Outcome,
}

/// How a cell compares with its expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// Exhaustive, and the verdict is the expected one.
    Expected,
    /// The verdict differs: an unexpected violation, or (exhaustively) a missing one.
    Mismatch,
    /// A bound stopped the run before every expected violation was found.
    Incomplete,
}

impl Cell {
    /// How the verdict compares with the expectation.
    pub fn matches(&self) -> Match {
        match self.outcome {
            Outcome::Complete if self.verdict == self.expected => Match::Expected,
            Outcome::Complete => Match::Mismatch,
            Outcome::Incomplete(_) if !self.verdict.is_subset(&self.expected) => Match::Mismatch,
            Outcome::Incomplete(_) => Match::Incomplete,
        }
    }
}

/// The replay token of `schedule` for `program` under `design`.
pub fn token(program: &Program, design: &Design, schedule: Vec<u32>) -> String {
    Token {
        input_hash: program.source.hash,
        step_table: STEP_TABLE_VERSION,
        config: design.canonical(),
        schedule,
    }
    .encode()
}

/// Checks `program` under `design`: explores every interleaving (within `bounds`) and
/// compares the verdict with `[expect]`.
pub fn check(
    program: &Program,
    design: Design,
    strategy: Strategy,
    bounds: Bounds,
    progress: &mut dyn FnMut(&Stats),
) -> Cell {
    let model = KernelModel::new(program, design);
    let Exploration {
        discoveries,
        stats,
        outcome,
    } = explore(&model, strategy, bounds, progress);
    let found: Vec<Found> = discoveries
        .into_iter()
        .map(|(id, d)| {
            let schedule: Vec<u32> = d.path.iter().map(|&a| a as u32).collect();
            Found {
                id,
                token: token(program, &design, schedule.clone()),
                schedule,
                at_end: d.at_end,
            }
        })
        .collect();
    Cell {
        design,
        verdict: found.iter().map(|f| f.id).collect(),
        expected: program.expected(&design),
        found,
        stats,
        outcome,
    }
}
