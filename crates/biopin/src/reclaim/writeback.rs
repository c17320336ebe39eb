//! Writeback of page-cache folios (mm/page-writeback.c `write_cache_pages`,
//! `folio_clear_dirty_for_io`, `folio_end_writeback`; fs/ext4/inode.c's writepages; mm/rmap.c
//! `folio_mkclean`), with the `writeback` knob's test of maybe-DMA-pinned folios.
//!
//! A folio's writeback is one caller step — lock, `page_mkclean`, the knob's pin test,
//! `folio_clear_dirty_for_io`, set `PG_writeback`, unlock, build and submit a bio of the folio
//! — then two device steps: the transfer, and `folio_end_writeback`. One bio per folio
//! (ext4 gathers contiguous blocks into one bio; nothing here depends on that).

use crate::design::{BioRefs, Writeback};
use crate::errno::Errno;
use crate::mm::{Gfp, Invariant, PageContent, PageFlags, Pfn};
use crate::pagecache::{FileId, WbPage, WbStage};
use crate::vm::{Kernel, Pte};

/// What writeback did with one folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrote {
    /// Not cached, or clean: nothing to do.
    Clean,
    /// Left dirty, unwritten (`writeback = skip`, background, maybe-DMA-pinned).
    Skipped,
    /// Dirty without buffers: ext4 warns, clears the dirty bit and writes nothing.
    NoBuffers,
    /// A bio was submitted: of the folio, or of a bounce copy.
    Submitted,
}

impl Kernel<'_> {
    /// Every PTE mapping `pfn`, through a file mapping (the rmap walk of a page-cache folio).
    pub fn file_mappings(&self, pfn: Pfn) -> Vec<(usize, usize, u32)> {
        let mut out = Vec::new();
        for t in 0..self.vm.nr_tasks() {
            for v in 0..self.vm.nr_vmas(t) {
                let l = self.vm.layout(t, v);
                if l.file.is_none() {
                    continue;
                }
                for p in 0..l.pages {
                    if let Pte::Present { pfn: q, .. } = self.vm.pte(t, v, p)
                        && q == pfn
                    {
                        out.push((t, v, p));
                    }
                }
            }
        }
        out
    }

    /// `folio_mkclean` (mm/rmap.c): write-protects every writable PTE mapping the folio, so
    /// that the next write through one faults and calls `->page_mkwrite` again. Returns
    /// whether any was writable.
    pub fn page_mkclean(&mut self, pfn: Pfn) -> bool {
        let mut any = false;
        for (t, v, p) in self.file_mappings(pfn) {
            if let Pte::Present { pfn, write: true } = self.vm.pte(t, v, p) {
                self.set_pte(t, v, p, Pte::Present { pfn, write: false });
                any = true;
            }
        }
        any
    }

    /// One folio of writeback (`write_cache_pages` → ext4's writepages for page `index` of
    /// `file`): lock, `page_mkclean`, then the design's pin test on a maybe-DMA-pinned folio —
    /// `ignore`: none; `skip` (Kara's 2023 RFC): background writeback leaves it dirty, an
    /// integrity sync writes it as any other folio, through a bounce copy only on a file that
    /// needs stable writes; `bounce`: always a bounce copy, the folio staying dirty — then
    /// `folio_clear_dirty_for_io`. A dirty ext4 folio without buffers is then skipped, as
    /// cc5095747edf (5.18) made ext4 do: warned about, cleaned, not written
    /// (`dirty-without-buffers`). Otherwise `PG_writeback` is set (not for a bounce copy), the
    /// folio unlocked, and a bio of it submitted: under `bio_refs = all-pins` it pins the page it
    /// carries (`get_gup_pin`). ENOMEM if a bounce frame cannot be had.
    pub fn writeback_folio(
        &mut self,
        file: FileId,
        index: u32,
        sync: bool,
    ) -> Result<Wrote, Errno> {
        let Some(pfn) = self.cache.lookup(file, index) else {
            return Ok(Wrote::Clean);
        };
        // shmem writes back to swap, which is not modelled: its fsync does nothing.
        if !self.mem.folio_test(pfn, PageFlags::DIRTY) || !self.cache.file(file).fs.has_buffers() {
            return Ok(Wrote::Clean);
        }
        if under_writeback(self.cache, self.mem, file, index) {
            return Ok(Wrote::Skipped);
        }
        self.page_mkclean(pfn);
        let pinned = self.mem.folio_maybe_dma_pinned(pfn);
        let bounce = pinned
            && match self.design.writeback {
                Writeback::Ignore => false,
                Writeback::Skip if !sync => {
                    self.ev.note(|| {
                        format!("{pfn} may be DMA-pinned: background writeback leaves it dirty")
                    });
                    return Ok(Wrote::Skipped);
                }
                // Kara's RFC: an integrity sync cleans and writes a pinned folio as any other;
                // only a stable-writes superblock has the block layer bounce it
                // (BIO_NEED_PIN_BOUNCE). Modelled as the bounce copy below, the folio left
                // dirty where the RFC cleans it and bounces in the bio.
                Writeback::Skip => self.cache.file(file).stable_writes,
                Writeback::Bounce => true,
            };
        if !self.mem.folio_test(pfn, PageFlags::PRIVATE) && self.cache.file(file).fs.has_buffers() {
            let before_5_18 = matches!(
                self.design.preset(),
                crate::design::Preset::Linux5_0
                    | crate::design::Preset::Glisse2019
                    | crate::design::Preset::Kara2019
            );
            self.ev.raise(Invariant::DirtyWithoutBuffers, || {
                if before_5_18 {
                    format!("writeback finds {pfn} (page {index} of an ext4 file) dirty with no buffers: this kernel's ext4 calls page_buffers() on it and hits its BUG_ON (the 2018 crash); the model goes on as 5.18+ does (cc5095747edf): warn, clean it, write nothing")
                } else {
                    format!("writeback finds {pfn} (page {index} of an ext4 file) dirty with no buffers: ext4 warns (cc5095747edf, 5.18), cleans it and writes nothing")
                }
            });
            self.mem.folio_test_clear_dirty(pfn);
            return Ok(Wrote::NoBuffers);
        }
        let src = if bounce {
            let copy = self.mem.alloc_folio(0, Gfp::Normal).ok_or(Errno::ENOMEM)?;
            self.mem.set_content(copy, self.mem.content(pfn));
            self.ev
                .note(|| format!("{pfn} may be DMA-pinned: a bounce copy at {copy} is written, the folio stays dirty"));
            copy
        } else {
            self.mem.folio_test_clear_dirty(pfn);
            self.mem.folio_set_flag(pfn, PageFlags::WRITEBACK, true);
            pfn
        };
        let all_pins = self.design.bio_refs == BioRefs::AllPins;
        if all_pins {
            self.as_io(|k| k.get_gup_pin(src));
        }
        self.cache.set_wb(
            file,
            index,
            WbPage {
                stage: WbStage::Submitted,
                src,
                bounce,
                pinned: all_pins,
                submitted: self.mem.content(src),
            },
        );
        Ok(Wrote::Submitted)
    }

    /// The device's transfer of page `index` of `file`'s writeback bio: the block takes what
    /// the page holds now. On a file that needs stable writes, a page changed since the bio
    /// was submitted is `unstable-page-write` (the checksum or parity computed at submission
    /// no longer matches).
    pub fn writeback_transfer(&mut self, file: FileId, index: u32) {
        let mut wb = self.cache.wb(file, index);
        let content: PageContent = if self.mem.in_use(wb.src) {
            self.mem.content(wb.src)
        } else {
            self.ev.raise(Invariant::UseAfterFree, || {
                format!(
                    "the writeback of page {index} reads {}, which was freed",
                    wb.src
                )
            });
            wb.submitted
        };
        if self.cache.file(file).stable_writes && content != wb.submitted {
            let (was, now) = (wb.submitted.value, content.value);
            self.ev.raise(Invariant::UnstablePageWrite, || {
                format!("page {index} changed from {was:#04x} to {now:#04x} between its writeback's submission and the transfer")
            });
        }
        self.cache.write_block(file, index, content);
        self.ev.io_pages += 1;
        wb.stage = WbStage::Transferred;
        self.cache.set_wb(file, index, wb);
    }

    /// `folio_end_writeback` with the bio's `bio_put`: `PG_writeback` cleared (waking waiters),
    /// the bio's pin dropped (`all-pins`), a bounce copy freed.
    pub fn folio_end_writeback(&mut self, file: FileId, index: u32) {
        let wb = self.cache.wb(file, index);
        if wb.pinned {
            self.as_io(|k| k.unpin_user_page_calls(&[wb.src], 1, false));
        }
        if wb.bounce {
            self.mem
                .folio_put_refs(wb.src, 1, 1, "the bounce page", self.ev);
        } else if self.mem.in_use(wb.src) {
            self.mem.folio_set_flag(wb.src, PageFlags::WRITEBACK, false);
        }
        self.cache.set_wb(file, index, WbPage::default());
    }

    /// The final sync of every file, at the end of a path (the run's implicit `fsync`): each
    /// dirty folio of an ext4 file written back and its I/O completed at once, in file order.
    /// shmem files have no disk and are skipped.
    pub fn final_sync(&mut self) {
        for f in 0..self.cache.nr_files() {
            let shape = self.cache.file(f);
            if !shape.fs.has_buffers() {
                continue;
            }
            for i in 0..shape.pages {
                if self.cache.wb(f, i).stage == WbStage::Idle {
                    self.write_and_wait_folio(f, i);
                }
            }
        }
    }

    /// An integrity writeback of page `index` of `file` whose I/O completes at once, within
    /// the caller's step (`filemap_write_and_wait_range` for one page): the writeback, the
    /// transfer and `folio_end_writeback`. Nothing if the page is clean.
    pub fn write_and_wait_folio(&mut self, file: FileId, index: u32) {
        if self.writeback_folio(file, index, true) == Ok(Wrote::Submitted) {
            self.writeback_transfer(file, index);
            self.folio_end_writeback(file, index);
        }
    }
}

/// Whether the final sync has anything to write: a dirty cached page of an ext4 file.
pub fn needs_final_sync(cache: &crate::pagecache::PageCache, mem: &crate::mm::MemMap) -> bool {
    cache
        .cached()
        .any(|(f, _, pfn)| cache.file(f).fs.has_buffers() && mem.folio_test(pfn, PageFlags::DIRTY))
}

/// `lost-write`, after the final sync: a cached page of an ext4 file whose block on disk
/// holds something else.
pub fn check_lost_writes(
    cache: &crate::pagecache::PageCache,
    mem: &crate::mm::MemMap,
    names: &[String],
    ev: &mut crate::mm::Events,
) {
    for (f, i, pfn) in cache.cached() {
        if !cache.file(f).fs.has_buffers() {
            continue;
        }
        let (page, block) = (mem.content(pfn), cache.block(f, i));
        if page.value != block.value {
            ev.raise(Invariant::LostWrite, || {
                format!(
                    "after the final sync, page {i} of `{}` holds {:#04x} in the page cache but {:#04x} on disk",
                    names[f], page.value, block.value
                )
            });
        }
    }
}

/// The next page of `file` from `from` on that writeback would act on: a cached dirty folio —
/// for background writeback one not under writeback (skipped), for an integrity sync any
/// (the sync waits for one under writeback).
pub fn next_writeback_page(
    cache: &crate::pagecache::PageCache,
    mem: &crate::mm::MemMap,
    file: FileId,
    from: u32,
    sync: bool,
) -> Option<u32> {
    if !cache.file(file).fs.has_buffers() {
        return None;
    }
    (from..cache.file(file).pages).find(|&i| {
        cache.lookup(file, i).is_some_and(|pfn| {
            mem.folio_test(pfn, PageFlags::DIRTY) && (sync || !under_writeback(cache, mem, file, i))
        })
    })
}

/// Whether page `index` of `file` has writeback in flight: its folio is under writeback, or
/// a bounce copy of it is being written. Simplification: one writeback of a page at a time,
/// so a folio whose bounce copy is in flight is treated as under writeback (the kernel would
/// let a second bio of it start).
pub fn under_writeback(
    cache: &crate::pagecache::PageCache,
    mem: &crate::mm::MemMap,
    file: FileId,
    index: u32,
) -> bool {
    cache.wb(file, index).stage != WbStage::Idle
        || cache
            .lookup(file, index)
            .is_some_and(|pfn| mem.folio_test(pfn, PageFlags::WRITEBACK))
}

/// Whether writing page `index` of `file` must wait: the folio is under writeback and the
/// file needs stable pages (`folio_wait_stable`).
pub fn waits_stable(
    cache: &crate::pagecache::PageCache,
    mem: &crate::mm::MemMap,
    file: FileId,
    index: u32,
) -> bool {
    cache.file(file).stable_writes
        && cache
            .lookup(file, index)
            .is_some_and(|pfn| mem.folio_test(pfn, PageFlags::WRITEBACK))
}
