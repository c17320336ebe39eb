//! The mutable state of one run: frames, tasks, handles and each actor's place. Only the
//! world is hashed and compared (DESIGN.md §2).

use crate::gup::{FastGup, GupRefs, PinnedPages};
use crate::mm::{MemMap, Pfn};
use crate::program::Program;
use crate::vm::{Mm, Task, Vma};

/// What a handle holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Holding {
    /// References from `get`.
    Refs(GupRefs),
    /// Pins from `pin`.
    Pins(PinnedPages),
}

impl Holding {
    /// The pages held.
    pub fn pages(&self) -> &[Pfn] {
        match self {
            Holding::Refs(r) => &r.pages,
            Holding::Pins(p) => &p.pages,
        }
    }

    /// How many calls took them.
    pub fn calls(&self) -> u64 {
        match self {
            Holding::Refs(r) => r.calls,
            Holding::Pins(p) => p.calls,
        }
    }
}

/// A handle's life cycle (DESIGN.md §5): unbound, held or released; or its bind failed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Handle {
    /// Its op has not run.
    Unbound,
    /// Its op took nothing (every call failed): steps naming it are skipped.
    Failed,
    /// It holds what its op took.
    Held {
        /// What it holds.
        holding: Holding,
        /// Indices of held pages whose folio was freed under the handle (a broken count):
        /// using them is a use-after-free.
        dangling: Vec<u32>,
    },
    /// It was released.
    Released,
}

/// Where an actor is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ActorState {
    /// The op it runs next.
    pub pc: u32,
    /// The step of that op it runs next.
    pub step: u8,
    /// GUP-fast's first half, between its two steps.
    pub fast: Option<Box<FastGup>>,
}

/// Everything that changes during a run.
///
/// # Invariants
///
/// `handles` and `actors` have one entry per handle and actor of the program the world was
/// made for, in its order; `tasks` one per process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct World {
    /// Page frames.
    pub mem: MemMap,
    /// Tasks, in the scenario's order.
    pub tasks: Vec<Task>,
    /// Handles, in the program's order.
    pub handles: Vec<Handle>,
    /// Actors, in the program's order (prologue first, epilogue last).
    pub actors: Vec<ActorState>,
}

impl World {
    /// The initial world of `program`: every frame free, every VMA unpopulated.
    pub fn new(program: &Program) -> World {
        let tasks = program
            .processes
            .iter()
            .map(|p| Task {
                alive: true,
                mm: Mm {
                    vmas: p
                        .vmas
                        .iter()
                        .map(|v| {
                            let order = if v.huge {
                                v.pages.trailing_zeros() as u8
                            } else {
                                0
                            };
                            Vma::new(v.kind, v.pages, v.prot, order)
                        })
                        .collect(),
                    write_protect_seq: 0,
                },
            })
            .collect();
        World {
            mem: MemMap::new(program.machine.frames, program.machine.movable),
            tasks,
            handles: vec![Handle::Unbound; program.handles.len()],
            actors: vec![ActorState::default(); program.actors.len()],
        }
    }

    /// Whether the actor has run all its ops.
    pub fn done(&self, program: &Program, actor: usize) -> bool {
        self.actors[actor].pc as usize >= program.actors[actor].ops.len()
    }
}
