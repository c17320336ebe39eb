//! `get_user_pages` and `pin_user_pages`, slow and fast, long-term pins with migration out of
//! `ZONE_MOVABLE`, and their release (mm/gup.c, Documentation/core-api/pin_user_pages.rst).
//!
//! A GUP reference (FOLL_GET) and a pin (FOLL_PIN) are distinct types, [`GupRefs`] and
//! [`PinnedPages`], released by distinct functions. The per-page primitives beneath them
//! ([`Kernel::put_page_calls`], [`Kernel::unpin_user_page_calls`]) take bare frames, as the
//! kernel's do, so that a scenario can release with the wrong one and see what the kernel
//! would do.
//!
//! `times N` is N calls of the same request, computed in O(pages), not O(N): after the first
//! call has faulted the pages in (and migrated them), every call grabs the same folios, so the
//! first refused grab can be found arithmetically ([`crate::mm::page_ref`]).

use std::ops::Range;

use bitflags::bitflags;

use crate::design::Design;
use crate::design::{Cow, LongtermMigrate, RefOverflow, ZeroPagePin};
use crate::errno::Errno;
use crate::mm::page_ref::grabs_before_refusal;
use crate::mm::{GUP_PIN_COUNTING_BIAS, Gfp, Invariant, MemMap, PageFlags, Pfn, Zone};
use crate::vm::{Kernel, Prot, Pte, TaskId, Vm, VmaId};

bitflags! {
    /// GUP flags, with the kernel's values (include/linux/mm_types.h `enum
    /// fault_flag`... `FOLL_*`, mm/internal.h for the internal ones).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct FollFlags: u32 {
        /// `FOLL_WRITE`: the caller will write to the pages.
        const WRITE = 1 << 0;
        /// `FOLL_GET`: take a plain reference.
        const GET = 1 << 1;
        /// `FOLL_LONGTERM`: the pin may be held indefinitely.
        const LONGTERM = 1 << 8;
        /// `FOLL_PIN` (internal): take a pin.
        const PIN = 1 << 19;
    }
}

/// Pages of a VMA a GUP call covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRange {
    /// The task whose address space is walked.
    pub task: TaskId,
    /// The VMA.
    pub vma: VmaId,
    /// Pages of the VMA, first to last + 1.
    pub pages: Range<u32>,
}

/// References taken with FOLL_GET (`get_user_pages`): released with `put_page`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GupRefs {
    /// The page each covered address resolved to.
    pub pages: Vec<Pfn>,
    /// How many successful calls took them: each page holds this many references.
    pub calls: u64,
}

/// Pins taken with FOLL_PIN (`pin_user_pages`): released with `unpin_user_page(s)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedPages {
    /// The page each covered address resolved to.
    pub pages: Vec<Pfn>,
    /// How many successful calls took them: each page holds this many pins.
    pub calls: u64,
}

/// What a GUP request of N calls got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gupped<T> {
    /// What the successful calls took; `None` if none succeeded.
    pub taken: Option<T>,
    /// The errno of the call that failed, if one did (the calls stop there).
    pub err: Option<Errno>,
}

/// GUP-fast's first half: what it sampled and grabbed without locks, to be rechecked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FastGup {
    /// `write_protect_seq` as sampled.
    pub seq: u32,
    /// The PTEs as read.
    pub ptes: Vec<Pte>,
    /// The pages grabbed.
    pub pages: Vec<Pfn>,
    /// Calls that grabbed every page.
    pub calls: u64,
    /// A call was refused (its refcount was not positive).
    pub refused: bool,
    /// Indices of grabbed pages whose folio was freed before the recheck (only a broken count
    /// can do that): the drop must not touch them.
    pub freed: Vec<u32>,
}

/// The folios of `pages`, each once with how many entries fall in it, in folio order: what the
/// kernel's batch helpers walk (`gup_folio_next`, `gup_folio_range_next` in mm/gup.c). Pages in
/// address order (the usual case) are grouped as they come, in one pass and without allocating;
/// otherwise a sorted copy is.
///
/// Each folio is looked up when it is reached, so a caller may change (or free) the folios
/// already returned: they share no frame with the ones still to come.
struct Folios<'p> {
    pages: std::borrow::Cow<'p, [Pfn]>,
    next: usize,
}

impl<'p> Folios<'p> {
    fn new(pages: &'p [Pfn]) -> Self {
        let pages = if pages.is_sorted() {
            std::borrow::Cow::Borrowed(pages)
        } else {
            let mut sorted = pages.to_vec();
            sorted.sort_unstable();
            std::borrow::Cow::Owned(sorted)
        };
        Folios { pages, next: 0 }
    }

    /// The next folio's head and how many entries fall in it.
    fn next(&mut self, mem: &MemMap) -> Option<(Pfn, u64)> {
        let first = *self.pages.get(self.next)?;
        let head = mem.folio(first);
        let end = head.0 + mem.folio_nr_pages(head);
        let n = self.pages[self.next..]
            .iter()
            .take_while(|p| p.0 < end)
            .count();
        self.next += n;
        Some((head, n as u64))
    }

    /// Back to the first folio.
    fn rewind(&mut self) {
        self.next = 0;
    }
}

impl Kernel<'_> {
    /// `is_valid_gup_args` (mm/gup.c, 6.x): FOLL_LONGTERM needs FOLL_PIN, EINVAL otherwise.
    /// Where the design's `gup` is `get` (the 5.x kernels, whose RDMA and VFIO took long-term
    /// FOLL_GET references, allowed in 5.9 and WARNed about from 5.11) it is allowed.
    pub fn is_valid_gup_args(&self, flags: FollFlags) -> Result<(), Errno> {
        if flags.contains(FollFlags::LONGTERM)
            && !flags.contains(FollFlags::PIN)
            && self.design.gup == crate::design::Gup::Pin
        {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// `get_user_pages` / `get_user_pages_remote` (FOLL_GET, optionally FOLL_LONGTERM where
    /// the design allows it) called `calls` times on `range`.
    pub fn get_user_pages(
        &mut self,
        range: &UserRange,
        write: bool,
        longterm: bool,
        calls: u64,
    ) -> Gupped<GupRefs> {
        let flags = get_flags(write, longterm);
        if let Err(e) = self.is_valid_gup_args(flags) {
            return Gupped {
                taken: None,
                err: Some(e),
            };
        }
        let (pages, calls, err) = self.gup_locked(range, flags, calls);
        Gupped {
            taken: (calls > 0).then_some(GupRefs { pages, calls }),
            err,
        }
    }

    /// `pin_user_pages` / `pin_user_pages_remote` (FOLL_PIN, optionally FOLL_LONGTERM) called
    /// `calls` times on `range`.
    pub fn pin_user_pages(
        &mut self,
        range: &UserRange,
        write: bool,
        longterm: bool,
        calls: u64,
    ) -> Gupped<PinnedPages> {
        let flags = pin_flags(write, longterm);
        let (pages, calls, err) = self.gup_locked(range, flags, calls);
        Gupped {
            taken: (calls > 0).then_some(PinnedPages { pages, calls }),
            err,
        }
    }

    /// `__gup_longterm_locked` → `__get_user_pages_locked`, `calls` times: walks the range with
    /// `mmap_lock` held (atomic against every other step), faulting pages in as
    /// `faultin_page` does; for FOLL_LONGTERM under `longterm_migrate = movable`, faults
    /// allocate from the normal zone (`memalloc_pin_save`) and folios found in `ZONE_MOVABLE`
    /// are migrated first (`check_and_migrate_movable_pages`), failing with ENOMEM and
    /// holding nothing if one cannot be. Then every page is grabbed (`try_grab_folio`).
    ///
    /// Simplification: a call grabs all of the range or nothing. The kernel returns a short
    /// count; its callers that need the whole range (io_uring, vfio, gup_test) then release
    /// what they got, which is what happens here.
    fn gup_locked(
        &mut self,
        range: &UserRange,
        flags: FollFlags,
        calls: u64,
    ) -> (Vec<Pfn>, u64, Option<Errno>) {
        self.mm_set_has_pinned_flag(range.task, flags);
        let migrate = flags.contains(FollFlags::LONGTERM)
            && self.design.longterm_migrate == LongtermMigrate::Movable;
        let gfp = if migrate { Gfp::Normal } else { Gfp::Movable };
        let mut pages = match self.follow_range(range, flags, gfp) {
            Ok(pages) => pages,
            Err(e) => return (Vec::new(), 0, Some(e)),
        };
        if migrate {
            match self.check_and_migrate_movable_pages(&pages) {
                Ok(false) => {}
                Ok(true) => match self.follow_range(range, flags, gfp) {
                    Ok(moved) => pages = moved,
                    Err(e) => return (Vec::new(), 0, Some(e)),
                },
                Err(e) => return (Vec::new(), 0, Some(e)),
            }
        }
        let (ok, err) = self.try_grab_pages(&pages, flags, calls);
        (pages, ok, err)
    }

    /// Resolves every page of `range` to a frame, faulting as `__get_user_pages` does:
    /// `check_vma_flags` (EFAULT without a VMA, or FOLL_WRITE on a read-only one), a missing
    /// PTE or a write to a write-protected one faults (`faultin_page`), and a R/O pin that
    /// `gup_must_unshare` first unshares.
    fn follow_range(
        &mut self,
        range: &UserRange,
        flags: FollFlags,
        gfp: Gfp,
    ) -> Result<Vec<Pfn>, Errno> {
        let cow = self.check_vma_flags(range, flags)?;
        let mut out = Vec::with_capacity(range.pages.len());
        for page in range.pages.clone() {
            out.push(self.follow_page(range.task, range.vma, page, flags, gfp, cow)?);
        }
        Ok(out)
    }

    /// `check_vma_flags` (mm/gup.c): EFAULT without a VMA, or for FOLL_WRITE on a read-only
    /// one. Returns whether the VMA is a COW mapping.
    fn check_vma_flags(&self, range: &UserRange, flags: FollFlags) -> Result<bool, Errno> {
        match self.vma(range.task, range.vma) {
            None => Err(Errno::EFAULT),
            Some(v) if flags.contains(FollFlags::WRITE) && v.prot != Prot::Rw => Err(Errno::EFAULT),
            Some(v) if !self.writable_file_mapping_allowed(&v, flags) => Err(Errno::EFAULT),
            Some(v) => Ok(v.kind.is_cow()),
        }
    }

    /// `writable_file_mapping_allowed` (mm/gup.c, 6.5+, under `longterm_file_write =
    /// refuse`): a writable long-term pin (FOLL_PIN) of a shared mapping of a file that needs dirty
    /// tracking (`vma_needs_dirty_tracking`: ext4, whose writeback must see every write) is
    /// refused; shmem's are allowed.
    fn writable_file_mapping_allowed(&self, v: &crate::vm::VmaView, flags: FollFlags) -> bool {
        if self.design.longterm_file_write == crate::design::LongtermFileWrite::Allow
            || !flags.contains(FollFlags::PIN | FollFlags::LONGTERM | FollFlags::WRITE)
        {
            return true;
        }
        match (v.kind, v.file) {
            (crate::vm::VmaKind::Shared, Some((file, _))) => {
                !self.cache.file(file).fs.has_buffers()
            }
            _ => true,
        }
    }

    /// `gup_fast_folio_allowed` (mm/gup.c, 6.5+): GUP-fast, which has no VMA, leaves a
    /// writable long-term pin of a file folio to the slow path unless the folio is anonymous
    /// or shmem's (under `longterm_file_write = refuse`).
    fn gup_fast_folio_allowed(&self, pfn: Pfn, flags: FollFlags) -> bool {
        self.design.longterm_file_write == crate::design::LongtermFileWrite::Allow
            || !flags.contains(FollFlags::PIN | FollFlags::LONGTERM | FollFlags::WRITE)
            || !self.mem.folio_test(pfn, PageFlags::BUFFERED_FS)
    }

    /// One page of `__get_user_pages`: a missing PTE or a write to a write-protected one
    /// faults (`faultin_page`), and a R/O pin that `gup_must_unshare` first unshares.
    fn follow_page(
        &mut self,
        task: TaskId,
        vma: VmaId,
        page: u32,
        flags: FollFlags,
        gfp: Gfp,
        cow: bool,
    ) -> Result<Pfn, Errno> {
        let write = flags.contains(FollFlags::WRITE);
        // At most: a fault, then an unshare; a third look finds the page settled.
        for _ in 0..3 {
            match self.present_page(task, vma, page, "get_user_pages")? {
                None => self.handle_mm_fault(task, vma, page, write, gfp)?,
                Some((_, false)) if write => self.handle_mm_fault(task, vma, page, true, gfp)?,
                Some((pfn, false)) if self.gup_must_unshare(pfn, flags, Some(cow)) => {
                    self.do_wp_page(task, vma, page, gfp, true)?
                }
                Some((pfn, _)) => return Ok(pfn),
            }
        }
        Err(Errno::EFAULT)
    }

    /// One call of `get_user_pages_fast` / `pin_user_pages_fast` as the I/O paths make it
    /// (`iov_iter_get_pages2`, `iov_iter_extract_pages`, `ib_umem_get`): the pages of
    /// `range` up to the first that cannot be had (no VMA, no permission, no memory), each
    /// grabbed once. The kernel returns that count, or the error if it is 0. Faults are taken
    /// as the slow path takes them; the step is atomic, so the fast path's lockless walk
    /// and its fallback give the same pages.
    pub fn gup_prefix(&mut self, range: &UserRange, flags: FollFlags) -> (Vec<Pfn>, Option<Errno>) {
        self.mm_set_has_pinned_flag(range.task, flags);
        let cow = match self.check_vma_flags(range, flags) {
            Ok(cow) => cow,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut pages = Vec::with_capacity(range.pages.len());
        let mut err = None;
        for page in range.pages.clone() {
            match self.follow_page(range.task, range.vma, page, flags, Gfp::Movable, cow) {
                Ok(pfn) => pages.push(pfn),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        if pages.is_empty() {
            return (pages, err);
        }
        match self.try_grab_pages(&pages, flags, 1) {
            (1, _) => (pages, err),
            (_, e) => (Vec::new(), e),
        }
    }

    /// [`gup_must_unshare`] on this kernel's memory and design.
    fn gup_must_unshare(&self, pfn: Pfn, flags: FollFlags, cow_mapping: Option<bool>) -> bool {
        gup_must_unshare(self.mem, self.design, pfn, flags, cow_mapping)
    }

    /// `folio_is_longterm_pinnable` (include/linux/mm.h): the zero page is; a folio in
    /// `ZONE_MOVABLE` is not. (No CMA, device-coherent or fsdax memory is modelled.)
    pub fn folio_is_longterm_pinnable(&self, pfn: Pfn) -> bool {
        self.mem.is_zero_page(pfn) || self.mem.zone(pfn) != Zone::Movable
    }

    /// `check_and_migrate_movable_pages` (mm/gup.c, 5.13+): migrates every folio that is not
    /// long-term pinnable to the normal zone. Returns whether any moved; ENOMEM if one could
    /// not be (the kernel turns any `migrate_pages` failure into -ENOMEM, after unpinning
    /// everything).
    fn check_and_migrate_movable_pages(&mut self, pages: &[Pfn]) -> Result<bool, Errno> {
        let mut moved = false;
        let mut folios = Folios::new(pages);
        let mut heads = Vec::new();
        while let Some((head, _)) = folios.next(self.mem) {
            heads.push(head);
        }
        for head in heads {
            if !self.folio_is_longterm_pinnable(head) {
                self.migrate_folio(head, Gfp::Normal)
                    .map_err(|_| Errno::ENOMEM)?;
                moved = true;
            }
        }
        Ok(moved)
    }

    /// What one grab adds to a folio's `_refcount` (`try_grab_folio`): 1 for FOLL_GET; for
    /// FOLL_PIN 1 on a large folio (whose `_pincount` takes the pin), `GUP_PIN_COUNTING_BIAS`
    /// on a small one, and nothing on the zero page under `zero_page_pin = skip`
    /// (c8070b787519, 6.5).
    fn grab_bias(&self, head: Pfn, flags: FollFlags) -> u32 {
        if !flags.contains(FollFlags::PIN) {
            1
        } else if self.skips_zero_page(head) {
            0
        } else if self.mem.folio_has_pincount(head) {
            1
        } else {
            GUP_PIN_COUNTING_BIAS
        }
    }

    fn skips_zero_page(&self, pfn: Pfn) -> bool {
        self.mem.is_zero_page(pfn) && self.design.zero_page_pin == ZeroPagePin::Skip
    }

    /// `calls` successive calls of `try_grab_folio` on every page of `pages`, each call all or
    /// nothing. Under `ref_overflow = refuse` a grab of a folio whose refcount is not positive
    /// is refused with ENOMEM (the WARN is the kernel's designed defence, not a violation) and
    /// the calls stop there; under `wrap` nothing is refused and a count that passes through
    /// zero is `refcount-overflow`. A pin is always refused so: FOLL_PIN (5.6) came after the
    /// 5.1 fix, and `try_grab_page` checked the count from its first version, so `wrap`
    /// applies to FOLL_GET references only. Pins count in `nr_foll_pin_acquired`, per subpage, except
    /// on a skipped zero page. Returns the calls that succeeded and the failing call's errno.
    pub fn try_grab_pages(
        &mut self,
        pages: &[Pfn],
        flags: FollFlags,
        calls: u64,
    ) -> (u64, Option<Errno>) {
        let mut folios = Folios::new(pages);
        let mut ok = calls;
        if self.design.ref_overflow == RefOverflow::Refuse || flags.contains(FollFlags::PIN) {
            while let Some((head, per_call)) = folios.next(self.mem) {
                let bias = self.grab_bias(head, flags);
                let count = self.mem.folio_ref_count(head);
                let needed = u128::from(ok) * u128::from(per_call) * u128::from(bias);
                if count > 0 && i128::from(count) + needed as i128 <= 1 << 31 {
                    // The usual case: every grab asked for stays below the refusal point.
                    continue;
                }
                let grabs = match bias {
                    0 if count > 0 => u64::MAX,
                    0 => 0,
                    bias => grabs_before_refusal(count, bias),
                };
                ok = ok.min(grabs / per_call);
            }
        }
        folios.rewind();
        let mut pinned = 0;
        while let Some((head, per_call)) = folios.next(self.mem) {
            let bias = self.grab_bias(head, flags);
            if bias == 0 {
                continue;
            }
            let grabs = ok * per_call;
            // One atomic a call for the folio's run of pages (`try_grab_folio(folio, refs)`),
            // and one more on `_pincount`.
            self.mem.folio_ref_add(head, bias, grabs, self.ev);
            self.ev.count_ref_ops(ok);
            if flags.contains(FollFlags::PIN) {
                if self.mem.folio_has_pincount(head) {
                    self.mem.folio_pincount_add(head, 1, grabs, self.ev);
                    self.ev.count_ref_ops(ok);
                }
                pinned += grabs;
            }
        }
        if pinned > 0 {
            self.mem.count_pins_acquired(pinned);
        }
        (ok, (ok < calls).then_some(Errno::ENOMEM))
    }

    /// `put_page` of each page in `pages`, `calls` times (what releases a FOLL_GET reference;
    /// on a pinned small folio it takes 1 where a pin added 1024). With `dirty`, each folio is
    /// first marked dirty (`set_page_dirty_lock`).
    pub fn put_page_calls(&mut self, pages: &[Pfn], calls: u64, dirty: bool) {
        let mut folios = Folios::new(pages);
        while let Some((head, n)) = folios.next(self.mem) {
            if dirty && !self.mem.is_zero_page(head) {
                self.mem.folio_mark_dirty(head, self.ev);
            }
            self.mem
                .folio_put_refs(head, 1, calls * n, "put_page", self.ev);
            self.ev.count_ref_ops(calls * n);
        }
    }

    /// `unpin_user_page` of each page in `pages`, `calls` times (`gup_put_folio` with
    /// FOLL_PIN): nothing for the zero page under `zero_page_pin = skip`; otherwise
    /// `nr_foll_pin_released` per subpage, `_pincount` - 1 and `_refcount` - 1 on a large
    /// folio, `_refcount` - 1024 on a small one. With `dirty`, as
    /// `unpin_user_pages_dirty_lock`: each folio is marked dirty first.
    pub fn unpin_user_page_calls(&mut self, pages: &[Pfn], calls: u64, dirty: bool) {
        let mut folios = Folios::new(pages);
        let mut released = 0;
        while let Some((head, n)) = folios.next(self.mem) {
            if self.skips_zero_page(head) {
                continue;
            }
            let unpins = calls * n;
            if dirty && !self.mem.is_zero_page(head) {
                self.mem.folio_mark_dirty(head, self.ev);
            }
            released += unpins;
            // `unpin_user_pages` batches a folio's run (`gup_folio_next`): one atomic a call,
            // and one more on `_pincount`.
            self.ev.count_ref_ops(calls);
            if self.mem.folio_has_pincount(head) {
                self.ev.count_ref_ops(calls);
                self.mem.folio_pincount_sub(head, unpins, self.ev);
                self.mem
                    .folio_put_refs(head, 1, unpins, "unpin_user_page", self.ev);
            } else {
                self.mem.folio_put_refs(
                    head,
                    GUP_PIN_COUNTING_BIAS,
                    unpins,
                    "unpin_user_page",
                    self.ev,
                );
            }
        }
        if released > 0 {
            self.mem.count_pins_released(released);
        }
    }

    /// Releases GUP references (`put_page` each, or `put_user_pages_dirty_lock`).
    pub fn put_user_refs(&mut self, refs: GupRefs, dirty: bool) {
        self.put_page_calls(&refs.pages, refs.calls, dirty);
    }

    /// `unpin_user_pages_dirty_lock(pages, n, dirty)`.
    pub fn unpin_user_pages(&mut self, pins: PinnedPages, dirty: bool) {
        self.unpin_user_page_calls(&pins.pages, pins.calls, dirty);
    }

    /// The first half of `get_user_pages_fast` / `pin_user_pages_fast` (`gup_fast`):
    /// samples `write_protect_seq` (for a pin under `gup_fast_fork = seqcount`; an odd value
    /// bails out), reads each PTE without locks and grabs its folio (`try_grab_folio_fast`).
    /// `None` means the fast path gave up on the range and the second half runs the slow path:
    /// a missing, write-protected (for FOLL_WRITE), special (zero page) or freed PTE, or a
    /// long-term pin of a folio that is not long-term pinnable. (A R/O pin of a page that must
    /// unshare is grabbed, and dropped by the second half: [`gup_fast_keeps`].)
    ///
    /// Simplification: all of the range or none of it goes fast; the kernel keeps the prefix
    /// it grabbed and sends the rest to the slow path.
    pub fn gup_fast_begin(
        &mut self,
        range: &UserRange,
        flags: FollFlags,
        calls: u64,
    ) -> Option<FastGup> {
        let UserRange {
            task,
            vma,
            ref pages,
        } = *range;
        self.vma(task, vma)?;
        self.mm_set_has_pinned_flag(task, flags);
        let seq = self.vm.task(task).write_protect_seq;
        if fast_checks_seq(self.design, flags) && seq % 2 == 1 {
            return None;
        }
        let write = flags.contains(FollFlags::WRITE);
        let migrate = self.design.longterm_migrate == LongtermMigrate::Movable;
        let mut ptes = Vec::with_capacity(pages.len());
        let mut pfns = Vec::with_capacity(pages.len());
        for page in pages.clone() {
            let pte = self.pte(task, vma, page);
            let Pte::Present { pfn, write: w } = pte else {
                return None;
            };
            let unusable = !self.mem.in_use(pfn)
                || self.mem.is_zero_page(pfn)
                || (write && !w)
                || (flags.contains(FollFlags::LONGTERM)
                    && migrate
                    && !self.folio_is_longterm_pinnable(pfn))
                || !self.gup_fast_folio_allowed(pfn, flags);
            if unusable {
                return None;
            }
            ptes.push(pte);
            pfns.push(pfn);
        }
        // try_get_folio refuses a negative count and cannot add to a zero one: the same
        // threshold as the slow path's.
        let (ok, err) = self.try_grab_pages(&pfns, flags, calls);
        Some(FastGup {
            seq,
            ptes,
            pages: pfns,
            calls: ok,
            refused: err.is_some(),
            freed: Vec::new(),
        })
    }

    /// `mm_set_has_pinned_flag`: the first FOLL_PIN on an mm sets `MMF_HAS_PINNED`, before the
    /// walk (fork then copies the pages that may be pinned).
    fn mm_set_has_pinned_flag(&mut self, task: TaskId, flags: FollFlags) {
        let mut t = self.vm.task(task);
        if flags.contains(FollFlags::PIN) && t.alive() && !t.has_pinned {
            t.has_pinned = true;
            self.vm.set_task(task, t);
        }
    }

    /// The second half of GUP-fast: rechecks every PTE (`pte_val(pte) !=
    /// pte_val(ptep_get(ptep))`) and, for a pin under `seqcount`, that `write_protect_seq` has
    /// not moved; if all holds, keeps what was grabbed; otherwise drops it
    /// (`gup_put_folio`, which may free a page a concurrent munmap left to it) and falls back
    /// to the slow path (`__gup_longterm_locked`) for the whole range.
    pub fn gup_fast_end(
        &mut self,
        range: &UserRange,
        flags: FollFlags,
        calls: u64,
        grabbed: Option<FastGup>,
    ) -> (Vec<Pfn>, u64, Option<Errno>) {
        if let Some(g) = grabbed {
            if gup_fast_keeps(self.vm, self.mem, self.design, range, flags, &g) {
                return (g.pages, g.calls, g.refused.then_some(Errno::ENOMEM));
            }
            self.ev.note(|| "gup-fast: a PTE or write_protect_seq changed, or a page must be unshared: drop and fall back to the slow path".into());
            let mut pages = g.pages;
            for &i in g.freed.iter().rev() {
                let pfn = pages.remove(i as usize);
                self.ev.raise(Invariant::UseAfterFree, || {
                    format!("gup-fast drops its grab of {pfn}, which was freed under it")
                });
                if flags.contains(FollFlags::PIN) {
                    // gup_put_folio counts the release before it touches the folio.
                    self.mem.count_pins_released(g.calls);
                }
            }
            if flags.contains(FollFlags::PIN) {
                self.unpin_user_page_calls(&pages, g.calls, false);
            } else {
                self.put_page_calls(&pages, g.calls, false);
            }
        }
        self.gup_locked(range, flags, calls)
    }
}

/// Whether GUP-fast looks at `write_protect_seq`: only for FOLL_PIN
/// (`lockless_pages_from_mm`), and only under `gup_fast_fork = seqcount`.
fn fast_checks_seq(design: &Design, flags: FollFlags) -> bool {
    flags.contains(FollFlags::PIN) && design.gup_fast_fork == crate::design::GupFastFork::Seqcount
}

/// `gup_must_unshare` (mm/internal.h), asked for a write-protected PTE: only a R/O pin
/// (FOLL_PIN without FOLL_WRITE) may need to unshare. An anon page must be
/// PageAnonExclusive (5.19+, `pae-anon-only` and `anon-exclusive`); any other page (the
/// zero page, a page-cache page) is unshared only for FOLL_LONGTERM in a COW mapping (6.2+,
/// `anon-exclusive`; 5.19–6.1 never unshare it). `cow_mapping` is the VMA's
/// `is_cow_mapping`, or `None` on the fast path, which has no VMA and so unshares (falls
/// back to the slow path) whenever it might have to.
pub fn gup_must_unshare(
    mem: &MemMap,
    design: &Design,
    pfn: Pfn,
    flags: FollFlags,
    cow_mapping: Option<bool>,
) -> bool {
    if flags & (FollFlags::WRITE | FollFlags::PIN) != FollFlags::PIN {
        return false;
    }
    let anon = mem.folio_flags(pfn).contains(PageFlags::ANON);
    let exclusive = mem.frame(pfn).flags.contains(PageFlags::ANON_EXCLUSIVE);
    match design.cow {
        Cow::Mapcount | Cow::Refcount => false,
        Cow::PaeAnonOnly => anon && !exclusive,
        Cow::AnonExclusive if anon => !exclusive,
        Cow::AnonExclusive => flags.contains(FollFlags::LONGTERM) && cow_mapping.unwrap_or(true),
    }
}

/// Whether GUP-fast's second step keeps what its first grabbed: the VMA is still there, every
/// PTE is what was read (`pte_val(pte) != pte_val(ptep_get(ptep))` otherwise), for a pin under
/// `seqcount` the sequence has not moved (`read_seqcount_retry`), and no write-protected page
/// must be unshared (`gup_must_unshare` with no VMA, which 5.19–6.4 run after the grab and the
/// recheck). If not, it drops the grab and takes the slow path, which needs `mmap_lock`.
pub fn gup_fast_keeps(
    vm: &Vm,
    mem: &MemMap,
    design: &Design,
    range: &UserRange,
    flags: FollFlags,
    g: &FastGup,
) -> bool {
    let UserRange {
        task,
        vma,
        ref pages,
    } = *range;
    vm.task(task).alive()
        && vm.vma(task, vma).mapped
        && pages
            .clone()
            .zip(&g.ptes)
            .all(|(page, pte)| vm.pte(task, vma, page) == *pte)
        && (!fast_checks_seq(design, flags) || vm.task(task).write_protect_seq == g.seq)
        && g.ptes.iter().all(|pte| match *pte {
            Pte::Present { pfn, write: false } => {
                !mem.in_use(pfn) || !gup_must_unshare(mem, design, pfn, flags, None)
            }
            _ => true,
        })
}

/// The flags `pin_user_pages` passes down.
pub fn pin_flags(write: bool, longterm: bool) -> FollFlags {
    let mut flags = FollFlags::PIN;
    flags.set(FollFlags::WRITE, write);
    flags.set(FollFlags::LONGTERM, longterm);
    flags
}

/// The flags `get_user_pages` passes down.
pub fn get_flags(write: bool, longterm: bool) -> FollFlags {
    let mut flags = FollFlags::GET;
    flags.set(FollFlags::WRITE, write);
    flags.set(FollFlags::LONGTERM, longterm);
    flags
}
