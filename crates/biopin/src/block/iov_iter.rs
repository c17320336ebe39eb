//! `struct iov_iter` and page extraction (include/linux/uio.h, lib/iov_iter.c): the memory an
//! I/O reads into or writes from, and how its pages are taken.
//!
//! User-backed iterators (UBUF, IOVEC) name user addresses; their pages are taken with GUP:
//! FOLL_GET references by `iov_iter_get_pages2` (the kernels before 6.5, and designs whose
//! `gup` is `get`), FOLL_PIN pins by `iov_iter_extract_pages` (6.5+). Kernel-backed iterators
//! (BVEC, KVEC) name pages the caller already holds: extraction only lists them.

use crate::block::bio::PAGE_SIZE;
use crate::design::Gup;
use crate::errno::Errno;
use crate::gup::{FollFlags, UserRange};
use crate::mm::Pfn;
use crate::vm::{Kernel, TaskId, VmaId};

/// `MAX_RW_COUNT` (include/linux/fs.h): the most one read or write moves,
/// `INT_MAX & PAGE_MASK`.
pub const MAX_RW_COUNT: u64 = (i32::MAX as u64) & !(PAGE_SIZE as u64 - 1);

/// `iter_type`: what an iterator's segments are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IterKind {
    /// `ITER_UBUF`: one user buffer.
    Ubuf,
    /// `ITER_IOVEC`: user buffers.
    Iovec,
    /// `ITER_BVEC`: bio_vecs the caller holds (io_uring fixed buffers, loop, splice).
    Bvec,
    /// `ITER_KVEC`: kernel virtual buffers.
    Kvec,
}

/// `iov_iter_rw`: which way the data goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IterDir {
    /// `ITER_DEST` (READ): the I/O writes into the memory; user pages need FOLL_WRITE.
    Dest,
    /// `ITER_SOURCE` (WRITE): the I/O reads the memory.
    Source,
}

/// One segment of an iterator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IterSeg {
    /// User memory: `len` bytes from byte `start` of a VMA.
    User {
        /// The task.
        task: TaskId,
        /// The VMA.
        vma: VmaId,
        /// The first byte, from the VMA's start.
        start: u64,
        /// Bytes.
        len: u64,
    },
    /// Kernel memory: `len` bytes from byte `offset` of `page` (and the pages after it).
    Kernel {
        /// The first page.
        page: Pfn,
        /// Where the bytes start in it.
        offset: u32,
        /// Bytes.
        len: u32,
    },
}

impl IterSeg {
    fn len(&self) -> u64 {
        match *self {
            IterSeg::User { len, .. } => len,
            IterSeg::Kernel { len, .. } => u64::from(len),
        }
    }
}

/// `struct iov_iter`: segments, and how far into them the iterator has got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IovIter {
    /// `iter_type`.
    pub kind: IterKind,
    /// `data_source`.
    pub dir: IterDir,
    segs: Vec<IterSeg>,
    /// The segment the iterator is in.
    seg: usize,
    /// `iov_offset`: bytes of that segment already consumed.
    offset: u64,
}

impl IovIter {
    /// `iov_iter_ubuf`: one user buffer of `len` bytes at byte `start` of a VMA.
    pub fn ubuf(dir: IterDir, task: TaskId, vma: VmaId, start: u64, len: u64) -> IovIter {
        IovIter::new(
            IterKind::Ubuf,
            dir,
            vec![IterSeg::User {
                task,
                vma,
                start,
                len,
            }],
        )
    }

    /// An iterator of `kind` over `segs` (`iov_iter_init`, `iov_iter_bvec`, `iov_iter_kvec`).
    /// User segments go with UBUF (exactly one) and IOVEC, kernel ones with BVEC and KVEC.
    pub fn new(kind: IterKind, dir: IterDir, segs: Vec<IterSeg>) -> IovIter {
        debug_assert!(segs.iter().all(|s| matches!(s, IterSeg::User { .. })
            == matches!(kind, IterKind::Ubuf | IterKind::Iovec)));
        debug_assert!(kind != IterKind::Ubuf || segs.len() == 1);
        let mut it = IovIter {
            kind,
            dir,
            segs,
            seg: 0,
            offset: 0,
        };
        it.skip_empty();
        it
    }

    /// `user_backed_iter`.
    pub fn user_backed(&self) -> bool {
        matches!(self.kind, IterKind::Ubuf | IterKind::Iovec)
    }

    /// `iov_iter_extract_will_pin`: whether extraction pins (user-backed iterators only).
    pub fn extract_will_pin(&self) -> bool {
        self.user_backed()
    }

    /// `iov_iter_count`: bytes left.
    pub fn count(&self) -> u64 {
        self.segs[self.seg.min(self.segs.len())..]
            .iter()
            .map(IterSeg::len)
            .sum::<u64>()
            - if self.seg < self.segs.len() {
                self.offset
            } else {
                0
            }
    }

    /// `iov_iter_npages`: the pages the bytes left span, at most `maxpages`.
    pub fn npages(&self, maxpages: u32) -> u32 {
        let ps = u64::from(PAGE_SIZE);
        let mut pages = 0u64;
        for (i, seg) in self.segs.iter().enumerate().skip(self.seg) {
            let skip = if i == self.seg { self.offset } else { 0 };
            let start = match *seg {
                IterSeg::User { start, .. } => start,
                IterSeg::Kernel { offset, .. } => u64::from(offset),
            } + skip;
            let end = start + (seg.len() - skip);
            if end > start {
                pages += end.div_ceil(ps) - start / ps;
            }
        }
        pages.min(u64::from(maxpages)) as u32
    }

    /// The segments.
    pub fn segs(&self) -> &[IterSeg] {
        &self.segs
    }

    fn skip_empty(&mut self) {
        while self.seg < self.segs.len() && self.offset >= self.segs[self.seg].len() {
            self.offset -= self.segs[self.seg].len();
            self.seg += 1;
        }
    }

    /// `iov_iter_advance`.
    pub fn advance(&mut self, bytes: u64) {
        self.offset += bytes;
        self.skip_empty();
    }

    /// `iov_iter_revert`.
    pub fn revert(&mut self, mut bytes: u64) {
        while bytes > 0 {
            if self.offset == 0 {
                if self.seg == 0 {
                    return;
                }
                self.seg -= 1;
                self.offset = self.segs[self.seg].len();
            }
            let back = bytes.min(self.offset);
            self.offset -= back;
            bytes -= back;
        }
    }
}

/// The reference an extraction took on a page, as the model tracks it for the bio.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Taken {
    /// Nothing: a kernel-backed iterator's page, which the caller keeps alive.
    #[default]
    Nothing,
    /// A FOLL_GET reference, released by `put_page`.
    Get,
    /// A FOLL_PIN pin, released by `unpin_user_page`.
    Pin,
}

/// What one extraction returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    /// The pages, first to last.
    pub pages: Vec<Pfn>,
    /// Where the bytes start in the first page.
    pub offset: u32,
    /// Bytes, from `offset` in the first page on.
    pub bytes: u64,
    /// What each page holds for the caller.
    pub taken: Taken,
}

impl Kernel<'_> {
    /// `iov_iter_extract_pages` (lib/iov_iter.c, 6.3+) — or, where the design's `gup` is
    /// `get`, `iov_iter_get_pages2`, which the kernels before 6.5 called in the same place:
    /// up to `maxpages` pages of at most `maxsize` bytes of the iterator's current segment.
    /// User-backed: `pin_user_pages_fast` (or `get_user_pages_fast`) on the page-aligned
    /// start, FOLL_WRITE when the I/O writes into the memory; returns the bytes the pages
    /// taken cover, the error if none was. Kernel-backed: the pages are listed, nothing is
    /// taken (`iov_iter_get_pages2` refuses a KVEC with EFAULT). Advances the iterator past
    /// what it returns.
    pub fn iov_iter_extract_pages(
        &mut self,
        iter: &mut IovIter,
        maxsize: u64,
        maxpages: u32,
    ) -> Result<Extracted, Errno> {
        let Some(&seg) = iter.segs.get(iter.seg) else {
            return Err(Errno::EFAULT);
        };
        let maxsize = maxsize.min(MAX_RW_COUNT).min(seg.len() - iter.offset);
        let ps = u64::from(PAGE_SIZE);
        let out = match seg {
            IterSeg::User {
                task, vma, start, ..
            } => {
                let addr = start + iter.offset;
                let offset = (addr % ps) as u32;
                let nr = (u64::from(offset) + maxsize)
                    .div_ceil(ps)
                    .min(u64::from(maxpages)) as u32;
                let first = (addr / ps) as u32;
                let range = UserRange {
                    task,
                    vma,
                    pages: first..first + nr,
                };
                let mut flags = match self.design.gup {
                    Gup::Pin => FollFlags::PIN,
                    Gup::Get => FollFlags::GET,
                };
                if iter.dir == IterDir::Dest {
                    flags |= FollFlags::WRITE;
                }
                let (pages, err) = self.gup_prefix(&range, flags);
                if pages.is_empty() {
                    return Err(err.unwrap_or(Errno::EFAULT));
                }
                let bytes = maxsize.min(pages.len() as u64 * ps - u64::from(offset));
                Extracted {
                    pages,
                    offset,
                    bytes,
                    taken: if flags.contains(FollFlags::PIN) {
                        Taken::Pin
                    } else {
                        Taken::Get
                    },
                }
            }
            // iov_iter_get_pages2 takes no kernel virtual addresses (EFAULT); extraction
            // lists them.
            IterSeg::Kernel { .. }
                if iter.kind == IterKind::Kvec && self.design.gup == Gup::Get =>
            {
                return Err(Errno::EFAULT);
            }
            IterSeg::Kernel { page, offset, .. } => {
                let at = u64::from(offset) + iter.offset;
                let first = page.0 + (at / ps) as u32;
                let offset = (at % ps) as u32;
                let nr = (u64::from(offset) + maxsize)
                    .div_ceil(ps)
                    .min(u64::from(maxpages)) as u32;
                let bytes = maxsize.min(u64::from(nr) * ps - u64::from(offset));
                Extracted {
                    pages: (first..first + nr).map(Pfn).collect(),
                    offset,
                    bytes,
                    taken: Taken::Nothing,
                }
            }
        };
        iter.advance(out.bytes);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_and_revert_cross_segments() {
        let seg = |len| IterSeg::Kernel {
            page: Pfn(1),
            offset: 0,
            len,
        };
        let mut it = IovIter::new(
            IterKind::Kvec,
            IterDir::Source,
            vec![seg(512), seg(0), seg(1024)],
        );
        assert_eq!(it.count(), 1536);
        it.advance(700);
        assert_eq!(it.count(), 836);
        it.revert(300);
        assert_eq!(it.count(), 1136);
        it.advance(1136);
        assert_eq!(it.count(), 0);
        it.revert(5000);
        assert_eq!(it.count(), 1536);
    }

    #[test]
    fn only_user_backed_iterators_pin() {
        let it = IovIter::ubuf(IterDir::Dest, 0, 0, 0, 4096);
        assert!(it.extract_will_pin());
        let it = IovIter::new(
            IterKind::Bvec,
            IterDir::Dest,
            vec![IterSeg::Kernel {
                page: Pfn(3),
                offset: 0,
                len: 4096,
            }],
        );
        assert!(!it.extract_will_pin());
    }
}
