//! Tasks, their address spaces and page tables (include/linux/mm_types.h `mm_struct`,
//! `vm_area_struct`; a PTE per page).

use biopin_explore::{Record, Table, journaled};

use crate::design::Design;
use crate::mm::{Events, MemMap, Pfn};
use crate::pagecache::{FileId, PageCache};
use crate::state::TableId;

/// A task's index in the world.
pub type TaskId = usize;
/// A VMA's index in its task's address space.
pub type VmaId = usize;

/// A VMA's protection (`VM_READ`, `VM_WRITE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaKind {
    /// `MAP_PRIVATE | MAP_ANONYMOUS`: a COW mapping of anonymous memory.
    Anon,
    /// `MAP_SHARED` of a file: its PTEs map the page cache (`is_cow_mapping` is false).
    Shared,
    /// `MAP_PRIVATE` of a file: read faults map the page cache read-only, writes copy it into
    /// anonymous pages (a COW mapping).
    Private,
}

impl VmaKind {
    /// `is_cow_mapping`: a private mapping (anonymous or of a file).
    pub fn is_cow(self) -> bool {
        self != VmaKind::Shared
    }
}

/// A page-table entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pte {
    /// `pte_none`: nothing mapped yet.
    #[default]
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
    /// No VMA covers this page any more: a partial `munmap` took it away.
    Unmapped,
}

impl Record for Pte {
    fn pack(self) -> u128 {
        match self {
            Pte::None => 0,
            Pte::Present { pfn, write } => 1 | u128::from(write) << 2 | u128::from(pfn.0) << 8,
            Pte::Dangling { pfn } => 2 | u128::from(pfn.0) << 8,
            Pte::Unmapped => 3,
        }
    }
}

/// A VMA as a scenario creates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmaShape {
    /// What it maps.
    pub kind: VmaKind,
    /// For a file mapping: the file, and the file page its first page maps.
    pub file: Option<(FileId, u32)>,
    /// Its size in pages.
    pub pages: u32,
    /// Its protection at creation.
    pub prot: Prot,
    /// The order of the one large folio that backs it, or 0 for small folios.
    pub order: u8,
}

/// What does not change about a VMA, and where its records live.
///
/// # Invariants
///
/// A huge VMA (`order > 0`) is backed at first touch by one folio of that order, every PTE
/// mapping it; later COW may map small copies over some of its pages, and munmap or exit
/// clears them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmaLayout {
    /// What it maps.
    pub kind: VmaKind,
    /// For a file mapping: the file, and the file page its first page maps.
    pub file: Option<(FileId, u32)>,
    /// Its size in pages.
    pub pages: u32,
    /// The order of the one large folio that backs it, or 0 for small folios.
    pub order: u8,
    /// Its record in the VMA table.
    slot: u32,
    /// Its first PTE in the PTE table; the others follow.
    first_pte: u32,
}

/// A VMA's changing part (`vm_area_struct`'s existence and `vm_flags` protection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    /// Whether the VMA exists (false after munmap or exit).
    pub mapped: bool,
    /// Its protection.
    pub prot: Prot,
}

impl Default for Vma {
    fn default() -> Self {
        Vma {
            mapped: false,
            prot: Prot::R,
        }
    }
}

impl Record for Vma {
    fn pack(self) -> u128 {
        u128::from(self.mapped) | u128::from(self.prot == Prot::Rw) << 1
    }
}

/// A live VMA as the kernel's code sees it: its fixed shape and its protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmaView {
    /// What it maps.
    pub kind: VmaKind,
    /// For a file mapping: the file, and the file page its first page maps.
    pub file: Option<(FileId, u32)>,
    /// Its size in pages.
    pub pages: u32,
    /// The order of the large folio that backs it, or 0.
    pub order: u8,
    /// Its protection.
    pub prot: Prot,
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Life {
    /// A child whose fork has not completed yet (or not started).
    #[default]
    Unborn,
    /// Running: its address space can be used.
    Alive,
    /// It has exited.
    Exited,
    /// The fork that was to create it failed: ops naming it are skipped.
    Failed,
}

/// A task (`struct task_struct`), as far as its memory goes: the changing part of it and of
/// its `mm_struct`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Task {
    /// Where it is in its life.
    pub life: Life,
    /// `mm->write_protect_seq`: odd while fork write-protects the parent (57efa1fe5957). It
    /// moves under every design; GUP-fast reads it only under `gup_fast_fork = seqcount`.
    pub write_protect_seq: u32,
    /// Its fork epoch: how many forks it has begun. Every page it writes records the epoch it
    /// wrote in, so that a child can tell the parent's writes after the fork from those before.
    pub epoch: u16,
    /// For a forked child: its parent's epoch when the fork began.
    pub forked_at: u16,
    /// `MMF_HAS_PINNED`: set by the first FOLL_PIN on this mm, never cleared (not inherited
    /// by a child).
    pub has_pinned: bool,
}

impl Task {
    /// Whether its address space can be used.
    pub fn alive(self) -> bool {
        self.life == Life::Alive
    }

    /// Whether it is between the two steps of a fork it makes (`write_protect_seq` odd; fork
    /// holds its `mmap_lock` for write).
    pub fn forking(self) -> bool {
        self.write_protect_seq % 2 == 1
    }
}

impl Record for Task {
    fn pack(self) -> u128 {
        let life = match self.life {
            Life::Unborn => 0u128,
            Life::Alive => 1,
            Life::Exited => 2,
            Life::Failed => 3,
        };
        life | u128::from(self.has_pinned) << 2
            | u128::from(self.write_protect_seq) << 8
            | u128::from(self.epoch) << 40
            | u128::from(self.forked_at) << 56
    }
}

/// Every task's address space: VMAs and page tables (include/linux/mm_types.h `mm_struct`,
/// `vm_area_struct`; one PTE per page), laid out once in flat tables.
///
/// # Invariants
///
/// `layout[t][v]` places VMA `v` of task `t`: its record at `slot` of `vmas`, its PTEs at
/// `first_pte..first_pte + pages` of `ptes`, in (task, VMA, page) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vm {
    layout: Vec<Vec<VmaLayout>>,
    parents: Vec<Option<TaskId>>,
    names: Vec<String>,
    tasks: Table<Task>,
    vmas: Table<Vma>,
    ptes: Table<Pte>,
}

journaled!(Vm { tasks, vmas, ptes });

impl Vm {
    /// Tasks named `names` with the given VMAs, unpopulated: those with no parent alive with
    /// every VMA mapped, the others children that the fork of their parent will create.
    pub fn new(names: &[&str], tasks: &[Vec<VmaShape>], parents: &[Option<TaskId>]) -> Vm {
        assert_eq!(tasks.len(), parents.len(), "one parent (or none) per task");
        assert_eq!(tasks.len(), names.len(), "one name per task");
        let mut layout = Vec::with_capacity(tasks.len());
        let (mut slot, mut first_pte) = (0u32, 0u32);
        for vmas in tasks {
            let mut placed = Vec::with_capacity(vmas.len());
            for v in vmas {
                placed.push(VmaLayout {
                    kind: v.kind,
                    file: v.file,
                    pages: v.pages,
                    order: v.order,
                    slot,
                    first_pte,
                });
                slot += 1;
                first_pte += v.pages;
            }
            layout.push(placed);
        }
        let mut vm = Vm {
            layout,
            parents: parents.to_vec(),
            names: names.iter().map(|n| n.to_string()).collect(),
            tasks: Table::new(TableId::Tasks.id(), tasks.len()),
            vmas: Table::new(TableId::Vmas.id(), slot as usize),
            ptes: Table::new(TableId::Ptes.id(), first_pte as usize),
        };
        for (t, vmas) in tasks.iter().enumerate() {
            if parents[t].is_some() {
                continue;
            }
            vm.tasks.set(
                t,
                Task {
                    life: Life::Alive,
                    ..Task::default()
                },
            );
            for (v, shape) in vmas.iter().enumerate() {
                let slot = vm.layout[t][v].slot as usize;
                vm.vmas.set(
                    slot,
                    Vma {
                        mapped: true,
                        prot: shape.prot,
                    },
                );
            }
        }
        vm
    }

    /// The number of tasks.
    pub fn nr_tasks(&self) -> usize {
        self.layout.len()
    }

    /// The task's name (its process's, in the scenario).
    pub fn name(&self, task: TaskId) -> &str {
        &self.names[task]
    }

    /// The task that forks `task`, if a fork creates it.
    pub fn parent(&self, task: TaskId) -> Option<TaskId> {
        self.parents[task]
    }

    /// The number of VMAs of a task.
    pub fn nr_vmas(&self, task: TaskId) -> usize {
        self.layout[task].len()
    }

    /// Where a VMA lives, and its fixed shape.
    pub fn layout(&self, task: TaskId, vma: VmaId) -> VmaLayout {
        self.layout[task][vma]
    }

    /// A task's state.
    #[inline]
    pub fn task(&self, task: TaskId) -> Task {
        self.tasks.get(task)
    }

    /// Writes a task's state.
    pub fn set_task(&mut self, task: TaskId, state: Task) {
        self.tasks.set(task, state);
    }

    /// A VMA's state.
    #[inline]
    pub fn vma(&self, task: TaskId, vma: VmaId) -> Vma {
        self.vmas.get(self.layout[task][vma].slot as usize)
    }

    /// Writes a VMA's state.
    pub fn set_vma(&mut self, task: TaskId, vma: VmaId, state: Vma) {
        self.vmas.set(self.layout[task][vma].slot as usize, state);
    }

    /// The PTE of page `page` of a VMA.
    #[inline]
    pub fn pte(&self, task: TaskId, vma: VmaId, page: u32) -> Pte {
        self.ptes.get(self.pte_slot(task, vma, page))
    }

    /// Writes the PTE of page `page` of a VMA.
    #[inline]
    pub fn set_pte(&mut self, task: TaskId, vma: VmaId, page: u32, pte: Pte) {
        self.ptes.set(self.pte_slot(task, vma, page), pte);
    }

    fn pte_slot(&self, task: TaskId, vma: VmaId, page: u32) -> usize {
        let l = &self.layout[task][vma];
        debug_assert!(page < l.pages, "page {page} of a {}-page VMA", l.pages);
        (l.first_pte + page) as usize
    }

    /// Every PTE of every task, in (task, VMA, page) order: the rmap walk's view.
    pub fn all_ptes(&self) -> &[Pte] {
        self.ptes.as_slice()
    }

    /// Writes the PTE at position `slot` of [`Vm::all_ptes`].
    pub fn set_pte_slot(&mut self, slot: usize, pte: Pte) {
        self.ptes.set(slot, pte);
    }

    /// The tasks, VMAs and PTEs changed since the latest checkpoint, with what each was then:
    /// what a trace prints for a step.
    pub fn changed_since_checkpoint(&self) -> VmChanges {
        let vmas = self.vmas.changed();
        let ptes = self.ptes.changed();
        let mut out = VmChanges {
            tasks: self.tasks.changed(),
            vmas: Vec::new(),
            ptes: Vec::new(),
        };
        for (t, placed) in self.layout.iter().enumerate() {
            for (v, l) in placed.iter().enumerate() {
                if let Some(&(_, old)) = vmas.iter().find(|&&(s, _)| s == l.slot as usize) {
                    out.vmas.push((t, v, old));
                }
                let range = l.first_pte as usize..(l.first_pte + l.pages) as usize;
                for &(s, old) in ptes.iter().filter(|(s, _)| range.contains(s)) {
                    out.ptes
                        .push((t, v, (s - l.first_pte as usize) as u32, old));
                }
            }
        }
        out
    }
}

/// What a step changed in the address spaces, each with its value at the checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmChanges {
    /// (task, old state).
    pub tasks: Vec<(TaskId, Task)>,
    /// (task, VMA, old state).
    pub vmas: Vec<(TaskId, VmaId, Vma)>,
    /// (task, VMA, page, old PTE).
    pub ptes: Vec<(TaskId, VmaId, u32, Pte)>,
}

/// The kernel as one step sees it: memory, address spaces, the design in force and the record
/// of what the step raises.
pub struct Kernel<'a> {
    /// Every page frame.
    pub mem: &'a mut MemMap,
    /// Every task's address space.
    pub vm: &'a mut Vm,
    /// Every file's page cache.
    pub cache: &'a mut PageCache,
    /// The design in force.
    pub design: &'a Design,
    /// What the step raises.
    pub ev: &'a mut Events,
}

impl Kernel<'_> {
    /// The VMA if its task is alive and it is mapped.
    pub fn vma(&self, task: TaskId, vma: VmaId) -> Option<VmaView> {
        let v = self.vm.vma(task, vma);
        let l = self.vm.layout(task, vma);
        (self.vm.task(task).alive() && v.mapped).then_some(VmaView {
            kind: l.kind,
            file: l.file,
            pages: l.pages,
            order: l.order,
            prot: v.prot,
        })
    }

    /// The PTE of page `page` of a VMA.
    pub fn pte(&self, task: TaskId, vma: VmaId, page: u32) -> Pte {
        self.vm.pte(task, vma, page)
    }

    pub(crate) fn set_pte(&mut self, task: TaskId, vma: VmaId, page: u32, pte: Pte) {
        self.vm.set_pte(task, vma, page, pte);
    }
}
