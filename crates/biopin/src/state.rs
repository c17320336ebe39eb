//! The tables a [`crate::World`] is made of, one identifier each.
//!
//! Every table of the world is a [`biopin_explore::Table`] written through its one small API,
//! which keeps the world's fingerprint incrementally and logs each write so that the explorer
//! can undo a step (see that type's docs for why this, rather than copying the world). A layer
//! that adds state adds a table here and to its owner's `journaled!` list; the
//! `every_table_is_distinct` test and the fingerprint and undo checks over the shipped suite
//! then cover it.

/// Identifies a table in the fingerprint: two tables holding the same record at the same index
/// must not cancel out. Each table of a world has its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum TableId {
    /// `mm`: one `struct page` per frame, the zero page last.
    Frames = 1,
    /// `mm`: what each page holds and who wrote it.
    Contents,
    /// `mm`: the vmstat pin counters (one record).
    VmStat,
    /// `vm`: per task, whether it is alive and its `write_protect_seq`.
    Tasks,
    /// `vm`: per VMA of every task, whether it is mapped and its protection.
    Vmas,
    /// `vm`: every PTE of every VMA of every task.
    Ptes,
    /// The program's handles: unbound, held (with how many calls), released.
    Handles,
    /// The pages each handle holds, and which were freed under it.
    HandlePages,
    /// Each actor's place: its op and the step of that op.
    Actors,
    /// Each actor's GUP-fast between its two steps: the sample and the grab.
    FastGup,
    /// The PTEs each actor's GUP-fast read, and which of their folios were freed since.
    FastPages,
    /// `pagecache`: per file page, the folio caching it.
    PageCache,
    /// `pagecache`: per file page, what its disk block holds.
    Disk,
    /// `io`: per direct-I/O op, where it is.
    Ios,
    /// `io`: per bio of every direct-I/O op, its stage, flags and size.
    Bios,
    /// `io`: per bio, where its bvecs, requests and pages start.
    BioParts,
    /// `io`: every bio's bvecs.
    BioVecs,
    /// `io`: the requests every bio was split into, and which transferred.
    Pieces,
    /// `io`: the pages every direct-I/O op took, and what each holds.
    IoPages,
    /// `pagecache`: per file page, its writeback bio in flight.
    Writeback,
    /// `pagecache`: per file, its size if a truncate changed it.
    FileSizes,
}

impl TableId {
    /// The identifier as the table takes it.
    pub fn id(self) -> u32 {
        self as u32
    }
}
