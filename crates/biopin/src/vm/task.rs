//! Tasks, their address spaces and page tables (include/linux/mm_types.h `mm_struct`,
//! `vm_area_struct`; a PTE per page).

use crate::design::Design;
use crate::mm::{Events, MemMap, Pfn};

/// A task's index in the world.
pub type TaskId = usize;
/// A VMA's index in its task's address space.
pub type VmaId = usize;

/// A VMA's protection (`VM_READ`, `VM_WRITE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prot {
    /// `PROT_READ`.
    R,
    /// `PROT_READ | PROT_WRITE`.
    Rw,
}

impl Prot {
    /// The name in scenarios (`r`, `rw`).
    pub fn name(self) -> &'static str {
        match self {
            Prot::R => "r",
            Prot::Rw => "rw",
        }
    }
}

/// What a VMA maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VmaKind {
    /// `MAP_PRIVATE | MAP_ANONYMOUS`: a COW mapping of anonymous memory.
    Anon,
}

/// A page-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pte {
    /// `pte_none`: nothing mapped yet.
    None,
    /// A present PTE mapping `pfn`, writable or not. A present PTE of a normal page holds one
    /// reference on its folio and one on the page's mapcount; one of the zero page holds
    /// neither (`pte_special`).
    Present {
        /// The frame mapped.
        pfn: Pfn,
        /// `pte_write`.
        write: bool,
    },
    /// A present PTE whose folio was freed under it (only a broken count can do that): any
    /// access through it is a use-after-free.
    Dangling {
        /// The frame it still names.
        pfn: Pfn,
    },
}

/// A virtual memory area and its page table.
///
/// # Invariants
///
/// `ptes.len()` is the VMA's page count. A huge VMA (`order > 0`) is backed at first touch by
/// one folio of that order, every PTE mapping it; later COW may map small copies over some of
/// its pages, and munmap or exit clears them all.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Vma {
    /// Whether the VMA exists (false after munmap or exit).
    pub mapped: bool,
    /// Its protection.
    pub prot: Prot,
    /// What it maps.
    pub kind: VmaKind,
    /// The order of the one large folio that backs it, or 0 for small folios.
    pub order: u8,
    /// One PTE per page.
    pub ptes: Vec<Pte>,
}

impl Vma {
    /// A new, unpopulated VMA.
    pub fn new(kind: VmaKind, pages: u32, prot: Prot, order: u8) -> Vma {
        Vma {
            mapped: true,
            prot,
            kind,
            order,
            ptes: vec![Pte::None; pages as usize],
        }
    }
}

/// An address space (`struct mm_struct`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mm {
    /// Its VMAs, in the scenario's order.
    pub vmas: Vec<Vma>,
    /// `mm->write_protect_seq`: odd while fork write-protects the parent (57efa1fe5957).
    pub write_protect_seq: u32,
}

/// A task (`struct task_struct`), as far as its memory goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Task {
    /// False once it has exited.
    pub alive: bool,
    /// Its address space.
    pub mm: Mm,
}

/// The kernel as one step sees it: memory, tasks, the design in force and the record of what
/// the step raises.
pub struct Kernel<'a> {
    /// Every page frame.
    pub mem: &'a mut MemMap,
    /// Every task.
    pub tasks: &'a mut [Task],
    /// The design in force.
    pub design: &'a Design,
    /// What the step raises.
    pub ev: &'a mut Events,
}

impl Kernel<'_> {
    /// The VMA if its task is alive and it is mapped.
    pub fn vma(&self, task: TaskId, vma: VmaId) -> Option<&Vma> {
        let t = &self.tasks[task];
        let v = &t.mm.vmas[vma];
        (t.alive && v.mapped).then_some(v)
    }

    pub(crate) fn vma_mut(&mut self, task: TaskId, vma: VmaId) -> &mut Vma {
        &mut self.tasks[task].mm.vmas[vma]
    }

    /// The PTE of page `page` of a VMA.
    pub fn pte(&self, task: TaskId, vma: VmaId, page: u32) -> Pte {
        self.tasks[task].mm.vmas[vma].ptes[page as usize]
    }

    pub(crate) fn set_pte(&mut self, task: TaskId, vma: VmaId, page: u32, pte: Pte) {
        self.vma_mut(task, vma).ptes[page as usize] = pte;
    }
}
