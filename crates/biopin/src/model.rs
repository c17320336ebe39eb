//! The kernel model as the explorer sees it, and checking a program under a design.

use biopin_explore::{
    Bounds, Exploration, Journaled, Model, Outcome, Stats, Strategy, Token, explore,
};

use crate::check::end_state;
use crate::design::Design;
use crate::exec;
use crate::gup::{get_flags, gup_fast_keeps, pin_flags};
use crate::mm::{Events, Invariant};
use crate::program::{ActorId, Cmd, Program, STEP_TABLE_VERSION};
use crate::scenario::Verdict;
use crate::scenario::op::GupKind;
use crate::vm::Life;
use crate::world::{Handle, World};

/// A step the explorer can take (docs/design.md): the next step of an actor, or a pending
/// device item (a bio's transfer or completion, deferred work; these arrive with the block
/// layer).
///
/// Encoded in schedules and tokens as the actor's index, or `actors.len() + k` for the k-th
/// pending device item in submission order; the enabled list is ordered the same way (actors
/// by index, then device items), so "the least schedule" compares encoded actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// The next step of this actor.
    Actor(ActorId),
    /// The k-th pending device item, in submission order.
    Device(u32),
}

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

    /// The steps that can be taken, in order (docs/design.md): the prologue alone until it is
    /// done, then every actor not done and not waiting, then the epilogue alone. An actor
    /// waits for a handle another actor binds, for a child another actor forks, and for
    /// `mmap_lock` while another actor's fork holds it (between fork's two steps only GUP-fast
    /// and device steps run on the parent). No device work is modelled yet, so no
    /// [`Action::Device`] is ever enabled.
    pub fn enabled(&self, world: &World, out: &mut Vec<Action>) {
        let p = self.program;
        let last = p.actors.len() - 1;
        if !world.done(p, 0) {
            out.push(Action::Actor(0));
            return;
        }
        let mut unfinished = false;
        for a in 1..last {
            if world.done(p, a) {
                continue;
            }
            unfinished = true;
            if !self.waiting(world, a) {
                out.push(Action::Actor(a));
            }
        }
        if !unfinished && !world.done(p, last) {
            out.push(Action::Actor(last));
        }
    }

    /// Whether actor `a`'s next step must wait.
    fn waiting(&self, world: &World, a: ActorId) -> bool {
        let state = world.actors.get(a);
        let op = &self.program.actors[a].ops[state.pc as usize];
        if op
            .waits_for
            .is_some_and(|h| world.handles.state(h) == Handle::Unbound)
            || op
                .waits_for_task
                .is_some_and(|t| world.vm.task(t).life == Life::Unborn)
        {
            return true;
        }
        let locked = match &op.cmd {
            Cmd::Gup {
                fast: true,
                range,
                write,
                longterm,
                kind,
                ..
            } if state.step == 1 => {
                let flags = match kind {
                    GupKind::Get => get_flags(*write, *longterm),
                    GupKind::Pin => pin_flags(*write, *longterm),
                };
                let keeps = world.actors.fast(a).is_some_and(|g| {
                    gup_fast_keeps(&world.vm, &world.mem, &self.design, range, flags, &g)
                });
                (!keeps).then_some(range.task)
            }
            cmd => cmd.mmap_lock(state.step),
        };
        locked.is_some_and(|t| world.vm.task(t).forking() && !self.forks(world, a, t))
    }

    /// Whether actor `a` is the one forking task `t` (between its fork's two steps).
    fn forks(&self, world: &World, a: ActorId, t: usize) -> bool {
        let state = world.actors.get(a);
        matches!(
            self.program.actors[a].ops[state.pc as usize].cmd,
            Cmd::Fork { parent, .. } if parent == t && state.step == 1
        )
    }

    /// Takes one enabled step in `world`, in place, recording what it raises in `ev`.
    pub fn step(&self, world: &mut World, action: Action, ev: &mut Events) {
        match action {
            Action::Actor(actor) => exec::step(self.program, &self.design, world, actor, ev),
            Action::Device(k) => unreachable!("device item {k} taken, but none is ever enabled"),
        }
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
    type Action = Action;
    type Property = Invariant;

    fn init_state(&self) -> World {
        World::new(self.program)
    }

    fn actions(&self, state: &World, actions: &mut Vec<Action>) {
        self.enabled(state, actions);
    }

    fn apply(&self, state: &mut World, action: Action, raised: &mut Vec<Invariant>) {
        let mut ev = Events::quiet();
        state.checkpoint();
        self.step(state, action, &mut ev);
        push_unique(raised, &ev);
    }

    fn undo(&self, state: &mut World) {
        state.rollback();
    }

    fn fingerprint(&self, state: &World) -> u64 {
        state.fingerprint()
    }

    fn finish(&self, state: &World, raised: &mut Vec<Invariant>) {
        let mut ev = Events::quiet();
        KernelModel::finish(self, state, &mut ev);
        push_unique(raised, &ev);
    }

    fn encode_action(&self, action: Action) -> u32 {
        match action {
            Action::Actor(a) => a as u32,
            Action::Device(k) => self.program.actors.len() as u32 + k,
        }
    }

    fn decode_action(&self, code: u32) -> Option<Action> {
        let actors = self.program.actors.len() as u32;
        Some(if code < actors {
            Action::Actor(code as usize)
        } else {
            Action::Device(code - actors)
        })
    }
}

/// A violation found under one design: the shortest schedule to it and its replay token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The invariant.
    pub id: Invariant,
    /// Encoded actions ([`Action`]), one per step.
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
            let schedule: Vec<u32> = d.path.iter().map(|&a| model.encode_action(a)).collect();
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
