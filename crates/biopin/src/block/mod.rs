//! `struct bio`, `bio_vec` and `iov_iter`, page extraction, the add and merge rules, the split
//! at the queue limits, bio flags and release under each `bio_refs` design (block/bio.c,
//! block/blk-merge.c, lib/iov_iter.c).

pub mod bio;
pub mod iov_iter;
pub mod refs;

pub use bio::{
    __bio_add_page, BIO_MAX_VECS, Bio, BioFlags, BioVec, FolioSegment, PAGE_SIZE, Piece,
    QueueLimits, SECTOR_SHIFT, bio_add_folio, bio_add_hw_page, bio_add_page, bio_add_pc_page,
    bio_split_to_limits, bvec_try_merge_page, folio_segments,
};
pub use iov_iter::{Extracted, IovIter, IterDir, IterKind, IterSeg, MAX_RW_COUNT, Taken};
pub use refs::{Drop, HeldBio};
