//! The mutable state of one run: frames, address spaces, handles and each actor's place. Only
//! the world is fingerprinted and compared (docs/design.md), and it is written only through
//! [`biopin_explore::Table`]s ([`crate::state`] lists them), so that the explorer can
//! fingerprint a step by what it wrote and undo it in place.

use biopin_explore::{Journaled, Record, Table, journaled};

use crate::gup::FastGup;
use crate::io::Ios;
use crate::mm::{MemMap, Pfn};
use crate::pagecache::{FileShape, PageCache};
use crate::program::{ActorId, HandleId, Program};
use crate::state::TableId;
use crate::vm::{Pte, Vm, VmaShape};

/// A handle's life cycle (docs/scenarios.md): unbound, held or released; or its bind failed. What
/// it holds (references or pins) is its op's kind, in the program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Handle {
    /// Its op has not run.
    #[default]
    Unbound,
    /// Its op took nothing (every call failed): steps naming it are skipped.
    Failed,
    /// It holds what its op took: each of its pages `calls` times.
    Held {
        /// How many successful calls took the pages.
        calls: u64,
    },
    /// It was released (each of its pages `calls` times): it still names its pages, which a
    /// second release drops again.
    Released {
        /// How many calls took the pages.
        calls: u64,
    },
}

impl Record for Handle {
    fn pack(self) -> u128 {
        match self {
            Handle::Unbound => 0,
            Handle::Failed => 1,
            Handle::Held { calls } => 2 | u128::from(calls) << 2,
            Handle::Released { calls } => 3 | u128::from(calls) << 2,
        }
    }
}

/// One page a handle covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeldPage {
    /// The frame the address resolved to.
    pub pfn: Pfn,
    /// Its folio was freed under the handle (a broken count, or after a release): using it is
    /// a use-after-free.
    pub dangling: bool,
    /// A pin on it was found unreliable (`pin-unreliable`): reported once.
    pub unreliable: bool,
}

impl Record for HeldPage {
    fn pack(self) -> u128 {
        u128::from(self.pfn.0) | u128::from(self.dangling) << 32 | u128::from(self.unreliable) << 33
    }
}

/// Where an actor is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActorState {
    /// The op it runs next.
    pub pc: u32,
    /// The step of that op it runs next.
    pub step: u32,
}

impl Record for ActorState {
    fn pack(self) -> u128 {
        u128::from(self.pc) | u128::from(self.step) << 32
    }
}

/// The fixed part of an actor's GUP-fast between its two steps ([`FastGup`] without its
/// pages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FastHeader {
    active: bool,
    refused: bool,
    seq: u32,
    /// Pages read (the op's range).
    len: u32,
    calls: u64,
}

impl Record for FastHeader {
    fn pack(self) -> u128 {
        u128::from(self.active)
            | u128::from(self.refused) << 1
            | u128::from(self.seq) << 2
            | u128::from(self.len) << 34
            | u128::from(self.calls) << 64
    }
}

/// One PTE an actor's GUP-fast read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FastPage {
    pte: Pte,
    freed: bool,
}

impl Record for FastPage {
    fn pack(self) -> u128 {
        self.pte.pack() | u128::from(self.freed) << 64
    }
}

/// Every handle's state and pages.
///
/// # Invariants
///
/// Handle `h`'s pages are `pages[base[h]..base[h + 1]]`, as many as its op's range covers;
/// they are default unless the handle is held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handles {
    state: Table<Handle>,
    pages: Table<HeldPage>,
    base: Vec<u32>,
}

journaled!(Handles { state, pages });

impl Handles {
    fn new(program: &Program) -> Handles {
        let base = offsets(program.handles.iter().map(|h| h.pages));
        Handles {
            state: Table::new(TableId::Handles.id(), program.handles.len()),
            pages: Table::new(TableId::HandlePages.id(), *base.last().unwrap() as usize),
            base,
        }
    }

    /// A handle's state.
    #[inline]
    pub fn state(&self, h: HandleId) -> Handle {
        self.state.get(h)
    }

    /// The pages a handle holds (default records unless it is held).
    pub fn pages(&self, h: HandleId) -> &[HeldPage] {
        &self.pages.as_slice()[self.base[h] as usize..self.base[h + 1] as usize]
    }

    /// The handles whose state or pages changed since the latest checkpoint, in order.
    pub fn changed_since_checkpoint(&self) -> Vec<HandleId> {
        let mut out: Vec<HandleId> = self.state.changed().iter().map(|&(h, _)| h).collect();
        for (slot, _) in self.pages.changed() {
            out.push(self.base.partition_point(|&b| b as usize <= slot) - 1);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The handle took `pages`, `calls` times each.
    pub(crate) fn bind(&mut self, h: HandleId, calls: u64, pages: &[Pfn]) {
        debug_assert_eq!(pages.len(), self.pages(h).len());
        self.state.set(h, Handle::Held { calls });
        for (i, &pfn) in pages.iter().enumerate() {
            let slot = self.base[h] as usize + i;
            self.pages.set(
                slot,
                HeldPage {
                    pfn,
                    ..HeldPage::default()
                },
            );
        }
    }

    /// Page `i` of the handle was found unreliable.
    pub(crate) fn mark_unreliable(&mut self, h: HandleId, i: usize) {
        let slot = self.base[h] as usize + i;
        self.pages.update(slot, |p| p.unreliable = true);
    }

    /// The handle's op took nothing.
    pub(crate) fn fail(&mut self, h: HandleId) {
        self.state.set(h, Handle::Failed);
    }

    /// The handle was released: it holds nothing any more, but still names its pages.
    pub(crate) fn release(&mut self, h: HandleId) {
        let calls = match self.state.get(h) {
            Handle::Held { calls } | Handle::Released { calls } => calls,
            Handle::Unbound | Handle::Failed => 0,
        };
        self.state.set(h, Handle::Released { calls });
    }

    /// Marks every page in `freed` that a held or released handle names dangling.
    fn mark_dangling(&mut self, freed: &std::ops::Range<u32>) {
        for h in 0..self.state.len() {
            if !matches!(
                self.state.get(h),
                Handle::Held { .. } | Handle::Released { .. }
            ) {
                continue;
            }
            for slot in self.base[h] as usize..self.base[h + 1] as usize {
                let page = self.pages.get(slot);
                if freed.contains(&page.pfn.0) && !page.dangling {
                    self.pages.set(
                        slot,
                        HeldPage {
                            dangling: true,
                            ..page
                        },
                    );
                }
            }
        }
    }
}

/// Every actor's place, and its GUP-fast between the two steps.
///
/// # Invariants
///
/// Actor `a`'s GUP-fast pages are `fast_pages[base[a]..base[a + 1]]`, as many as its largest
/// fast op covers; header and pages are default unless a GUP-fast is between its steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actors {
    state: Table<ActorState>,
    fast: Table<FastHeader>,
    fast_pages: Table<FastPage>,
    base: Vec<u32>,
}

journaled!(Actors {
    state,
    fast,
    fast_pages
});

impl Actors {
    fn new(program: &Program) -> Actors {
        let base = offsets(program.actors.iter().map(|a| {
            a.ops
                .iter()
                .map(|op| op.cmd.fast_pages())
                .max()
                .unwrap_or(0)
        }));
        Actors {
            state: Table::new(TableId::Actors.id(), program.actors.len()),
            fast: Table::new(TableId::FastGup.id(), program.actors.len()),
            fast_pages: Table::new(TableId::FastPages.id(), *base.last().unwrap() as usize),
            base,
        }
    }

    /// Where an actor is.
    #[inline]
    pub fn get(&self, a: ActorId) -> ActorState {
        self.state.get(a)
    }

    pub(crate) fn set(&mut self, a: ActorId, state: ActorState) {
        self.state.set(a, state);
    }

    /// The actor's GUP-fast between its two steps, if one is.
    pub fn fast(&self, a: ActorId) -> Option<FastGup> {
        let header = self.fast.get(a);
        if !header.active {
            return None;
        }
        let pages = &self.fast_pages.as_slice()[self.base[a] as usize..][..header.len as usize];
        Some(FastGup {
            seq: header.seq,
            ptes: pages.iter().map(|p| p.pte).collect(),
            pages: pages
                .iter()
                .map(|p| match p.pte {
                    Pte::Present { pfn, .. } => pfn,
                    _ => unreachable!("GUP-fast keeps only present PTEs"),
                })
                .collect(),
            calls: header.calls,
            refused: header.refused,
            freed: (0..pages.len() as u32)
                .filter(|&i| pages[i as usize].freed)
                .collect(),
        })
    }

    /// Keeps (or, with `None`, clears) the actor's GUP-fast between its two steps.
    pub(crate) fn set_fast(&mut self, a: ActorId, grab: Option<&FastGup>) {
        let base = self.base[a] as usize;
        let old = self.fast.get(a).len as usize;
        for slot in base..base + old {
            self.fast_pages.set(slot, FastPage::default());
        }
        let Some(g) = grab else {
            self.fast.set(a, FastHeader::default());
            return;
        };
        self.fast.set(
            a,
            FastHeader {
                active: true,
                refused: g.refused,
                seq: g.seq,
                len: g.ptes.len() as u32,
                calls: g.calls,
            },
        );
        for (i, &pte) in g.ptes.iter().enumerate() {
            self.fast_pages.set(
                base + i,
                FastPage {
                    pte,
                    freed: g.freed.contains(&(i as u32)),
                },
            );
        }
    }

    /// Marks every grabbed page in `freed` as freed under its GUP-fast.
    fn mark_freed(&mut self, freed: &std::ops::Range<u32>) {
        for a in 0..self.fast.len() {
            if !self.fast.get(a).active {
                continue;
            }
            let base = self.base[a] as usize;
            for slot in base..base + self.fast.get(a).len as usize {
                let page = self.fast_pages.get(slot);
                if let Pte::Present { pfn, .. } = page.pte
                    && freed.contains(&pfn.0)
                    && !page.freed
                {
                    self.fast_pages.set(
                        slot,
                        FastPage {
                            freed: true,
                            ..page
                        },
                    );
                }
            }
        }
    }
}

/// Running offsets: `[0, n0, n0 + n1, …]`.
fn offsets(sizes: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut out = vec![0];
    for n in sizes {
        out.push(out.last().unwrap() + n);
    }
    out
}

/// Everything that changes during a run.
///
/// # Invariants
///
/// `handles` and `actors` have one entry per handle and actor of the program the world was
/// made for, in its order; `vm` one task per process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct World {
    /// Page frames.
    pub mem: MemMap,
    /// Every task's address space.
    pub vm: Vm,
    /// Every file's page cache and disk blocks.
    pub cache: PageCache,
    /// Handles, in the program's order.
    pub handles: Handles,
    /// Actors, in the program's order (prologue first, epilogue last).
    pub actors: Actors,
    /// Direct I/O, in the program's order: bios in flight and the pages they hold.
    pub io: Ios,
}

journaled!(World {
    mem,
    vm,
    cache,
    handles,
    actors,
    io
});

impl World {
    /// The initial world of `program`: every frame free, every VMA unpopulated.
    pub fn new(program: &Program) -> World {
        let tasks: Vec<Vec<VmaShape>> = program
            .processes
            .iter()
            .map(|p| {
                p.vmas
                    .iter()
                    .map(|v| VmaShape {
                        kind: v.kind,
                        file: v.file.as_ref().map(|name| {
                            let f = program
                                .files
                                .iter()
                                .position(|f| f.name == *name)
                                .expect("checked when compiled");
                            (f, v.offset)
                        }),
                        pages: v.pages,
                        prot: v.prot,
                        order: if v.huge {
                            v.pages.trailing_zeros() as u8
                        } else {
                            0
                        },
                    })
                    .collect()
            })
            .collect();
        let mut world = World {
            mem: MemMap::new(program.machine.frames, program.machine.movable),
            vm: Vm::new(
                &program
                    .processes
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>(),
                &tasks,
                &program.parents,
            ),
            cache: PageCache::new(
                &program
                    .files
                    .iter()
                    .map(|f| FileShape {
                        pages: f.pages,
                        fs: f.fs,
                        init: f.init,
                        stable_writes: f.stable_writes,
                    })
                    .collect::<Vec<_>>(),
            ),
            handles: Handles::new(program),
            actors: Actors::new(program),
            io: Ios::new(program),
        };
        world.commit();
        world
    }

    /// Whether the actor has run all its ops.
    pub fn done(&self, program: &Program, actor: ActorId) -> bool {
        self.actors.get(actor).pc as usize >= program.actors[actor].ops.len()
    }

    /// Marks every reference to a folio freed during the step dangling: PTEs, handle pages and
    /// GUP-fast grabs that still name it (only a broken count frees a folio that is still
    /// referenced). A frame allocated again within the same step is left alone.
    pub(crate) fn mark_dangling(&mut self, freed: &[(Pfn, u8)]) {
        for &(head, order) in freed {
            if self.mem.in_use(head) {
                continue;
            }
            let range = head.0..head.0 + (1 << order);
            for slot in 0..self.vm.all_ptes().len() {
                if let Pte::Present { pfn, .. } = self.vm.all_ptes()[slot]
                    && range.contains(&pfn.0)
                {
                    self.vm.set_pte_slot(slot, Pte::Dangling { pfn });
                }
            }
            self.handles.mark_dangling(&range);
            self.actors.mark_freed(&range);
            self.io.mark_dangling(&range);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_distinct() {
        let program = crate::scenario::ScenarioBuilder::new("t")
            .process("app", |p| p.anon("buf", 1))
            .actor("a", ["store app:buf[0] 1"])
            .build()
            .unwrap();
        let mut ids = Vec::new();
        World::new(&program).table_ids(&mut ids);
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "table ids {ids:?}");
        assert_eq!(ids.len(), 21, "a table was added: list it in crate::state");
    }
}
