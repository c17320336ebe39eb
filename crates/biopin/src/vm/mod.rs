//! Processes, their VMAs and page tables, faults and copy-on-write, munmap, mprotect and exit
//! (mm/memory.c, mm/mmap.c, mm/mprotect.c, mm/rmap.c, mm/migrate.c).
//!
//! Only private anonymous VMAs exist so far; file mappings arrive with the page cache and fork
//! with its own capability. The page tables are laid out so both fit: each PTE names a frame
//! and its write permission, and `write_protect_seq` is kept per mm for GUP-fast.

mod memory;
mod migrate;
mod task;

pub use task::{
    Kernel, Prot, Pte, Task, TaskId, Vm, VmChanges, Vma, VmaId, VmaKind, VmaLayout, VmaShape,
    VmaView,
};
