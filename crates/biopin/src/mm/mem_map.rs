//! The frame table (the kernel's `mem_map`), the page allocator (mm/page_alloc.c) and folio
//! reference counting (include/linux/mm.h, page_ref.h).

use std::ops::Range;

use biopin_explore::{Cached, Record, Table, journaled};

use super::page::{Frame, GUP_PIN_COUNTING_BIAS, PageContent, PageFlags, Pfn, Zone};
use super::page_ref::{Subtracted, add_repeated, sub_repeated};
use super::violation::{Events, Invariant};
use crate::state::TableId;

/// Where an allocation may come from (the zone part of a GFP mask).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gfp {
    /// `GFP_HIGHUSER_MOVABLE`: user anon and page-cache pages; `ZONE_MOVABLE` first, then
    /// normal, as the zonelist orders them.
    Movable,
    /// Normal zone only: kernel allocations, bounce pages, long-term-pin migration targets, and
    /// faults under `memalloc_pin_save()` (`PF_MEMALLOC_PIN`).
    Normal,
}

/// The node's vmstat pin counters (include/linux/mmzone.h `NR_FOLL_PIN_ACQUIRED`,
/// `NR_FOLL_PIN_RELEASED`), counted per subpage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmStat {
    /// `nr_foll_pin_acquired`.
    pub nr_foll_pin_acquired: u64,
    /// `nr_foll_pin_released`.
    pub nr_foll_pin_released: u64,
}

impl Record for VmStat {
    fn pack(self) -> u128 {
        u128::from(self.nr_foll_pin_acquired) | u128::from(self.nr_foll_pin_released) << 64
    }
}

/// The allocator's search hints: not part of the state (they change nothing but speed), but
/// they must follow it back when a step is undone.
///
/// # Invariants
///
/// Per zone `z`: `free[z]` is at most the lowest free frame of the zone, and every frame in use
/// in the zone lies below `high[z]`.
#[derive(Clone, Copy, Debug, Default)]
struct AllocHints {
    free: [u32; 2],
    high: [u32; 2],
}

/// All page frames of the machine and what they hold.
///
/// # Invariants
///
/// - `frames` has one entry per frame of RAM and one more, last, for the zero page, which the
///   allocator never hands out (the kernel's zero page lives in the kernel image).
/// - `contents` has the same length as `frames`.
/// - Every write goes through the tables' API, so the world's fingerprint and undo log see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemMap {
    frames: Table<Frame>,
    contents: Table<PageContent>,
    vmstat: Table<VmStat>,
    hints: Cached<AllocHints>,
    nr_movable: u32,
}

journaled!(MemMap {
    frames,
    contents,
    vmstat,
    hints
});

impl MemMap {
    /// A machine with `nr_frames` frames of RAM, the last `nr_movable` of them in
    /// `ZONE_MOVABLE`, all free, and the zero page (refcount 1, as a reserved page's is after
    /// memmap init).
    pub fn new(nr_frames: u32, nr_movable: u32) -> MemMap {
        assert!(nr_movable <= nr_frames, "more movable frames than frames");
        let mut frames = Table::new(TableId::Frames.id(), nr_frames as usize + 1);
        frames.set(
            nr_frames as usize,
            Frame {
                refcount: 1,
                flags: PageFlags::IN_USE | PageFlags::ZERO,
                ..Frame::default()
            },
        );
        let boundary = nr_frames - nr_movable;
        MemMap {
            frames,
            contents: Table::new(TableId::Contents.id(), nr_frames as usize + 1),
            vmstat: Table::new(TableId::VmStat.id(), 1),
            hints: Cached::new(AllocHints {
                free: [0, boundary],
                high: [0, boundary],
            }),
            nr_movable,
        }
    }

    /// Frames of RAM (the zero page not counted).
    pub fn nr_frames(&self) -> u32 {
        self.frames.len() as u32 - 1
    }

    /// The shared zero page (`ZERO_PAGE(0)`).
    pub fn zero_pfn(&self) -> Pfn {
        Pfn(self.nr_frames())
    }

    /// The frame's `struct page`.
    #[inline]
    pub fn frame(&self, pfn: Pfn) -> Frame {
        self.frames.get(pfn.index())
    }

    /// Every frame, the zero page last.
    pub fn frames(&self) -> &[Frame] {
        self.frames.as_slice()
    }

    /// The frames that may be in use, lowest first: in each zone, those below the highest
    /// frame any allocation on this path reached; then the zero page. What lies outside them
    /// is free, so end-state checks and traces cost what the run touched, not the machine.
    pub fn used_frames(&self) -> impl Iterator<Item = Pfn> + use<> {
        let high = self.hints.get().high;
        let boundary = self.nr_frames() - self.nr_movable;
        let ranges: [Range<u32>; 3] = [
            0..high[Zone::Normal as usize],
            boundary..high[Zone::Movable as usize],
            self.nr_frames()..self.nr_frames() + 1,
        ];
        ranges.into_iter().flatten().map(Pfn)
    }

    /// The zone a frame belongs to (`page_zonenum`).
    pub fn zone(&self, pfn: Pfn) -> Zone {
        if pfn.0 >= self.nr_frames() - self.nr_movable && pfn != self.zero_pfn() {
            Zone::Movable
        } else {
            Zone::Normal
        }
    }

    /// The head page of the folio a frame belongs to (`page_folio`).
    pub fn folio(&self, pfn: Pfn) -> Pfn {
        let order = self.frame(pfn).order;
        Pfn(pfn.0 & !((1u32 << order) - 1))
    }

    /// Pages in the folio a frame belongs to (`folio_nr_pages`).
    pub fn folio_nr_pages(&self, pfn: Pfn) -> u32 {
        1 << self.frame(pfn).order
    }

    /// Whether the frame belongs to a folio (is allocated, or is the zero page).
    pub fn in_use(&self, pfn: Pfn) -> bool {
        self.frame(pfn).flags.contains(PageFlags::IN_USE)
    }

    /// `is_zero_page`.
    pub fn is_zero_page(&self, pfn: Pfn) -> bool {
        pfn == self.zero_pfn()
    }

    /// `folio_test_large`.
    pub fn folio_test_large(&self, pfn: Pfn) -> bool {
        self.frame(pfn).order > 0
    }

    /// `folio_has_pincount`: on a 64-bit kernel every large folio keeps an exact `_pincount`.
    pub fn folio_has_pincount(&self, pfn: Pfn) -> bool {
        self.folio_test_large(pfn)
    }

    /// `folio_ref_count` of the folio `pfn` belongs to.
    pub fn folio_ref_count(&self, pfn: Pfn) -> i32 {
        self.frame(self.folio(pfn)).refcount
    }

    /// `_pincount` of the folio `pfn` belongs to (0 for a small folio, which has none).
    pub fn folio_pincount(&self, pfn: Pfn) -> i32 {
        self.frame(self.folio(pfn)).pincount
    }

    /// `folio_maybe_dma_pinned` (include/linux/mm.h): exact for a large folio (`_pincount >
    /// 0`), fuzzy for a small one (`(unsigned)refcount >= GUP_PIN_COUNTING_BIAS`), so 1024
    /// plain references, or a wrapped count, read as pinned; never a false negative.
    pub fn folio_maybe_dma_pinned(&self, pfn: Pfn) -> bool {
        if self.folio_has_pincount(pfn) {
            self.folio_pincount(pfn) > 0
        } else {
            self.folio_ref_count(pfn) as u32 >= GUP_PIN_COUNTING_BIAS
        }
    }

    /// Flags of the folio's head page.
    pub fn folio_flags(&self, pfn: Pfn) -> PageFlags {
        self.frame(self.folio(pfn)).flags
    }

    /// Sets or clears a per-page flag (`PageAnonExclusive` is per page).
    pub fn set_page_flag(&mut self, pfn: Pfn, flag: PageFlags, on: bool) {
        self.frames.update(pfn.index(), |f| f.flags.set(flag, on));
    }

    /// `folio_mark_dirty` (mm/page-writeback.c, through `a_ops->dirty_folio`): sets `PG_dirty`
    /// on the folio. On a page-cache folio of ext4 without its buffers, `block_dirty_folio`
    /// dirties the folio all the same, which is `dirty-without-buffers` (the ext4
    /// `BUG_ON(!page_has_buffers)` of 2018). The zero page is never dirtied.
    pub fn folio_mark_dirty(&mut self, pfn: Pfn, ev: &mut Events) {
        let head = self.folio(pfn);
        if self.is_zero_page(head) {
            return;
        }
        let flags = self.frame(head).flags;
        if flags.contains(PageFlags::BUFFERED_FS) && !flags.contains(PageFlags::PRIVATE) {
            ev.raise(Invariant::DirtyWithoutBuffers, || {
                format!("{head} caches an ext4 page and is dirtied with no buffers attached")
            });
        }
        self.frames
            .update(head.index(), |f| f.flags.insert(PageFlags::DIRTY));
    }

    /// `folio_clear_dirty_for_io` / `folio_test_clear_dirty`: clears `PG_dirty`, returning
    /// whether it was set.
    pub fn folio_test_clear_dirty(&mut self, pfn: Pfn) -> bool {
        let head = self.folio(pfn);
        let was = self.frame(head).flags.contains(PageFlags::DIRTY);
        if was {
            self.frames
                .update(head.index(), |f| f.flags.remove(PageFlags::DIRTY));
        }
        was
    }

    /// Whether a folio flag is set on the folio's head.
    pub fn folio_test(&self, pfn: Pfn, flag: PageFlags) -> bool {
        self.folio_flags(pfn).contains(flag)
    }

    /// Sets or clears a folio flag on the folio's head.
    pub fn folio_set_flag(&mut self, pfn: Pfn, flag: PageFlags, on: bool) {
        let head = self.folio(pfn);
        self.frames.update(head.index(), |f| f.flags.set(flag, on));
    }

    /// Adds `delta` to a page's mapcount (`folio_add_*_rmap_pte` / `folio_remove_rmap_pte`).
    pub fn page_mapcount_add(&mut self, pfn: Pfn, delta: i32) {
        self.frames.update(pfn.index(), |f| f.mapcount += delta);
    }

    /// What a page holds.
    #[inline]
    pub fn content(&self, pfn: Pfn) -> PageContent {
        self.contents.get(pfn.index())
    }

    /// Writes a whole page.
    pub fn set_content(&mut self, pfn: Pfn, content: PageContent) {
        self.contents.set(pfn.index(), content);
    }

    /// The vmstat pin counters.
    pub fn vmstat(&self) -> VmStat {
        self.vmstat.get(0)
    }

    /// Counts `n` subpages pinned (`node_stat_mod_folio(NR_FOLL_PIN_ACQUIRED)`).
    pub fn count_pins_acquired(&mut self, n: u64) {
        self.vmstat.update(0, |s| {
            s.nr_foll_pin_acquired = s.nr_foll_pin_acquired.wrapping_add(n)
        });
    }

    /// Counts `n` subpages unpinned (`NR_FOLL_PIN_RELEASED`).
    pub fn count_pins_released(&mut self, n: u64) {
        self.vmstat.update(0, |s| {
            s.nr_foll_pin_released = s.nr_foll_pin_released.wrapping_add(n)
        });
    }

    /// The frames changed since the latest checkpoint and what each was then (frame and
    /// content), in frame order: what a trace prints for a step.
    pub fn changed_since_checkpoint(&self) -> Vec<(Pfn, Frame, PageContent)> {
        let frames = self.frames.changed();
        let contents = self.contents.changed();
        let mut pfns: Vec<usize> = frames
            .iter()
            .map(|&(i, _)| i)
            .chain(contents.iter().map(|&(i, _)| i))
            .collect();
        pfns.sort_unstable();
        pfns.dedup();
        pfns.into_iter()
            .map(|i| {
                let pfn = Pfn(i as u32);
                let frame = frames.iter().find(|&&(j, _)| j == i);
                let content = contents.iter().find(|&&(j, _)| j == i);
                (
                    pfn,
                    frame.map_or(self.frame(pfn), |&(_, f)| f),
                    content.map_or(self.content(pfn), |&(_, c)| c),
                )
            })
            .collect()
    }

    /// The vmstat counters at the latest checkpoint.
    pub fn vmstat_at_checkpoint(&self) -> VmStat {
        self.vmstat
            .changed()
            .first()
            .map_or(self.vmstat(), |&(_, s)| s)
    }

    fn zone_range(&self, zone: Zone) -> (u32, u32) {
        let boundary = self.nr_frames() - self.nr_movable;
        match zone {
            Zone::Normal => (0, boundary),
            Zone::Movable => (boundary, self.nr_frames()),
        }
    }

    /// `folio_alloc`: the lowest free, naturally aligned block of `2^order` frames, from the
    /// zones `gfp` allows in zonelist order, as a folio with refcount 1. The allocator does not
    /// clear pages (faults zero them, COW and migration copy into them); a free frame's
    /// content is not modelled. `None` is ENOMEM.
    pub fn alloc_folio(&mut self, order: u8, gfp: Gfp) -> Option<Pfn> {
        let zones: &[Zone] = match gfp {
            Gfp::Movable => &[Zone::Movable, Zone::Normal],
            Gfp::Normal => &[Zone::Normal],
        };
        let size = 1u32 << order;
        for &zone in zones {
            let (start, end) = self.zone_range(zone);
            let z = zone as usize;
            let hint = self.hints.get().free[z].max(start);
            let mut head = hint.next_multiple_of(size);
            while head + size <= end {
                let block = head as usize..(head + size) as usize;
                match self.frames.as_slice()[block.clone()]
                    .iter()
                    .rposition(|f| *f != Frame::default())
                {
                    None => {
                        let mut hints = self.hints.get();
                        if order == 0 && head == hint {
                            hints.free[z] = head + 1;
                        }
                        hints.high[z] = hints.high[z].max(head + size);
                        self.hints.set(hints);
                        for (i, index) in block.enumerate() {
                            let frame = Frame {
                                refcount: if i == 0 { 1 } else { 0 },
                                order,
                                flags: if i == 0 {
                                    PageFlags::IN_USE
                                } else {
                                    PageFlags::IN_USE | PageFlags::TAIL
                                },
                                ..Frame::default()
                            };
                            self.frames.set(index, frame);
                        }
                        return Some(Pfn(head));
                    }
                    // Skip past the last frame in use in this block.
                    Some(used) => head = (head + used as u32 + 1).next_multiple_of(size),
                }
            }
        }
        None
    }

    /// Frees a folio whose refcount reached zero (`__folio_put` → `free_unref_folios`),
    /// recording it so that references still naming it can be marked dangling.
    fn free_folio(&mut self, head: Pfn, ev: &mut Events) {
        let order = self.frame(head).order;
        self.release_frames(head);
        ev.freed.push((head, order));
        ev.note(|| format!("{head} freed (order {order})"));
    }

    /// Returns a folio's frames to the allocator.
    fn release_frames(&mut self, head: Pfn) {
        let n = self.folio_nr_pages(head) as usize;
        if head != self.zero_pfn() {
            let mut hints = self.hints.get();
            let z = self.zone(head) as usize;
            hints.free[z] = hints.free[z].min(head.0);
            self.hints.set(hints);
        }
        // Nothing reads a free frame (every allocation path writes its pages first), so its
        // stale bytes are dropped rather than kept in otherwise equal states.
        for i in head.index()..head.index() + n {
            self.frames.set(i, Frame::default());
            self.contents.set(i, PageContent::ZERO);
        }
    }

    /// Moves a folio's identity to a new frame block for migration: flags, counts and
    /// contents of `from` go to `to` (same order), and `from`'s frames return to the allocator
    /// (the caller records them freed). Used by `migrate_folio` (mm/migrate.c).
    pub fn move_folio(&mut self, from: Pfn, to: Pfn) {
        let n = self.folio_nr_pages(from) as usize;
        for i in 0..n {
            self.frames
                .set(to.index() + i, self.frames.get(from.index() + i));
            self.contents
                .set(to.index() + i, self.contents.get(from.index() + i));
        }
        self.release_frames(from);
    }

    /// `split_huge_page` of a large folio with no references beyond its mappings (the caller
    /// checked): every page becomes a folio of its own, holding one reference per PTE that
    /// maps it and keeping its PageAnonExclusive; the folio's anon and dirty flags go to each.
    /// A page no PTE maps is freed.
    pub fn split_folio(&mut self, pfn: Pfn, ev: &mut Events) {
        let head = self.folio(pfn);
        let nr = self.folio_nr_pages(head);
        let shared = self.frame(head).flags & (PageFlags::ANON | PageFlags::DIRTY);
        for i in 0..nr {
            let page = Pfn(head.0 + i);
            let f = self.frame(page);
            self.frames.set(
                page.index(),
                Frame {
                    refcount: f.mapcount,
                    pincount: 0,
                    mapcount: f.mapcount,
                    order: 0,
                    flags: (f.flags - PageFlags::TAIL) | shared,
                },
            );
        }
        for i in 0..nr {
            let page = Pfn(head.0 + i);
            if self.frame(page).refcount == 0 {
                self.free_folio(page, ev);
            }
        }
        ev.note(|| format!("{head} split into {nr} pages"));
    }

    /// `calls` successive increments by `per_call` of the counter `name` of the folio `pfn`
    /// belongs to; `refcount-overflow` if it passes through zero.
    fn counter_add(
        &mut self,
        pfn: Pfn,
        name: &str,
        field: fn(&mut Frame) -> &mut i32,
        per_call: u32,
        calls: u64,
        ev: &mut Events,
    ) {
        let head = self.folio(pfn);
        let mut frame = self.frames.get(head.index());
        let counter = field(&mut frame);
        let old = *counter;
        let added = add_repeated(old, per_call, calls);
        *counter = added.value;
        self.frames.set(head.index(), frame);
        if added.overflowed {
            ev.raise(Invariant::RefcountOverflow, || {
                format!("{name} of {head} passed through zero: {old} + {calls} × {per_call} wraps to {}", added.value)
            });
        }
    }

    /// `calls` successive `folio_ref_add(folio, per_call)`: `refcount-overflow` if the count
    /// passes through zero.
    pub fn folio_ref_add(&mut self, pfn: Pfn, per_call: u32, calls: u64, ev: &mut Events) {
        self.counter_add(pfn, "_refcount", |f| &mut f.refcount, per_call, calls, ev);
    }

    /// `calls` successive increments of a large folio's `_pincount` by `per_call`
    /// (`atomic_add(refs, &folio->_pincount)`).
    pub fn folio_pincount_add(&mut self, pfn: Pfn, per_call: u32, calls: u64, ev: &mut Events) {
        self.counter_add(pfn, "_pincount", |f| &mut f.pincount, per_call, calls, ev);
    }

    /// `calls` successive decrements of a large folio's `_pincount` by one; `bad-release` if
    /// it goes below zero (an unpin of a folio that is not pinned).
    pub fn folio_pincount_sub(&mut self, pfn: Pfn, calls: u64, ev: &mut Events) {
        let head = self.folio(pfn);
        let old = self.frames.get(head.index()).pincount;
        let new = i64::from(old) - calls as i64;
        self.frames
            .update(head.index(), |f| f.pincount = new as i32);
        if new < 0 {
            ev.raise(Invariant::BadRelease, || {
                format!("unpin of {head}, a large folio with _pincount {old}: {calls} unpins take it below zero")
            });
        }
    }

    /// `calls` successive `folio_put_refs(folio, per_call)`, each a dec-and-test (`put_page`
    /// is `per_call` = 1; an unpin of a small folio is 1024). `bad-release` when a decrement
    /// takes the count below zero; when it reaches zero the folio is freed, and any call after
    /// that acts on a freed folio: `use-after-free`, and nothing more is done. `what` names
    /// the primitive for the report. A put on a frame that is already free is a
    /// `use-after-free` and changes nothing. Returns whether the folio was freed.
    pub fn folio_put_refs(
        &mut self,
        pfn: Pfn,
        per_call: u32,
        calls: u64,
        what: &str,
        ev: &mut Events,
    ) -> bool {
        let head = self.folio(pfn);
        if !self.in_use(head) {
            ev.raise(Invariant::UseAfterFree, || {
                format!("{what} on {head}, which is free")
            });
            return false;
        }
        let old = self.frames.get(head.index()).refcount;
        let Subtracted {
            value,
            below_zero_at,
            zero_at,
        } = sub_repeated(old, per_call, calls);
        if let Some(t) = below_zero_at {
            ev.raise(Invariant::BadRelease, || {
                format!(
                    "{what} takes _refcount of {head} below zero (call {t} of {calls}, from {old}, {per_call} a call)"
                )
            });
        }
        match zero_at {
            Some(t) => {
                self.free_folio(head, ev);
                if t < calls {
                    ev.raise(Invariant::UseAfterFree, || {
                        format!("{what} on {head} after it was freed by call {t} of {calls}")
                    });
                }
                true
            }
            None => {
                self.frames.update(head.index(), |f| f.refcount = value);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn movable_allocations_prefer_the_movable_zone_lowest_first() {
        let mut m = MemMap::new(8, 3);
        assert_eq!(m.alloc_folio(0, Gfp::Movable), Some(Pfn(5)));
        assert_eq!(m.alloc_folio(0, Gfp::Normal), Some(Pfn(0)));
        assert_eq!(m.alloc_folio(0, Gfp::Movable), Some(Pfn(6)));
        assert_eq!(m.alloc_folio(0, Gfp::Movable), Some(Pfn(7)));
        // Movable is full: fall back to normal.
        assert_eq!(m.alloc_folio(0, Gfp::Movable), Some(Pfn(1)));
        assert_eq!(m.zone(Pfn(5)), Zone::Movable);
        assert_eq!(m.zone(Pfn(4)), Zone::Normal);
        assert_eq!(m.zone(m.zero_pfn()), Zone::Normal);
    }

    #[test]
    fn large_folios_are_naturally_aligned_and_freed_whole() {
        let mut m = MemMap::new(16, 0);
        let mut ev = Events::quiet();
        assert_eq!(m.alloc_folio(0, Gfp::Normal), Some(Pfn(0)));
        let big = m.alloc_folio(2, Gfp::Normal).unwrap();
        assert_eq!(big, Pfn(4));
        assert_eq!(m.folio(Pfn(6)), Pfn(4));
        assert_eq!(m.folio_nr_pages(Pfn(7)), 4);
        assert!(m.frame(Pfn(5)).flags.contains(PageFlags::TAIL));
        // The gap at 1..4 still serves small allocations.
        assert_eq!(m.alloc_folio(0, Gfp::Normal), Some(Pfn(1)));
        assert!(m.folio_put_refs(Pfn(6), 1, 1, "put_page", &mut ev));
        assert_eq!(ev.freed, vec![(Pfn(4), 2)]);
        assert!((4..8).all(|i| m.frame(Pfn(i)) == Frame::default()));
        assert_eq!(m.alloc_folio(2, Gfp::Normal), Some(Pfn(4)));
        assert_eq!(m.alloc_folio(3, Gfp::Normal), Some(Pfn(8)));
        assert_eq!(m.alloc_folio(3, Gfp::Normal), None);
    }

    #[test]
    fn maybe_dma_pinned_is_exact_for_large_and_fuzzy_for_small() {
        let mut m = MemMap::new(8, 0);
        let mut ev = Events::quiet();
        let small = m.alloc_folio(0, Gfp::Normal).unwrap();
        assert!(!m.folio_maybe_dma_pinned(small));
        // 1023 more plain references: 1024 in all, which reads as a pin (false positive).
        m.folio_ref_add(small, 1, 1023, &mut ev);
        assert!(m.folio_maybe_dma_pinned(small));
        let large = m.alloc_folio(1, Gfp::Normal).unwrap();
        m.folio_ref_add(large, 1, 5000, &mut ev);
        assert!(
            !m.folio_maybe_dma_pinned(large),
            "plain references never read as a pin on a large folio"
        );
        m.folio_pincount_add(large, 1, 1, &mut ev);
        assert!(m.folio_maybe_dma_pinned(large));
        assert!(ev.raised.is_empty());
    }

    #[test]
    fn a_put_below_zero_is_a_bad_release_and_a_put_after_free_a_use_after_free() {
        let mut m = MemMap::new(4, 0);
        let mut ev = Events::quiet();
        let p = m.alloc_folio(0, Gfp::Normal).unwrap();
        m.folio_ref_add(p, 1, 1, &mut ev);
        assert!(m.folio_put_refs(p, 1, 3, "put_page", &mut ev));
        assert_eq!(
            ev.raised.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![Invariant::UseAfterFree]
        );
        let mut ev = Events::quiet();
        let q = m.alloc_folio(0, Gfp::Normal).unwrap();
        m.folio_ref_add(q, 1, 1, &mut ev);
        assert!(!m.folio_put_refs(q, GUP_PIN_COUNTING_BIAS, 1, "unpin_user_page", &mut ev));
        assert_eq!(
            ev.raised.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![Invariant::BadRelease]
        );
        assert_eq!(m.folio_ref_count(q), 2 - 1024);
    }

    #[test]
    fn a_put_on_a_free_frame_is_a_use_after_free_and_leaves_it_free() {
        let mut m = MemMap::new(4, 0);
        let mut ev = Events::quiet();
        assert!(!m.folio_put_refs(Pfn(2), GUP_PIN_COUNTING_BIAS, 1, "unpin_user_page", &mut ev));
        assert_eq!(
            ev.raised.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![Invariant::UseAfterFree]
        );
        assert_eq!(m.frame(Pfn(2)), Frame::default());
        assert_eq!(m.alloc_folio(1, Gfp::Normal), Some(Pfn(0)));
        assert_eq!(
            m.alloc_folio(1, Gfp::Normal),
            Some(Pfn(2)),
            "the frame is still allocatable"
        );
    }
}
