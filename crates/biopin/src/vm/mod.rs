//! Processes, their VMAs and page tables, faults and copy-on-write, munmap, mprotect and exit
//! (mm/memory.c, mm/mmap.c, mm/mprotect.c, mm/rmap.c, mm/migrate.c).
//!
//! Each PTE names a frame and its write permission; each task keeps its life cycle, its
//! `write_protect_seq` for GUP-fast, its fork epoch for provenance and `MMF_HAS_PINNED`.

mod fork;
mod memory;
mod migrate;
mod task;

pub use task::{
    Kernel, Life, Prot, Pte, Task, TaskId, Vm, VmChanges, Vma, VmaId, VmaKind, VmaLayout, VmaShape,
    VmaView,
};
