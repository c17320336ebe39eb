//! The kernel model as the explorer sees it, and checking a program under a design.

use biopin_explore::{
    Bounds, Exploration, Journaled, Model, Outcome, Stats, Strategy, Token, explore,
};

use crate::check::end_state;
use crate::design::Design;
use crate::exec;
use crate::gup::UserRange;
use crate::gup::{get_flags, gup_fast_keeps, pin_flags};
use crate::io::direct_io;
use crate::mm::{Events, Invariant};
use crate::pagecache::WbStage;
use crate::program::{ActorId, Cmd, Program, STEP_TABLE_VERSION};
use crate::reclaim::writeback::{
    check_lost_writes, needs_final_sync, next_writeback_page, under_writeback, waits_stable,
};
use crate::scenario::Verdict;
use crate::scenario::op::GupKind;
use crate::vm::Life;
use crate::vm::{Kernel, Pte, VmaKind};
use crate::world::{ActorState, Handle, World};

/// A step the explorer can take (docs/design.md): the next step of an actor, or a pending
/// device step (a request's transfer, a bio's completion, release or deferred work).
///
/// Encoded in schedules and tokens as the actor's index, or `actors.len() + k` for device
/// step `k`. Device steps are numbered once, when the scenario is compiled: each direct-I/O
/// op owns a range of ids ([`crate::program::IoDef::first_device`]), so an id names the same
/// step in every state and every run. The enabled list is ordered by encoding (actors by
/// index, then device steps by id), so "the least schedule" is well defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// The next step of this actor.
    Actor(ActorId),
    /// Device step `k`: its id, fixed when the scenario is compiled.
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
    /// done and its device work has completed; then every actor not done and not waiting, and
    /// every pending device step; once every actor is done and nothing is pending, the
    /// epilogue alone. Running alone, the prologue and the epilogue do not interleave with
    /// their own device work either: pending device steps run first, in id order. An actor waits for a
    /// handle another actor binds, for a child another actor forks, for `mmap_lock` while
    /// another actor's fork holds it (between fork's two steps only GUP-fast and device steps
    /// run on the parent), and for its direct I/O to complete.
    pub fn enabled(&self, world: &World, out: &mut Vec<Action>) {
        let p = self.program;
        let last = p.actors.len() - 1;
        let mut devices = Vec::new();
        for (o, def) in p.ios.iter().enumerate() {
            direct_io::pending(&world.io, o, def, &mut devices);
        }
        let wb_slots = if p.writes_back {
            world.cache.total_pages()
        } else {
            0
        };
        for slot in 0..wb_slots {
            let (f, i) = world.cache.file_page(slot);
            match world.cache.wb(f, i).stage {
                WbStage::Idle => {}
                WbStage::Submitted => devices.push(p.wb_device(slot, false)),
                WbStage::Transferred => devices.push(p.wb_device(slot, true)),
            }
        }
        let idle = devices.is_empty();
        let started = (1..last).any(|a| world.actors.get(a) != ActorState::default());
        let unfinished = (1..last).any(|a| !world.done(p, a));
        let epilogue_started = world.actors.get(last) != ActorState::default();
        // The prologue, and the epilogue, run alone: their device work runs as soon as it is
        // pending, in id order, before their next step — a path, not a tree.
        let alone = if !world.done(p, 0) || (!started && !idle) {
            Some(0)
        } else if !unfinished && (idle || epilogue_started) {
            Some(last)
        } else {
            None
        };
        if let Some(a) = alone {
            match devices.first() {
                Some(&d) => out.push(Action::Device(d)),
                None if !world.done(p, a) && !self.waiting(world, a) => out.push(Action::Actor(a)),
                None => {}
            }
            return;
        }
        for a in 1..last {
            if !world.done(p, a) && !self.waiting(world, a) {
                out.push(Action::Actor(a));
            }
        }
        out.extend(devices.into_iter().map(Action::Device));
    }

    /// Whether actor `a`'s next step must wait.
    fn waiting(&self, world: &World, a: ActorId) -> bool {
        let state = world.actors.get(a);
        let op = &self.program.actors[a].ops[state.pc as usize];
        if matches!(op.cmd, Cmd::Dio { .. }) && state.step > 0 {
            return true;
        }
        if self.sleeps(world, &op.cmd, state.step) {
            return true;
        }
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

    /// Whether the next step of an op sleeps on a folio: fsync waiting for a folio's writeback
    /// (`folio_wait_writeback`) or for the file's writeback to end, and a write to a page of a
    /// stable-writes file under writeback (`folio_wait_stable`: write(2), or a write fault
    /// through a shared mapping — a store, a GUP or direct I/O that writes, an RDMA
    /// registration).
    fn sleeps(&self, world: &World, cmd: &Cmd, step: u32) -> bool {
        let (cache, mem) = (&world.cache, &world.mem);
        match cmd {
            Cmd::Writeback { file, sync: true } => {
                match next_writeback_page(cache, mem, *file, step, true) {
                    Some(i) => under_writeback(cache, mem, *file, i),
                    None => cache.writeback_in_flight(*file),
                }
            }
            Cmd::Write { file, index, .. } => waits_stable(cache, mem, *file, *index),
            Cmd::Truncate { file, pages } => {
                (*pages..cache.file(*file).pages).any(|i| under_writeback(cache, mem, *file, i))
                    || self.program.ios.iter().enumerate().any(|(o, d)| {
                        d.file == *file && world.io.io(o).stage == crate::io::IoStage::InFlight
                    })
            }
            Cmd::Store(r, _) => self.fault_waits_stable(world, r),
            Cmd::Gup {
                range, write: true, ..
            } => self.fault_waits_stable(world, range),
            Cmd::RdmaReg(range, _) => self.fault_waits_stable(world, range),
            Cmd::Dio { io, .. } if step == 0 => {
                let def = &self.program.ios[*io];
                // kiocb_write_and_wait waits for the range's writeback; a read's extraction
                // write-faults like a store.
                let pages = (def.len - 1) / u64::from(crate::block::PAGE_SIZE) + 1;
                (def.file_page..def.file_page + pages as u32)
                    .any(|i| under_writeback(cache, mem, def.file, i))
                    || (!def.write && self.fault_waits_stable(world, &def.range))
            }
            _ => false,
        }
    }

    /// Whether a write to `r` would fault on a page of a stable-writes file's shared mapping
    /// that is under writeback, and so wait in `page_mkwrite` (`folio_wait_stable`).
    fn fault_waits_stable(&self, world: &World, r: &UserRange) -> bool {
        let l = world.vm.layout(r.task, r.vma);
        let Some((file, offset)) = l.file else {
            return false;
        };
        if l.kind != VmaKind::Shared || !world.cache.file(file).stable_writes {
            return false;
        }
        r.pages.clone().any(|page| {
            !matches!(
                world.vm.pte(r.task, r.vma, page),
                Pte::Present { write: true, .. }
            ) && waits_stable(&world.cache, &world.mem, file, offset + page)
        })
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
            Action::Device(k) => exec::device(self.program, &self.design, world, k, ev),
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
            let names: Vec<String> = p.files.iter().map(|f| f.name.clone()).collect();
            if needs_final_sync(&world.cache, &world.mem) {
                let mut synced = world.clone();
                let World { mem, vm, cache, .. } = &mut synced;
                Kernel {
                    mem,
                    vm,
                    cache,
                    design: &self.design,
                    ev,
                }
                .final_sync();
                check_lost_writes(&synced.cache, &synced.mem, &names, ev);
                end_state(p, &self.design, &synced, ev);
            } else {
                check_lost_writes(&world.cache, &world.mem, &names, ev);
                end_state(p, &self.design, world, ev);
            }
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

/// What the I/O of one path cost: atomic updates of `_refcount` and `_pincount` made on
/// behalf of I/O (direct I/O's extraction and release, RDMA registration and
/// deregistration; not the `get` and `pin` ops, which a scenario calls itself), and the pages
/// of I/O done (pages a transfer moved, pages a registration took).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Atomic updates of `_refcount` and `_pincount`.
    pub ref_ops: u64,
    /// Pages of I/O.
    pub io_pages: u64,
}

impl Cost {
    /// `ref_ops` a page of I/O, if any I/O was done.
    pub fn per_page(&self) -> Option<f64> {
        (self.io_pages > 0).then(|| self.ref_ops as f64 / self.io_pages as f64)
    }
}

/// The least complete schedule of `program` under `design` — at every step the least enabled
/// action, actors before devices, to the end of the path — and what its I/O cost. Every
/// design's figure is taken along the same rule, so figures compare designs, not schedules.
pub fn least_schedule(program: &Program, design: Design) -> (Vec<u32>, Cost) {
    let path = walk_least(program, design, Events::quiet);
    (path.schedule, path.cost)
}

/// The least complete schedule ([`least_schedule`]), its cost, and the ops on it that failed
/// with an errno the scenario did not expect or were skipped ([`Events::failures`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeastPath {
    /// The schedule, as encoded actions.
    pub schedule: Vec<u32>,
    /// Its I/O cost.
    pub cost: Cost,
    /// Its unexpected failures and skips, in order, each in a sentence.
    pub failures: Vec<String>,
}

/// Runs [`least_schedule`]'s path with a detailed record.
pub fn least_path(program: &Program, design: Design) -> LeastPath {
    walk_least(program, design, Events::detailed)
}

/// The least path, each step recorded by a fresh `record()` (failures are kept only by a
/// detailed one).
fn walk_least(program: &Program, design: Design, record: fn() -> Events) -> LeastPath {
    let model = KernelModel::new(program, design);
    let mut world = World::new(program);
    let mut path = LeastPath::default();
    let mut enabled = Vec::new();
    loop {
        enabled.clear();
        model.enabled(&world, &mut enabled);
        let Some(&action) = enabled.first() else {
            break;
        };
        let mut ev = record();
        model.step(&mut world, action, &mut ev);
        world.commit();
        path.cost.ref_ops += ev.ref_ops;
        path.cost.io_pages += ev.io_pages;
        path.failures.append(&mut ev.failures);
        path.schedule.push(model.encode_action(action));
    }
    // The end of the path: the final sync's I/O counts too.
    let mut ev = Events::quiet();
    KernelModel::finish(&model, &world, &mut ev);
    path.cost.ref_ops += ev.ref_ops;
    path.cost.io_pages += ev.io_pages;
    path
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
    /// The I/O cost along the least complete schedule ([`least_schedule`]).
    pub cost: Cost,
    /// What failed or was skipped along that schedule without being expected
    /// ([`LeastPath::failures`]).
    pub failures: Vec<String>,
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
    let LeastPath { cost, failures, .. } = least_path(program, design);
    Cell {
        design,
        verdict: found.iter().map(|f| f.id).collect(),
        expected: program.expected(&design),
        found,
        stats,
        outcome,
        cost,
        failures,
    }
}
