//! Reclaim of page-cache folios (mm/vmscan.c `shrink_folio_list`, `pageout`,
//! `__remove_mapping`) and migration of a mapped folio (mm/migrate.c).

use crate::design::Reclaim;
use crate::errno::Errno;
use crate::mm::{Gfp, PageFlags, Pfn};
use crate::pagecache::FileId;
use crate::reclaim::writeback::Wrote;
use crate::vm::{Kernel, Pte};

/// What reclaim did with one folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reclaimed {
    /// Not cached.
    Absent,
    /// Under writeback: left alone.
    Writeback,
    /// Maybe DMA-pinned under `reclaim = keep-pinned`: activated and kept as it is.
    KeptPinned,
    /// Dirty, and written out (`pageout`).
    PagedOut,
    /// Dirty, and something besides the page cache holds it: kept dirty in memory.
    KeptDirty,
    /// Clean: buffers released (if any), and removed from the page cache if nothing else
    /// held it (`true`).
    Freed(bool),
}

impl std::fmt::Display for Reclaimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reclaimed::Absent => "not in the page cache",
            Reclaimed::Writeback => "under writeback: skipped",
            Reclaimed::KeptPinned => "maybe DMA-pinned: activated and kept (keep-pinned)",
            Reclaimed::PagedOut => "dirty: written out by pageout",
            Reclaimed::KeptDirty => "dirty and held besides the page cache: kept",
            Reclaimed::Freed(true) => "clean: buffers released and removed from the page cache",
            Reclaimed::Freed(false) => {
                "clean: buffers released, but held besides the page cache, so it stays cached"
            }
        })
    }
}

impl Kernel<'_> {
    /// `try_to_unmap` of a page-cache folio: every PTE mapping it is zapped (its reference and
    /// mapcount dropped); the next access faults it back in.
    pub fn try_to_unmap(&mut self, pfn: Pfn) {
        for (t, v, p) in self.file_mappings(pfn) {
            self.mem.page_mapcount_add(pfn, -1);
            self.mem.folio_put_refs(pfn, 1, 1, "try_to_unmap", self.ev);
            self.set_pte(t, v, p, Pte::None);
        }
    }

    /// `shrink_folio_list` for page `index` of `file`: a folio under writeback is left alone;
    /// otherwise it is locked and unmapped. Under `reclaim = keep-pinned` a maybe-DMA-pinned
    /// folio is then activated and kept as it is (d824ec2a1546). A dirty folio is paged out —
    /// a background writeback — only if the page cache's reference (and its buffers') is all
    /// that holds it (`is_page_cache_freeable`: any GUP reference, pin or bio reference keeps it
    /// dirty in memory). A clean folio's buffers are released whatever else holds it
    /// (`filemap_release_folio`), and the folio leaves the page cache if its count allows
    /// (`__remove_mapping`).
    pub fn shrink_folio(&mut self, file: FileId, index: u32) -> Result<Reclaimed, Errno> {
        let Some(pfn) = self.cache.lookup(file, index) else {
            return Ok(Reclaimed::Absent);
        };
        if crate::reclaim::writeback::under_writeback(self.cache, self.mem, file, index) {
            return Ok(Reclaimed::Writeback);
        }
        self.try_to_unmap(pfn);
        if self.design.reclaim == Reclaim::KeepPinned && self.mem.folio_maybe_dma_pinned(pfn) {
            self.ev
                .note(|| format!("{pfn} may be DMA-pinned: activated, kept as it is"));
            return Ok(Reclaimed::KeptPinned);
        }
        let private = i32::from(self.mem.folio_test(pfn, PageFlags::PRIVATE));
        let freeable = self.mem.folio_ref_count(pfn) - private == 1;
        if self.mem.folio_test(pfn, PageFlags::DIRTY) {
            if !freeable {
                self.ev
                    .note(|| format!("{pfn} is dirty and held besides the page cache: kept"));
                return Ok(Reclaimed::KeptDirty);
            }
            return match self.writeback_folio(file, index, false)? {
                Wrote::Submitted => Ok(Reclaimed::PagedOut),
                _ => Ok(Reclaimed::KeptDirty),
            };
        }
        self.cache.filemap_release_folio(self.mem, pfn, self.ev);
        Ok(Reclaimed::Freed(self.remove_mapping(file, index, pfn)))
    }

    /// `__remove_mapping` (mm/vmscan.c; `invalidate_complete_folio2` for invalidation): a clean
    /// folio leaves the page cache only if the page cache's reference is all that holds it.
    /// Returns whether it left.
    pub fn remove_mapping(&mut self, file: FileId, index: u32, pfn: Pfn) -> bool {
        let free =
            self.mem.folio_ref_count(pfn) == 1 && !self.mem.folio_test(pfn, PageFlags::DIRTY);
        if free {
            self.cache
                .filemap_remove_folio(self.mem, file, index, self.ev);
        }
        free
    }

    /// `migrate A` (`migrate_pages` of the folio a PTE maps, mm/migrate.c): the folio moves to
    /// a new frame only if its references are exactly those the migration accounts for
    /// ([`Kernel::migrate_folio`]); any other (a GUP reference, a pin, a bio) makes it fail,
    /// after the kernel's retries, with EBUSY. The zero page is not migrated.
    pub fn migrate_mapped(&mut self, task: usize, vma: usize, page: u32) -> Result<(), Errno> {
        let Some((pfn, _)) = self.present_page(task, vma, page, "migrate")? else {
            return Err(Errno::EFAULT);
        };
        if self.mem.is_zero_page(pfn) {
            return Ok(());
        }
        self.migrate_folio(pfn, Gfp::Movable).map_err(|e| match e {
            Errno::EAGAIN => {
                self.ev.note(|| {
                    format!("{pfn} is held by more than its mappings and the page cache: EAGAIN, then EBUSY")
                });
                Errno::EBUSY
            }
            e => e,
        })
    }
}
