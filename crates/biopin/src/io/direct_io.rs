//! Direct I/O (`O_DIRECT` read and write on an ext4 file), shaped as iomap does it
//! (fs/iomap/direct-io.c `__iomap_dio_rw`, `iomap_dio_bio_iter`, `iomap_dio_bio_end_io`):
//! the caller extracts its pages into bios and submits them, then sleeps; the device
//! transfers each request; each bio's completion drops the op's count and the last wakes the
//! caller; each bio's pages are released after that (`bio_check_pages_dirty` for a read),
//! so they can outlive the syscall.
//!
//! Under `bio_refs = ref` (the 5.x kernels, whose ext4 used fs/direct-io.c) a synchronous
//! read does not dirty its pages before submitting: the caller's `dio_bio_complete` dirties
//! and puts them once the bio has completed, before the syscall returns.
//!
//! The page cache is kept coherent as iomap keeps it: dirty cached pages of the range are
//! written back first, and a write invalidates the range before and after (falling back to
//! buffered I/O when a page cannot be invalidated beforehand).
//!
//! Simplifications: the file is one extent on the device, fully allocated (no zeroing of
//! partial blocks, no unwritten extents). A sub-page transfer sets the whole page's value: a page takes the value of the last block its
//! bytes come from, and a block that of the last page its bytes come from.

use crate::block::{
    Bio, BioFlags, HeldBio, IovIter, IterDir, PAGE_SIZE, QueueLimits, SECTOR_SHIFT,
    bio_split_to_limits,
};
use crate::design::BioRefs;
use crate::errno::Errno;
use crate::io::inflight::{BioStage, IoStage, Ios};
use crate::mm::{Invariant, PageContent, PageFlags, Writer};
use crate::program::{IoDef, IoId};
use crate::vm::Kernel;

/// What a device step did to the op it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woke {
    /// Nothing the caller sees.
    No,
    /// The caller was woken: its op returns this.
    Caller(Result<(), Errno>),
}

/// A pending device step of a direct-I/O op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevStep {
    /// The transfer of request `piece` (a slot among the op's).
    Transfer(u32),
    /// Bio `b`'s completion (`bi_end_io`).
    EndIo(u32),
    /// Bio `b`'s release after its completion.
    Release(u32),
    /// Bio `b`'s deferred release (`bio_dirty_work`).
    DirtyWork(u32),
}

impl DevStep {
    /// The device id of this step of `def` (docs/design.md: encoded after the actors).
    pub fn id(self, def: &IoDef) -> u32 {
        def.first_device
            + match self {
                DevStep::Transfer(p) => p,
                DevStep::EndIo(b) => def.max_pieces + 3 * b,
                DevStep::Release(b) => def.max_pieces + 3 * b + 1,
                DevStep::DirtyWork(b) => def.max_pieces + 3 * b + 2,
            }
    }

    /// The step of `def` that device id `id` names (`id` within its range).
    pub fn from_id(def: &IoDef, id: u32) -> DevStep {
        let local = id - def.first_device;
        if local < def.max_pieces {
            return DevStep::Transfer(local);
        }
        let b = (local - def.max_pieces) / 3;
        match (local - def.max_pieces) % 3 {
            0 => DevStep::EndIo(b),
            1 => DevStep::Release(b),
            _ => DevStep::DirtyWork(b),
        }
    }
}

/// The device steps op `o` has pending, in id order.
pub fn pending(ios: &Ios, o: IoId, def: &IoDef, out: &mut Vec<u32>) {
    let io = ios.io(o);
    if io.stage == IoStage::Idle {
        return;
    }
    for b in 0..io.bios {
        if ios.bio(o, b).stage != BioStage::InFlight {
            continue;
        }
        for (p, piece) in ios.pieces(o, b) {
            if !piece.done {
                out.push(DevStep::Transfer(p).id(def));
            }
        }
    }
    for b in 0..io.bios {
        let step = match ios.bio(o, b).stage {
            BioStage::InFlight if ios.pieces(o, b).all(|(_, p)| p.done) => DevStep::EndIo(b),
            BioStage::Ended => DevStep::Release(b),
            BioStage::DirtyWork => DevStep::DirtyWork(b),
            _ => continue,
        };
        out.push(step.id(def));
    }
    out.sort_unstable();
}

impl Kernel<'_> {
    /// The caller's step of `dio-read` / `dio-write` (`__iomap_dio_rw` up to the sleep): EINVAL
    /// unless the length and the file offset are multiples of the logical block size and the
    /// memory address is aligned — to `dma_alignment + 1` from 6.0, to the logical block size
    /// before (`iomap_dio_bio_iter`); then bios of up to `BIO_MAX_VECS` bvecs filled by
    /// `bio_iov_iter_get_pages` until the transfer is covered, each dirtied before a read
    /// (`bio_set_pages_dirty`, except under `ref`), split at the queue limits and submitted.
    /// An extraction that fails after a bio was built ends the submission: what was built is
    /// transferred and the op returns the error when woken.
    ///
    /// Before any bio, the page cache is made coherent with the transfer as iomap does it:
    /// dirty cached pages of the range are written back and waited for
    /// (`kiocb_write_and_wait`; the caller sleeps first while one is under writeback), and
    /// for a write every cached page of the range is invalidated (`kiocb_invalidate_pages`:
    /// unmapped, buffers released, removed, whatever else holds it). If one cannot be — it is
    /// still dirty — iomap returns -ENOTBLK and ext4 does the write as buffered I/O
    /// instead (`ext4_buffered_write_iter`), at once. `Ok(true)`: the caller sleeps until its
    /// bios complete; `Ok(false)`: the op is done.
    pub fn dio_submit(
        &mut self,
        ios: &mut Ios,
        o: IoId,
        def: &IoDef,
        q: &QueueLimits,
    ) -> Result<bool, Errno> {
        let lbs = u64::from(q.logical_block_size);
        let file_pos = u64::from(def.file_page) * u64::from(PAGE_SIZE);
        // The address: against dma_alignment from 6.0 (bdev_iter_is_aligned), against the
        // logical block size before.
        let addr_mask = if self.design.preset().dio_checks_dma_alignment() {
            u64::from(q.dma_alignment)
        } else {
            lbs - 1
        };
        if def.start & addr_mask != 0 || def.len % lbs != 0 || file_pos % lbs != 0 {
            return Err(Errno::EINVAL);
        }
        // Past the end of the file: a read returns what lies before it (nothing at all if it
        // starts past it); a write extends the file (at submission here, at completion in
        // iomap).
        let eof = u64::from(self.cache.i_size(def.file)) * u64::from(PAGE_SIZE);
        let len = if def.write {
            let end = (file_pos + def.len).div_ceil(u64::from(PAGE_SIZE)) as u32;
            if end > self.cache.i_size(def.file) {
                self.cache.set_i_size(def.file, end);
            }
            def.len
        } else {
            def.len.min(eof.saturating_sub(file_pos))
        };
        if len == 0 {
            return Ok(false);
        }
        self.dio_write_and_wait(def);
        if def.write && !self.dio_invalidate(def) {
            self.ev.note(|| {
                "a cached page of the range cannot be invalidated: -ENOTBLK, and ext4 writes buffered".into()
            });
            self.dio_buffered_fallback(def)?;
            return Ok(false);
        }
        let dir = if def.write {
            IterDir::Source
        } else {
            IterDir::Dest
        };
        let r = &def.range;
        let mut iter = IovIter::ubuf(dir, r.task, r.vma, def.start, len);
        let dirty_before = !def.write && self.design.bio_refs != BioRefs::Ref;
        let mut start = 0u64;
        let mut err = None;
        while iter.count() > 0 {
            let nr_vecs = bio_iov_vecs_to_alloc(&iter);
            let sector = (file_pos + start) >> SECTOR_SHIFT;
            let mut bio = Bio::new(nr_vecs, sector);
            bio.single_page_bvecs = self.design.preset() == crate::design::Preset::Linux5_0;
            let mut b = HeldBio {
                bio,
                held: Vec::new(),
            };
            if let Err(e) = self.bio_iov_iter_get_pages(&mut b, &mut iter, q.logical_block_size) {
                err = Some(e);
                break;
            }
            if dirty_before {
                self.bio_set_pages_dirty(&b);
            }
            let submitted: Vec<PageContent> =
                if def.write && self.cache.file(def.file).stable_writes {
                    b.held
                        .iter()
                        .map(|&(pfn, _)| self.mem.content(pfn))
                        .collect()
                } else {
                    Vec::new()
                };
            let pieces = bio_split_to_limits(q, &b.bio);
            ios.push_bio(o, &b, start as u32, &pieces, &submitted);
            start += u64::from(b.bio.size);
            let (n, size) = (pieces.len(), b.bio.size);
            let refs = self.design.bio_refs;
            self.ev.note(|| {
                let vcnt = b.bio.vcnt();
                let flags = match refs {
                    BioRefs::VecFlag => "each bvec flagged as from GUP".to_owned(),
                    BioRefs::AllPins => "every page pinned, by rule".to_owned(),
                    BioRefs::Ref | BioRefs::PinnedFlag => flags_text(b.bio.flags),
                };
                format!(
                    "bio {} of {size} bytes in {vcnt} bvec{} ({flags}), submitted as {n} request{}",
                    ios.io(o).bios - 1,
                    if vcnt == 1 { "" } else { "s" },
                    if n == 1 { "" } else { "s" }
                )
            });
        }
        let mut io = ios.io(o);
        if io.bios == 0 {
            return Err(err.unwrap_or(Errno::EFAULT));
        }
        io.stage = IoStage::InFlight;
        io.err = err;
        ios.set_io(o, io);
        Ok(true)
    }

    /// The file pages a direct I/O covers.
    fn dio_file_pages(def: &IoDef) -> std::ops::Range<u32> {
        let last = (def.len - 1) / u64::from(PAGE_SIZE);
        def.file_page..def.file_page + last as u32 + 1
    }

    /// `kiocb_write_and_wait` → `filemap_write_and_wait_range`: every dirty cached page of the
    /// range written back, its I/O waited for (the submission is one step: the writeback's
    /// transfer and end happen within it).
    fn dio_write_and_wait(&mut self, def: &IoDef) {
        for index in Self::dio_file_pages(def) {
            self.write_and_wait_folio(def.file, index);
        }
    }

    /// `invalidate_inode_pages2_range` over the range (mm/truncate.c): each cached page
    /// unmapped from every mapping (`unmap_mapping_folio`), its buffers released
    /// (`filemap_release_folio`), and removed from the page cache by
    /// `invalidate_complete_folio2`, which, unlike reclaim's `__remove_mapping`, ignores the
    /// folio's refcount: a page a pin or a GUP reference holds leaves the page cache all the
    /// same, and the holder keeps an orphan. Only a folio still dirty (its buffers then cannot
    /// be released; ext4 has no `launder_folio`) stays. False if one stayed (-EBUSY).
    fn dio_invalidate(&mut self, def: &IoDef) -> bool {
        let mut all = true;
        for index in Self::dio_file_pages(def) {
            let Some(pfn) = self.cache.lookup(def.file, index) else {
                continue;
            };
            self.try_to_unmap(pfn);
            self.cache.filemap_release_folio(self.mem, pfn, self.ev);
            if self.mem.folio_test(pfn, PageFlags::DIRTY) {
                all = false;
            } else {
                self.cache
                    .filemap_remove_folio(self.mem, def.file, index, self.ev);
            }
        }
        all
    }

    /// The buffered write ext4 falls back to on -ENOTBLK: each file page the range touches
    /// takes the value of the last user page whose bytes land in it (`copy_from_user`,
    /// faulting the user page in), through `write_begin` / `write_end`.
    fn dio_buffered_fallback(&mut self, def: &IoDef) -> Result<(), Errno> {
        let ps = u64::from(PAGE_SIZE);
        let file_pos = u64::from(def.file_page) * ps;
        let r = &def.range;
        for index in Self::dio_file_pages(def) {
            let block_end = (u64::from(index) + 1) * ps - file_pos;
            let last = def.start + def.len.min(block_end) - 1;
            let page = (last / ps) as u32;
            let content = self.load(r.task, r.vma, page)?;
            self.cache
                .generic_perform_write(self.mem, def.file, index, content, self.ev)
                .ok_or(Errno::ENOMEM)?;
        }
        Ok(())
    }

    /// A device step of op `o`.
    pub fn dio_device(&mut self, ios: &mut Ios, o: IoId, def: &IoDef, step: DevStep) -> Woke {
        match step {
            DevStep::Transfer(p) => {
                self.dio_transfer(ios, o, def, p);
                Woke::No
            }
            DevStep::EndIo(b) => self.dio_end_io(ios, o, def, b),
            DevStep::Release(b) => {
                let held = ios.held_bio(o, b);
                let mut s = ios.bio(o, b);
                s.stage = if def.write {
                    self.bio_release_pages(&held, false);
                    self.bio_put(&held);
                    BioStage::Released
                } else if self.bio_check_pages_dirty(&held) {
                    BioStage::Released
                } else {
                    BioStage::DirtyWork
                };
                ios.set_bio(o, b, s);
                Woke::No
            }
            DevStep::DirtyWork(b) => {
                let held = ios.held_bio(o, b);
                self.bio_dirty_fn(&held);
                let mut s = ios.bio(o, b);
                s.stage = BioStage::Released;
                ios.set_bio(o, b, s);
                Woke::No
            }
        }
    }

    /// The transfer of one request: a read copies disk blocks into the bio's pages, a write
    /// copies the pages to the blocks (a page changed since submission on a file that needs
    /// stable writes is `unstable-page-write`). A page freed under the bio is a
    /// `use-after-free` and is skipped. Under `all-pins` a split clone's `bio_put` follows,
    /// and must leave the pages alone.
    fn dio_transfer(&mut self, ios: &mut Ios, o: IoId, def: &IoDef, p: u32) {
        let stable_writes = self.cache.file(def.file).stable_writes;
        let b = ios.bio_of_piece(o, p);
        let bio = ios.bio(o, b);
        let mut piece = ios.piece(o, p);
        let ps = u64::from(PAGE_SIZE);
        let from = u64::from(bio.start) + u64::from(piece.start);
        let to = from + u64::from(piece.len);
        let file_pos = u64::from(def.file_page) * ps;
        let first_page = u64::from(def.range.pages.start);
        let owner = def.range.task;
        let writer = PageContent {
            value: 0,
            writer: Writer::Device(owner as u16),
            epoch: self.vm.task(owner).epoch,
        };
        // Each run of bytes within one page and one block, in order: a page (read) or block
        // (write) the bytes span two of takes the last one's value.
        let mut x = from;
        while x < to {
            let user = def.start + x;
            let slot = (user / ps - first_page) as u32;
            let page = ios.page(o, slot);
            let block = ((file_pos + x) / ps) as u32;
            if page.dangling {
                self.ev.raise(Invariant::UseAfterFree, || {
                    format!(
                        "the device's transfer reaches {}, which was freed under the bio",
                        page.pfn
                    )
                });
            } else if def.write {
                let content = self.mem.content(page.pfn);
                if stable_writes && content != page.submitted {
                    self.ev.raise(Invariant::UnstablePageWrite, || {
                        format!(
                            "{} changed from {:#04x} to {:#04x} between the write's submission and its transfer",
                            page.pfn, page.submitted.value, content.value
                        )
                    });
                }
                self.cache.write_block(def.file, block, content);
            } else {
                let value = self.cache.block(def.file, block).value;
                self.mem
                    .set_content(page.pfn, PageContent { value, ..writer });
            }
            if !page.transferred {
                // A page counts once, however many requests its bytes are split over.
                self.ev.io_pages += 1;
                ios.set_page(
                    o,
                    slot,
                    crate::io::inflight::IoPage {
                        transferred: true,
                        ..page
                    },
                );
            }
            // The next page or block boundary, whichever comes first.
            let next_user = (user / ps + 1) * ps - def.start;
            let next_block = ((file_pos + x) / ps + 1) * ps - file_pos;
            x = next_user.min(next_block).min(to);
        }
        piece.done = true;
        ios.set_piece(o, p, piece);
        if piece.clone {
            // bio_endio(clone) -> bio_chain_endio -> bio_put(clone).
            let mut clone = ios.held_bio(o, b);
            clone.bio.flags |= BioFlags::CLONED;
            self.bio_put(&clone);
        }
    }

    /// `iomap_dio_bio_end_io`: the bio's completion. The op's count drops; the last bio's
    /// wakes the caller (`iomap_dio_done`). Under `ref`, the caller's `dio_bio_complete` has
    /// already released the pages (dirtying them first for a read); otherwise the bio waits
    /// for its release step.
    fn dio_end_io(&mut self, ios: &mut Ios, o: IoId, def: &IoDef, b: u32) -> Woke {
        let mut s = ios.bio(o, b);
        if self.design.bio_refs == BioRefs::Ref {
            let held = ios.held_bio(o, b);
            self.bio_release_pages(&held, !def.write);
            self.bio_put(&held);
            s.stage = BioStage::Released;
        } else {
            s.stage = BioStage::Ended;
        }
        ios.set_bio(o, b, s);
        let mut io = ios.io(o);
        io.ended += 1;
        let woke = if io.ended == io.bios {
            io.stage = IoStage::Woken;
            self.ev
                .note(|| "the last bio completed: the caller is woken".into());
            if def.write && !self.dio_invalidate(def) {
                // kiocb_invalidate_post_direct_write: the write worked; the stale page stays.
                self.ev.note(|| {
                    "Page cache invalidation failure on direct I/O: a cached page of the range is held".into()
                });
            }
            Woke::Caller(io.err.map_or(Ok(()), Err))
        } else {
            Woke::No
        };
        ios.set_io(o, io);
        woke
    }
}

/// `bio_iov_vecs_to_alloc(iter, BIO_MAX_VECS)`: the bvecs a bio for the rest of `iter` is
/// allocated with.
fn bio_iov_vecs_to_alloc(iter: &IovIter) -> u16 {
    iter.npages(u32::from(crate::block::BIO_MAX_VECS)) as u16
}

/// A bio's flags, in words.
fn flags_text(flags: BioFlags) -> String {
    let names: Vec<&str> = [
        (BioFlags::PAGE_PINNED, "BIO_PAGE_PINNED"),
        (BioFlags::CLONED, "BIO_CLONED"),
        (BioFlags::NO_PAGE_REF, "BIO_NO_PAGE_REF"),
    ]
    .into_iter()
    .filter(|(f, _)| flags.contains(*f))
    .map(|(_, n)| n)
    .collect();
    if names.is_empty() {
        "no BIO_* page flag: its pages hold plain references".into()
    } else {
        names.join(", ")
    }
}
