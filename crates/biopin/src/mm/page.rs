//! Page frames: what the kernel keeps in each `struct page` that matters here (include/linux/
//! mm_types.h, page-flags.h), and what a page holds.

use std::fmt;

use biopin_explore::Record;
use bitflags::bitflags;

/// The bias one FOLL_PIN adds to a small folio's `_refcount` (include/linux/mm.h).
pub const GUP_PIN_COUNTING_BIAS: u32 = 1024;

/// The largest folio order modelled: a PMD on x86-64 (`HPAGE_PMD_ORDER`), 2 MiB of 4 KiB pages.
pub const HPAGE_PMD_ORDER: u8 = 9;

/// The most page frames a machine may have (2^21 frames, 8 GiB of 4 KiB pages).
pub const MAX_FRAMES: u32 = 1 << 21;

/// A page frame number: an index into the frame table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pfn(pub u32);

impl Pfn {
    /// The index into the frame table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pfn {}", self.0)
    }
}

/// A memory zone (include/linux/mmzone.h). The last `movable` frames form `ZONE_MOVABLE`; the
/// rest, and the zero page, are `ZONE_NORMAL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Zone {
    /// `ZONE_NORMAL`: kernel and pinned allocations.
    Normal,
    /// `ZONE_MOVABLE`: only movable allocations; long-term pins must not stay here.
    Movable,
}

impl Zone {
    /// The zone's name in scenarios (`normal`, `movable`).
    pub fn name(self) -> &'static str {
        match self {
            Zone::Normal => "normal",
            Zone::Movable => "movable",
        }
    }
}

bitflags! {
    /// Page flags (include/linux/page-flags.h) and the allocator's own state.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct PageFlags: u16 {
        /// The frame belongs to a folio (the inverse of the buddy allocator's `PageBuddy`).
        const IN_USE = 1 << 0;
        /// A tail page of a large folio (`PageTail`).
        const TAIL = 1 << 1;
        /// The shared zero page (`is_zero_page`).
        const ZERO = 1 << 2;
        /// An anonymous folio (`folio_test_anon`: `PAGE_MAPPING_ANON` in `mapping`).
        const ANON = 1 << 3;
        /// `PageAnonExclusive` (5.19): this anon page is mapped by one process only and may be
        /// reused on a write fault whatever its refcount. Per page, not per folio.
        const ANON_EXCLUSIVE = 1 << 4;
        /// `PG_dirty`, on the head page.
        const DIRTY = 1 << 5;
        /// `PG_writeback`, on the head page: a writeback bio is in flight.
        const WRITEBACK = 1 << 6;
        /// `PG_private`, on the head page: the filesystem's per-folio state ("buffers",
        /// `folio_attach_private`, which holds one reference) is attached.
        const PRIVATE = 1 << 7;
        /// The folio caches a page of a file whose filesystem keeps per-folio private state
        /// (ext4's buffer heads): dirtying it without that state is `dirty-without-buffers`.
        /// Set when it enters the page cache (the model's stand-in for `folio->mapping->a_ops`).
        const BUFFERED_FS = 1 << 8;
        /// The folio is in a file's page cache (`folio->mapping` of a file).
        const CACHE = 1 << 9;
    }
}

/// One page frame's `struct page`, as far as biopin models it.
///
/// # Invariants
///
/// - A free frame is all zero (`Frame::default()`).
/// - In a folio of order `o`, every frame has `order == o`; the head is naturally aligned
///   (`pfn % 2^o == 0`) and the others have [`PageFlags::TAIL`]. Only the head's `refcount`,
///   `pincount` and [`PageFlags::DIRTY`] are used; tails keep them zero, as the kernel's tail
///   pages keep a zero `_refcount`.
/// - `mapcount` is per page: the number of PTEs mapping it (the kernel's `_mapcount + 1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// `_refcount`: the kernel's signed 32-bit `atomic_t`; it wraps.
    pub refcount: i32,
    /// `_pincount` (large folios only, 64-bit kernel): the exact number of pins.
    pub pincount: i32,
    /// PTEs mapping this page (`page_mapcount`).
    pub mapcount: i32,
    /// The order of the folio the frame belongs to.
    pub order: u8,
    /// Page flags.
    pub flags: PageFlags,
}

impl Record for Frame {
    fn pack(self) -> u128 {
        u128::from(self.refcount as u32)
            | u128::from(self.pincount as u32) << 32
            | u128::from(self.mapcount as u32) << 64
            | u128::from(self.order) << 96
            | u128::from(self.flags.bits()) << 104
    }
}

/// Who wrote a page's current content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Writer {
    /// The kernel: zero-filled at fault, or a page never written.
    Kernel,
    /// A device, through DMA, through a handle the task (by index) took.
    Device(u16),
    /// A task, through its page tables (by task index).
    Task(u16),
}

impl Writer {
    /// The task the write is on behalf of: the writer, or the owner of the device's handle.
    pub fn task(self) -> Option<usize> {
        match self {
            Writer::Kernel => None,
            Writer::Device(t) | Writer::Task(t) => Some(usize::from(t)),
        }
    }
}

/// A page's content: one byte value for the whole page and its provenance (docs/design.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageContent {
    /// The byte every position of the page holds.
    pub value: u8,
    /// Who wrote it.
    pub writer: Writer,
    /// The writer's fork epoch when it wrote (0 until fork is modelled).
    pub epoch: u16,
}

impl Record for PageContent {
    fn pack(self) -> u128 {
        let writer = match self.writer {
            Writer::Kernel => 0u128,
            Writer::Device(t) => 1 + 2 * u128::from(t),
            Writer::Task(t) => 2 + 2 * u128::from(t),
        };
        u128::from(self.value) | writer << 8 | u128::from(self.epoch) << 32
    }
}

impl Default for PageContent {
    fn default() -> Self {
        PageContent::ZERO
    }
}

impl PageContent {
    /// A page of zeroes written by the kernel.
    pub const ZERO: PageContent = PageContent {
        value: 0,
        writer: Writer::Kernel,
        epoch: 0,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_table_fits_its_budget() {
        // docs/design.md, Costs: counts, flags, order and zone in at most 16 bytes a frame (the zone is
        // derived from the frame number).
        assert!(std::mem::size_of::<Frame>() <= 16);
        // Contents and provenance are budgeted separately: at most 8 bytes a frame.
        assert!(std::mem::size_of::<PageContent>() <= 8);
    }
}
