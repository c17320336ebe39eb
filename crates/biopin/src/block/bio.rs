//! `struct bio`, `struct bio_vec` and the functions that add pages to a bio and merge them
//! (include/linux/blk_types.h, include/linux/bvec.h, block/bio.c).
//!
//! A bio only records pages: no function here takes or drops a page reference (block/bio.c
//! never does; the submitter takes them when it extracts the pages and the completion path
//! drops them, [`crate::block::release`]). Physical addresses are `pfn * PAGE_SIZE`, and
//! struct pages are contiguous when their frame numbers are, as on a flat `mem_map`.
//!
//! Not modelled: zone-device pgmaps (`zone_device_pages_have_same_pgmap` is always true), Xen
//! (`xen_biovec_phys_mergeable`), KMSAN (which refuses merges across pages), the SG-gap check
//! (`bvec_gap_to_prev`: a queue's `virt_boundary_mask` is 0), integrity payloads and zoned
//! devices.

use bitflags::bitflags;

use crate::mm::{MemMap, Pfn};

/// `PAGE_SIZE` (x86-64).
pub const PAGE_SIZE: u32 = 4096;
/// `SECTOR_SHIFT`: a sector is 512 bytes.
pub const SECTOR_SHIFT: u32 = 9;
/// `BIO_MAX_VECS` (include/linux/bio.h): the most bvecs a bio allocated from a bio set holds.
pub const BIO_MAX_VECS: u16 = 256;

bitflags! {
    /// `bi_flags`: the bio flags that decide who releases the pages, with their bit numbers of
    /// 6.5+ (include/linux/blk_types.h).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct BioFlags: u16 {
        /// `BIO_PAGE_PINNED` (6.5+): the pages were pinned by a user-backed extraction and
        /// `bio_release_pages` unpins them.
        const PAGE_PINNED = 1 << 0;
        /// `BIO_CLONED`: the bio shares another bio's bvecs and owns no pages (a split).
        const CLONED = 1 << 1;
        /// `BIO_CHAIN`: `__bi_remaining` counts the clones chained to this bio.
        const CHAIN = 1 << 4;
        /// `BIO_NO_PAGE_REF` (5.1–6.4): the bio holds no page references (bvec iterators) and
        /// `bio_release_pages` leaves its pages alone. In those kernels it was bit 0, the bit
        /// `BIO_PAGE_PINNED` took in 6.5; no kernel has both, and the model gives it a bit of
        /// its own so that one type serves every design.
        const NO_PAGE_REF = 1 << 15;
    }
}

/// `struct bio_vec`: a run of bytes in physically contiguous pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BioVec {
    /// `bv_page`: the first page.
    pub page: Pfn,
    /// `bv_len`: bytes.
    pub len: u32,
    /// `bv_offset`: where the bytes start in `bv_page`.
    pub offset: u32,
    /// Glisse's 2019 per-bvec flag (`bio_refs = vec-flag`): the pages came from GUP, so
    /// release unpins them; otherwise it puts them. No upstream kernel has it.
    pub gup: bool,
}

impl BioVec {
    /// `bvec_phys`: the physical address of the first byte.
    pub fn phys(&self) -> u64 {
        u64::from(self.page.0) * u64::from(PAGE_SIZE) + u64::from(self.offset)
    }

    /// The pages the bytes touch, first to last.
    pub fn pages(&self) -> impl Iterator<Item = Pfn> + use<> {
        let first = self.page.0 + self.offset / PAGE_SIZE;
        let last = self.page.0 + (self.offset + self.len.max(1) - 1) / PAGE_SIZE;
        (first..=last).map(Pfn)
    }
}

/// `struct bio`, as far as page references are concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bio {
    /// `bi_flags`.
    pub flags: BioFlags,
    /// `bi_io_vec[0..bi_vcnt]`.
    pub vecs: Vec<BioVec>,
    /// `bi_max_vecs`.
    pub max_vecs: u16,
    /// `bi_iter.bi_size`: bytes.
    pub size: u32,
    /// `bi_iter.bi_sector`: where on the device the bytes go, in 512-byte sectors.
    pub sector: u64,
    /// Before 5.1's multi-page bvecs (07173c3ec276) a bvec held bytes of one page only:
    /// `__bio_try_merge_page` merged only into the same page. Not a field of `struct bio`:
    /// the kernel version the bio is built by.
    pub single_page_bvecs: bool,
}

impl Bio {
    /// `bio_alloc` / `bio_init` with room for `max_vecs` bvecs, at `sector`.
    pub fn new(max_vecs: u16, sector: u64) -> Bio {
        Bio {
            max_vecs,
            sector,
            ..Bio::default()
        }
    }

    /// `bi_vcnt`.
    pub fn vcnt(&self) -> u16 {
        self.vecs.len() as u16
    }

    /// `bio_flagged`.
    pub fn flagged(&self, flag: BioFlags) -> bool {
        self.flags.contains(flag)
    }

    /// `bio_full` (block/bio.c): no room for another bvec, or `len` more bytes would overflow
    /// `bi_size`.
    pub fn full(&self, len: u32) -> bool {
        self.vcnt() >= self.max_vecs || self.size > u32::MAX - len
    }
}

/// `bvec_try_merge_page` (block/bio.c, 6.5+; `__bio_try_merge_page` before): appends `len`
/// bytes at `off` in `page` to `bv` if they start at the physical address just past its end
/// and, when they lie in another page, that page's struct page follows. Returns `None` if
/// they cannot merge, else `same_page`: whether the bytes start in the page holding the
/// bvec's last byte (the caller then holds two references to one page and drops one).
pub fn bvec_try_merge_page(bv: &mut BioVec, page: Pfn, len: u32, off: u32) -> Option<bool> {
    let bv_end = u64::from(bv.offset) + u64::from(bv.len);
    let vec_end_addr = u64::from(bv.page.0) * u64::from(PAGE_SIZE) + bv_end - 1;
    let page_addr = u64::from(page.0) * u64::from(PAGE_SIZE);
    if vec_end_addr + 1 != page_addr + u64::from(off) {
        return None;
    }
    let mask = !(u64::from(PAGE_SIZE) - 1);
    let same_page = vec_end_addr & mask == (page_addr + u64::from(off)) & mask;
    if !same_page
        && u64::from(bv.page.0) + bv_end / u64::from(PAGE_SIZE)
            != u64::from(page.0 + off / PAGE_SIZE)
    {
        return None;
    }
    bv.len += len;
    Some(same_page)
}

/// `__bio_add_page` (block/bio.c): appends a new bvec; the caller must know there is room.
/// The kernel WARNs on a cloned or full bio and writes past the array anyway; the model
/// refuses instead and returns false.
pub fn __bio_add_page(bio: &mut Bio, page: Pfn, len: u32, off: u32) -> bool {
    if bio.flagged(BioFlags::CLONED) || bio.full(len) {
        return false;
    }
    bio.vecs.push(BioVec {
        page,
        len,
        offset: off,
        gup: false,
    });
    bio.size += len;
    true
}

/// `bio_add_page` (block/bio.c): adds `len` bytes at `off` in `page`, merging into the last
/// bvec where [`bvec_try_merge_page`] allows. Returns `len`, or 0 if the bio is cloned (the
/// kernel WARNs), `bi_size` would overflow, or no merge is possible and the bio has
/// `bi_max_vecs` bvecs.
pub fn bio_add_page(bio: &mut Bio, page: Pfn, len: u32, off: u32) -> u32 {
    bio_add_page_same(bio, page, len, off).0
}

/// [`bio_add_page`], also saying whether the bytes merged into the page the last bvec ends
/// in (the `same_page` that `bio_iov_add_page` acts on).
pub(crate) fn bio_add_page_same(bio: &mut Bio, page: Pfn, len: u32, off: u32) -> (u32, bool) {
    if bio.flagged(BioFlags::CLONED) || bio.size > u32::MAX - len {
        return (0, false);
    }
    let single = bio.single_page_bvecs;
    if let Some(bv) = bio.vecs.last_mut()
        && (!single || bv.page == page)
        && let Some(same_page) = bvec_try_merge_page(bv, page, len, off)
    {
        bio.size += len;
        return (len, same_page);
    }
    if bio.vcnt() >= bio.max_vecs {
        return (0, false);
    }
    __bio_add_page(bio, page, len, off);
    (len, false)
}

/// `bio_add_folio` (block/bio.c): adds `len` bytes at byte `off` of the folio whose head is
/// `folio`, as `bio_add_page` of page `off / PAGE_SIZE` of it at `off % PAGE_SIZE`. False if
/// `len` exceeds `UINT_MAX` or the page could not be added.
pub fn bio_add_folio(bio: &mut Bio, folio: Pfn, len: u64, off: u64) -> bool {
    if len > u64::from(u32::MAX) {
        return false;
    }
    let page = Pfn(folio.0 + (off / u64::from(PAGE_SIZE)) as u32);
    bio_add_page(bio, page, len as u32, (off % u64::from(PAGE_SIZE)) as u32) > 0
}

/// A block device's queue limits (`struct queue_limits`), as the scenario's `[device]` gives
/// them; the defaults are the kernel's (include/linux/blkdev.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// `max_segments` (`BLK_MAX_SEGMENTS` = 128).
    pub max_segments: u32,
    /// `max_sectors`, also `max_hw_sectors` (`BLK_SAFE_MAX_SECTORS` = 255).
    pub max_sectors: u32,
    /// `max_segment_size` (`BLK_MAX_SEGMENT_SIZE` = 65536).
    pub max_segment_size: u32,
    /// `logical_block_size` (512); also `physical_block_size` and the split alignment.
    pub logical_block_size: u32,
    /// `dma_alignment` (`SECTOR_SIZE - 1` = 511): the mask a direct I/O buffer's address is
    /// checked against from 6.0 (`bdev_dma_alignment`, b1a000d3b8ec "block: relax direct io
    /// memory alignment"); before, the address had to be a multiple of the logical block size.
    pub dma_alignment: u32,
}

/// `BLK_MAX_SEGMENTS`.
pub const BLK_MAX_SEGMENTS: u32 = 128;
/// `BLK_SAFE_MAX_SECTORS`.
pub const BLK_SAFE_MAX_SECTORS: u32 = 255;
/// `BLK_MAX_SEGMENT_SIZE`.
pub const BLK_MAX_SEGMENT_SIZE: u32 = 65536;
/// `BLK_SEG_BOUNDARY_MASK`: a segment may not cross a 4 GiB boundary.
pub const BLK_SEG_BOUNDARY_MASK: u64 = 0xFFFF_FFFF;

impl Default for QueueLimits {
    fn default() -> QueueLimits {
        QueueLimits {
            max_segments: BLK_MAX_SEGMENTS,
            max_sectors: BLK_SAFE_MAX_SECTORS,
            max_segment_size: BLK_MAX_SEGMENT_SIZE,
            logical_block_size: 512,
            dma_alignment: 511,
        }
    }
}

/// `bvec_try_merge_hw_page` (block/bio.c): [`bvec_try_merge_page`], but only while the
/// segment stays within one `seg_boundary_mask` window and within `max_segment_size`.
pub fn bvec_try_merge_hw_page(
    q: &QueueLimits,
    bv: &mut BioVec,
    page: Pfn,
    len: u32,
    off: u32,
) -> Option<bool> {
    let addr1 = bv.phys();
    let addr2 = u64::from(page.0) * u64::from(PAGE_SIZE) + u64::from(off) + u64::from(len) - 1;
    if addr1 | BLK_SEG_BOUNDARY_MASK != addr2 | BLK_SEG_BOUNDARY_MASK {
        return None;
    }
    if len > q.max_segment_size.saturating_sub(bv.len) {
        return None;
    }
    bvec_try_merge_page(bv, page, len, off)
}

/// `bio_add_hw_page` (block/bio.c): adds a page to a bio that will not be split (passthrough,
/// zone append), within `max_sectors`, `max_segment_size` and `max_segments`. Returns the
/// bytes added (`len` clamped to `max_sectors` and `max_segment_size`) and `same_page`, or 0
/// if the bio is cloned, the bytes exceed `max_sectors`, or no merge is possible and the bio
/// has `min(bi_max_vecs, max_segments)` bvecs.
pub fn bio_add_hw_page(
    q: &QueueLimits,
    bio: &mut Bio,
    page: Pfn,
    len: u32,
    off: u32,
    max_sectors: u32,
) -> (u32, bool) {
    let max_size = max_sectors << SECTOR_SHIFT;
    if bio.flagged(BioFlags::CLONED) {
        return (0, false);
    }
    let len = len.min(max_size).min(q.max_segment_size);
    if len > max_size - bio.size.min(max_size) || bio.size > max_size {
        return (0, false);
    }
    if let Some(bv) = bio.vecs.last_mut() {
        if let Some(same) = bvec_try_merge_hw_page(q, bv, page, len, off) {
            bio.size += len;
            return (len, same);
        }
        if u32::from(bio.vcnt()) >= u32::from(bio.max_vecs).min(q.max_segments) {
            return (0, false);
        }
    }
    __bio_add_page(bio, page, len, off);
    (len, false)
}

/// `bio_add_pc_page` (block/bio.c): [`bio_add_hw_page`] limited by `max_hw_sectors` (the
/// model's `max_sectors`). Returns the bytes added, or 0.
pub fn bio_add_pc_page(q: &QueueLimits, bio: &mut Bio, page: Pfn, len: u32, off: u32) -> u32 {
    bio_add_hw_page(q, bio, page, len, off, q.max_sectors).0
}

/// One folio's part of a bio, as `bio_for_each_folio_all` walks them (include/linux/bio.h): a
/// bvec cut at folio boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FolioSegment {
    /// The folio's head.
    pub folio: Pfn,
    /// `fi.offset`: where the bytes start in the folio.
    pub offset: u64,
    /// `fi.length`: bytes.
    pub length: u64,
}

impl FolioSegment {
    /// The pages of the folio the bytes touch: `(offset + length - 1) / PAGE_SIZE - offset /
    /// PAGE_SIZE + 1`, the count 38b43539d64b (6.9) restored after 1b151e2435fc (6.6) had
    /// released one page per `PAGE_SIZE` of length and missed the last page of an unaligned
    /// segment.
    pub fn nr_pages(&self) -> u32 {
        let ps = u64::from(PAGE_SIZE);
        ((self.offset + self.length - 1) / ps - self.offset / ps + 1) as u32
    }

    /// The pages the bytes touch, first to last.
    pub fn pages(&self) -> impl Iterator<Item = Pfn> + use<> {
        let first = self.folio.0 + (self.offset / u64::from(PAGE_SIZE)) as u32;
        (first..first + self.nr_pages()).map(Pfn)
    }
}

/// `bio_for_each_folio_all`: every bvec of `bio` cut into its folios, in order.
pub fn folio_segments(mem: &MemMap, bio: &Bio) -> Vec<FolioSegment> {
    let mut out = Vec::new();
    for bv in &bio.vecs {
        let mut addr = bv.phys();
        let mut left = u64::from(bv.len);
        while left > 0 {
            let pfn = Pfn((addr / u64::from(PAGE_SIZE)) as u32);
            let folio = mem.folio(pfn);
            let folio_start = u64::from(folio.0) * u64::from(PAGE_SIZE);
            let folio_end =
                folio_start + u64::from(mem.folio_nr_pages(folio)) * u64::from(PAGE_SIZE);
            let length = left.min(folio_end - addr);
            out.push(FolioSegment {
                folio,
                offset: addr - folio_start,
                length,
            });
            addr += length;
            left -= length;
        }
    }
    out
}

/// One request a bio becomes at submission: the split clones first, then what is left of the
/// bio itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Where it starts in the bio's bytes.
    pub start: u32,
    /// Bytes.
    pub len: u32,
    /// Hardware segments.
    pub segments: u32,
    /// A clone (`bio_split`: `BIO_CLONED`, sharing the bio's bvecs, owning no pages), rather
    /// than the bio itself.
    pub clone: bool,
}

/// `get_max_io_size` (block/blk-merge.c) for a bio starting on a block boundary: `max_sectors`
/// rounded down to the physical (here also logical) block size, in bytes.
pub fn max_io_bytes(q: &QueueLimits) -> u32 {
    let lbs_sectors = q.logical_block_size >> SECTOR_SHIFT;
    (q.max_sectors & !(lbs_sectors - 1)) << SECTOR_SHIFT
}

/// `get_max_segment_size` (block/blk-merge.c): how many of `len` bytes at `paddr` fit in one
/// segment.
fn max_segment_bytes(q: &QueueLimits, paddr: u64, len: u32) -> u32 {
    let boundary = BLK_SEG_BOUNDARY_MASK - (BLK_SEG_BOUNDARY_MASK & paddr);
    let cap = boundary.min(u64::from(q.max_segment_size) - 1) + 1;
    (u64::from(len)).min(cap) as u32
}

/// `bio_split_rw_at` + `bio_submit_split`, repeated as `submit_bio_noacct` does on what
/// remains (block/blk-merge.c): the requests `bio` becomes at submission under `q`. A bio
/// that fits is one piece, itself. Otherwise each split takes the most bytes that fit
/// `max_segments`, `max_sectors` and `max_segment_size`, rounded down to the logical block
/// size, as a clone chained to the bio; the bio keeps the rest.
pub fn bio_split_to_limits(q: &QueueLimits, bio: &Bio) -> Vec<Piece> {
    let max_bytes = max_io_bytes(q);
    let mut pieces = Vec::new();
    let mut start = 0u32;
    while start < bio.size {
        let (bytes, segments, split) = split_at(q, bio, start, max_bytes);
        if !split {
            pieces.push(Piece {
                start,
                len: bio.size - start,
                segments,
                clone: false,
            });
            break;
        }
        let bytes = bytes - bytes % q.logical_block_size;
        pieces.push(Piece {
            start,
            len: bytes,
            segments,
            clone: true,
        });
        start += bytes;
    }
    pieces
}

/// `bio_split_rw_at` on the bytes of `bio` from `start`: the bytes and segments that fit, and
/// whether a split is needed.
fn split_at(q: &QueueLimits, bio: &Bio, start: u32, max_bytes: u32) -> (u32, u32, bool) {
    let (mut nsegs, mut bytes) = (0u32, 0u32);
    let mut skip = start;
    for bv in &bio.vecs {
        if skip >= bv.len {
            skip -= bv.len;
            continue;
        }
        let bv = BioVec {
            page: Pfn(bv.page.0 + (bv.offset + skip) / PAGE_SIZE),
            offset: (bv.offset + skip) % PAGE_SIZE,
            len: bv.len - skip,
            gup: bv.gup,
        };
        skip = 0;
        if nsegs < q.max_segments && bytes + bv.len <= max_bytes && bv.offset + bv.len <= PAGE_SIZE
        {
            nsegs += 1;
            bytes += bv.len;
            continue;
        }
        // bvec_split_segs
        let max_len = max_bytes - bytes;
        let mut len = bv.len.min(max_len);
        let mut total = 0;
        while len > 0 && nsegs < q.max_segments {
            let seg = max_segment_bytes(q, bv.phys() + u64::from(total), len);
            nsegs += 1;
            total += seg;
            len -= seg;
        }
        bytes += total;
        if len > 0 || bv.len > max_len {
            return (bytes, nsegs, true);
        }
    }
    (bytes, nsegs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bio(max_vecs: u16) -> Bio {
        Bio::new(max_vecs, 0)
    }

    #[test]
    fn before_5_1_a_bvec_holds_one_page() {
        let mut b = bio(4);
        b.single_page_bvecs = true;
        assert_eq!(bio_add_page(&mut b, Pfn(8), 4096, 0), 4096);
        assert_eq!(bio_add_page(&mut b, Pfn(9), 4096, 0), 4096);
        assert_eq!(b.vcnt(), 2, "contiguous pages, but one page a bvec");
        assert_eq!(bio_add_page(&mut b, Pfn(9), 0, 4096), 0);
        let mut b = bio(4);
        b.single_page_bvecs = true;
        bio_add_page(&mut b, Pfn(8), 512, 0);
        bio_add_page(&mut b, Pfn(8), 512, 512);
        assert_eq!(b.vcnt(), 1, "the same page still merges");
        let mut b = bio(4);
        bio_add_page(&mut b, Pfn(8), 4096, 0);
        bio_add_page(&mut b, Pfn(9), 4096, 0);
        assert_eq!(b.vcnt(), 1, "from 5.1, contiguous pages share a bvec");
    }

    #[test]
    fn bio_add_page_appends_merges_and_refuses_like_the_kernel() {
        let mut b = bio(2);
        assert_eq!(bio_add_page(&mut b, Pfn(10), 4096, 0), 4096);
        // Physically contiguous: merges into the first bvec (multi-page bvec).
        assert_eq!(bio_add_page(&mut b, Pfn(11), 4096, 0), 4096);
        assert_eq!(b.vcnt(), 1);
        assert_eq!(b.vecs[0].len, 8192);
        // Not contiguous: a second bvec.
        assert_eq!(bio_add_page(&mut b, Pfn(20), 512, 0), 512);
        assert_eq!(b.vcnt(), 2);
        // A fragment of the same page, right after: merges, same_page.
        assert_eq!(bio_add_page_same(&mut b, Pfn(20), 512, 512), (512, true));
        // Full and not mergeable: 0, nothing changes.
        assert_eq!(bio_add_page(&mut b, Pfn(30), 4096, 0), 0);
        assert_eq!((b.vcnt(), b.size), (2, 8192 + 1024));
        // ...but a merge still fits in a full bio.
        assert_eq!(bio_add_page(&mut b, Pfn(20), 1024, 1024), 1024);
        // A gap inside the page is not contiguous.
        assert_eq!(bio_add_page(&mut b, Pfn(20), 512, 3072), 0);
    }

    #[test]
    fn bio_add_page_refuses_a_clone_and_an_overflowing_size() {
        let mut b = bio(4);
        b.flags |= BioFlags::CLONED;
        assert_eq!(bio_add_page(&mut b, Pfn(1), 4096, 0), 0);
        let mut b = bio(4);
        b.size = u32::MAX - 100;
        assert_eq!(bio_add_page(&mut b, Pfn(1), 101, 0), 0);
        assert_eq!(bio_add_page(&mut b, Pfn(1), 100, 0), 100);
    }

    #[test]
    fn contiguous_addresses_in_noncontiguous_struct_pages_do_not_merge() {
        // The bytes start exactly at the end of the bvec but in a page whose struct page does
        // not follow: with a flat mem_map that cannot happen, so the check is the address one.
        let mut bv = BioVec {
            page: Pfn(5),
            len: 4096,
            offset: 0,
            gup: false,
        };
        assert_eq!(bvec_try_merge_page(&mut bv, Pfn(6), 100, 0), Some(false));
        assert_eq!(bvec_try_merge_page(&mut bv, Pfn(7), 100, 0), None);
    }

    #[test]
    fn __bio_add_page_never_merges_and_refuses_a_full_bio() {
        let mut b = bio(1);
        assert!(__bio_add_page(&mut b, Pfn(1), 4096, 0));
        assert!(!__bio_add_page(&mut b, Pfn(2), 4096, 0));
        let mut b = bio(2);
        assert!(__bio_add_page(&mut b, Pfn(1), 4096, 0));
        assert!(__bio_add_page(&mut b, Pfn(2), 4096, 0));
        assert_eq!(b.vcnt(), 2, "contiguous, but __bio_add_page does not merge");
    }

    #[test]
    fn bio_add_folio_takes_the_page_at_the_offset() {
        let mut b = bio(4);
        assert!(bio_add_folio(&mut b, Pfn(64), 4096, 3 * 4096 + 512));
        assert_eq!(b.vecs[0].page, Pfn(67));
        assert_eq!(b.vecs[0].offset, 512);
        assert!(!bio_add_folio(&mut b, Pfn(64), u64::from(u32::MAX) + 1, 0));
    }

    #[test]
    fn bio_add_pc_page_obeys_max_sectors_segment_size_and_max_segments() {
        let q = QueueLimits {
            max_segments: 2,
            max_sectors: 16, // 8 KiB
            max_segment_size: 4096,
            ..QueueLimits::default()
        };
        let mut b = bio(BIO_MAX_VECS);
        // len is clamped to max_segment_size.
        assert_eq!(bio_add_pc_page(&q, &mut b, Pfn(1), 8192, 0), 4096);
        // Contiguous, but the segment would exceed max_segment_size: a new segment.
        assert_eq!(bio_add_pc_page(&q, &mut b, Pfn(2), 2048, 0), 2048);
        assert_eq!(b.vcnt(), 2);
        // The third segment exceeds max_segments: 0.
        assert_eq!(bio_add_pc_page(&q, &mut b, Pfn(9), 512, 0), 0);
        // A merge into the second segment still fits; then max_sectors is reached.
        assert_eq!(bio_add_pc_page(&q, &mut b, Pfn(2), 2048, 2048), 2048);
        assert_eq!(b.size, 8192);
        assert_eq!(bio_add_pc_page(&q, &mut b, Pfn(3), 512, 0), 0);
    }

    #[test]
    fn a_bio_within_the_limits_is_one_piece() {
        let q = QueueLimits::default();
        let mut b = bio(BIO_MAX_VECS);
        for i in 0..16 {
            bio_add_page(&mut b, Pfn(100 + 2 * i), 4096, 0);
        }
        assert_eq!(
            bio_split_to_limits(&q, &b),
            vec![Piece {
                start: 0,
                len: 65536,
                segments: 16,
                clone: false
            }]
        );
    }

    #[test]
    fn a_bio_is_split_at_max_sectors_then_max_segments_then_segment_size() {
        // 255 sectors rounded down to 4096-byte blocks is 248 sectors = 126976 bytes.
        let q = QueueLimits {
            logical_block_size: 4096,
            ..QueueLimits::default()
        };
        let mut b = bio(BIO_MAX_VECS);
        for i in 0..40 {
            bio_add_page(&mut b, Pfn(100 + 2 * i), 4096, 0);
        }
        let pieces = bio_split_to_limits(&q, &b);
        assert_eq!(
            pieces.iter().map(|p| (p.len, p.clone)).collect::<Vec<_>>(),
            vec![(126976, true), (40 * 4096 - 126976, false)]
        );
        // max_segments = 3: three pages a request.
        let q = QueueLimits {
            max_segments: 3,
            ..QueueLimits::default()
        };
        let pieces = bio_split_to_limits(&q, &b);
        assert_eq!(pieces.len(), 14);
        assert!(pieces[..13].iter().all(|p| p.len == 3 * 4096 && p.clone));
        assert_eq!((pieces[13].len, pieces[13].clone), (4096, false));
        // One 64 KiB physically contiguous bvec, segments of at most 4096 bytes... of which a
        // request takes max_segments.
        let mut b = bio(BIO_MAX_VECS);
        for i in 0..16 {
            bio_add_page(&mut b, Pfn(200 + i), 4096, 0);
        }
        assert_eq!(b.vcnt(), 1);
        let q = QueueLimits {
            max_segments: 4,
            max_segment_size: 4096,
            ..QueueLimits::default()
        };
        let pieces = bio_split_to_limits(&q, &b);
        assert_eq!(pieces.len(), 4);
        assert!(pieces.iter().all(|p| p.len == 16384 && p.segments == 4));
        assert_eq!(pieces.iter().filter(|p| !p.clone).count(), 1);
    }

    #[test]
    fn folio_segments_count_every_page_an_unaligned_segment_touches() {
        let seg = FolioSegment {
            folio: Pfn(64),
            offset: 512,
            length: 4096,
        };
        assert_eq!(seg.nr_pages(), 2, "38b43539d64b: two pages, not one");
        let seg = FolioSegment {
            folio: Pfn(64),
            offset: 3584,
            length: 8192,
        };
        assert_eq!(seg.nr_pages(), 3);
        assert_eq!(
            seg.pages().collect::<Vec<_>>(),
            vec![Pfn(64), Pfn(65), Pfn(66)]
        );
    }
}
