//! Who holds and who drops the page references a bio carries, under each `bio_refs` design:
//! `bio_iov_iter_get_pages` (block/bio.c), `bio_set_pages_dirty`, `bio_check_pages_dirty`,
//! `bio_release_pages` and `bio_put`.
//!
//! - `ref` (5.1–6.4): the pages of a user-backed iterator hold what the extraction took and
//!   `bio_release_pages` puts each page (`put_page`) unless `BIO_NO_PAGE_REF` (bvec
//!   iterators); a same-page merge drops the duplicate at once with `put_page`
//!   (4569180495600, v5.2).
//! - `vec-flag` (Glisse, April 2019): as `ref`, but each bvec records whether its pages came
//!   from GUP, and release unpins those (`put_user_page`) and puts the others.
//! - `all-pins` (Kara, April 2019): every page a bio holds is a pin — kernel pages get one
//!   (`get_gup_pin`) — asserted when it is added (a page that holds anything else is
//!   reported then, as the `bad-release` its unpin will be), and `bio_put` unpins every page
//!   unconditionally, except on a `BIO_CLONED` split, which shares its parent's bvecs.
//! - `pinned-flag` (6.5+): `BIO_PAGE_PINNED` iff the iterator is user-backed
//!   (`iov_iter_extract_will_pin`); release unpins each folio's pages in one call
//!   (`unpin_user_folio`), and a bio without the flag releases nothing.
//!
//! The primitives act on frames as the kernel's do, whatever the page holds: the model
//! tracks what each page holds for the bio ([`Taken`]) only to say when a release uses the
//! wrong primitive (`bad-release`).

use crate::block::bio::{
    __bio_add_page, Bio, BioFlags, BioVec, PAGE_SIZE, bio_add_page_same, folio_segments,
};
use crate::block::iov_iter::{IovIter, IterKind, IterSeg, Taken};
use crate::design::BioRefs;
use crate::errno::Errno;
use crate::mm::{Invariant, Pfn};
use crate::vm::Kernel;

/// A bio as the model holds it: the kernel's struct, and what each page it names holds for
/// it, in bvec order, each page once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldBio {
    /// The bio.
    pub bio: Bio,
    /// Each page the bvecs touch, with what it holds for the bio.
    pub held: Vec<(Pfn, Taken)>,
}

/// The primitive that drops a page reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// `put_page` (`folio_put_refs`).
    Put,
    /// `unpin_user_page` / `unpin_user_folio` (`gup_put_folio` with FOLL_PIN).
    Unpin,
}

impl Kernel<'_> {
    /// Drops what `held` holds on `pages` (of one folio) with `how`, in one call of the
    /// kernel's primitive, marking the folio dirty first if asked. A primitive that does not
    /// match what the pages hold is `bad-release` (put on a pin, unpin on a reference, or
    /// either where the bio holds nothing) and still does what the kernel's would.
    pub fn bio_drop(&mut self, pages: &[Pfn], taken: Taken, how: Drop, dirty: bool, what: &str) {
        let wrong = match (how, taken) {
            (Drop::Put, Taken::Get) | (Drop::Unpin, Taken::Pin) => None,
            (Drop::Put, Taken::Pin) => Some("put_page on a pinned page: the release must unpin"),
            (Drop::Unpin, Taken::Get) => {
                Some("unpin on a FOLL_GET reference: the release must be put_page")
            }
            (_, Taken::Nothing) => Some("a release of a page the bio holds nothing on"),
        };
        if let Some(why) = wrong {
            let first = pages[0];
            self.ev
                .raise(Invariant::BadRelease, || format!("{what}: {why} ({first})"));
        }
        match how {
            Drop::Put => self.put_page_calls(pages, 1, dirty),
            Drop::Unpin => self.unpin_user_page_calls(pages, 1, dirty),
        }
    }

    /// How this design drops a page a bio of these flags holds on its own (a same-page
    /// duplicate, a page extracted but not added), or `None` where nothing is held.
    fn bio_drop_kind(&self, flags: BioFlags, from_gup: bool) -> Option<Drop> {
        match self.design.bio_refs {
            BioRefs::Ref => Some(Drop::Put),
            // put_user_page for a GUP page, put_page for another.
            BioRefs::VecFlag => Some(if from_gup { Drop::Unpin } else { Drop::Put }),
            BioRefs::AllPins => Some(Drop::Unpin),
            // bio_release_page: unpin if BIO_PAGE_PINNED, else nothing.
            BioRefs::PinnedFlag => flags.contains(BioFlags::PAGE_PINNED).then_some(Drop::Unpin),
        }
    }

    /// `get_gup_pin` (Kara 2019, `all-pins`): the pin a bio takes on a page it did not get from
    /// GUP (page cache, kernel memory). Modelled as a pin's counts (`try_grab_folio` with
    /// FOLL_PIN, which cannot fail on a page with a reference).
    pub fn get_gup_pin(&mut self, page: Pfn) {
        let _ = self.try_grab_pages(&[page], crate::gup::FollFlags::PIN, 1);
    }

    /// `bio_iov_iter_get_pages` (block/bio.c): fills `b` from `iter`, as many pages as fit, and
    /// advances `iter` past them; `lbs` is the device's logical block size, to which what a
    /// bio takes is trimmed. A BVEC iterator lends its bvecs (`bio_iov_bvec_set`: no page is
    /// taken; `BIO_NO_PAGE_REF` before 6.5, `BIO_CLONED` after; under `all-pins` each page is
    /// pinned). Otherwise it sets `BIO_PAGE_PINNED` where the design has it and the iterator
    /// is user-backed, and extracts until the iterator is empty or the bio full. An error is
    /// returned only if nothing was added. EIO for a cloned bio (the kernel WARNs).
    pub fn bio_iov_iter_get_pages(
        &mut self,
        b: &mut HeldBio,
        iter: &mut IovIter,
        lbs: u32,
    ) -> Result<(), Errno> {
        if b.bio.flagged(BioFlags::CLONED) {
            return Err(Errno::EIO);
        }
        if iter.kind == IterKind::Bvec {
            self.bio_iov_bvec_set(b, iter);
            return Ok(());
        }
        if iter.extract_will_pin() && self.design.bio_refs == BioRefs::PinnedFlag {
            b.bio.flags |= BioFlags::PAGE_PINNED;
        }
        let mut ret;
        loop {
            ret = self.__bio_iov_iter_get_pages(b, iter, lbs);
            if ret.is_err() || iter.count() == 0 || b.bio.full(0) {
                break;
            }
        }
        if b.bio.vcnt() > 0 { Ok(()) } else { ret }
    }

    /// `bio_iov_bvec_set`: the bio uses the iterator's bvecs as they are.
    fn bio_iov_bvec_set(&mut self, b: &mut HeldBio, iter: &mut IovIter) {
        let all_pins = self.design.bio_refs == BioRefs::AllPins;
        for seg in iter.segs() {
            let IterSeg::Kernel { page, offset, len } = *seg else {
                continue;
            };
            b.bio.vecs.push(BioVec {
                page,
                len,
                offset,
                gup: false,
            });
            b.bio.size += len;
            let bv = b.bio.vecs.last().expect("pushed");
            for pfn in bv.pages() {
                if all_pins {
                    self.get_gup_pin(pfn);
                }
                b.held
                    .push((pfn, if all_pins { Taken::Pin } else { Taken::Nothing }));
            }
        }
        b.bio.max_vecs = b.bio.vcnt();
        b.bio.flags |= match self.design.bio_refs {
            BioRefs::PinnedFlag => BioFlags::CLONED,
            BioRefs::Ref | BioRefs::VecFlag => BioFlags::NO_PAGE_REF,
            BioRefs::AllPins => BioFlags::empty(),
        };
        iter.advance(iter.count());
    }

    /// `__bio_iov_iter_get_pages` (6.1–6.5 shape: a page at a time, `bio_iov_add_page`): one
    /// extraction into the free bvecs, trimmed to the logical block size; each page merged
    /// into the last bvec where physically contiguous, a same-page merge dropping the
    /// duplicate at once; pages extracted but not added are dropped.
    fn __bio_iov_iter_get_pages(
        &mut self,
        b: &mut HeldBio,
        iter: &mut IovIter,
        lbs: u32,
    ) -> Result<(), Errno> {
        let nr = u32::from(b.bio.max_vecs - b.bio.vcnt());
        let ex = self.iov_iter_extract_pages(iter, u64::from(u32::MAX - b.bio.size), nr)?;
        let trim = ex.bytes & u64::from(lbs - 1);
        iter.revert(trim);
        let size = ex.bytes - trim;
        let flags = b.bio.flags;
        let from_gup = ex.taken != Taken::Nothing;
        let taken = self.hold_listed(&ex.pages, ex.taken);
        let ex = crate::block::Extracted { taken, ..ex };
        let mut added = 0;
        let (mut left, mut offset) = (size, ex.offset);
        while left > 0 {
            let page = ex.pages[added];
            let len = (u64::from(PAGE_SIZE - offset)).min(left) as u32;
            self.bio_add_page_held(b, page, len, offset, ex.taken, from_gup);
            added += 1;
            left -= u64::from(len);
            offset = 0;
        }
        for &page in &ex.pages[added..] {
            if let Some(how) = self.bio_drop_kind(flags, from_gup) {
                self.bio_drop(&[page], ex.taken, how, false, "an extracted page not added");
            }
        }
        if size == 0 {
            Err(Errno::EFAULT)
        } else {
            Ok(())
        }
    }

    /// What a bio takes on kernel pages an extraction only listed: under `all-pins` a pin
    /// (`get_gup_pin`), under `ref` and `vec-flag` a plain reference (`get_page`, released by
    /// `put_page`), under `pinned-flag` nothing (the bio has no `BIO_PAGE_PINNED`).
    fn hold_listed(&mut self, pages: &[Pfn], taken: Taken) -> Taken {
        if taken != Taken::Nothing {
            return taken;
        }
        match self.design.bio_refs {
            BioRefs::PinnedFlag => Taken::Nothing,
            BioRefs::AllPins => {
                pages.iter().for_each(|&p| self.get_gup_pin(p));
                Taken::Pin
            }
            BioRefs::Ref | BioRefs::VecFlag => {
                for &p in pages {
                    self.mem.folio_ref_add(p, 1, 1, self.ev);
                    self.ev.count_ref_ops(1);
                }
                Taken::Get
            }
        }
    }

    /// `bio_iov_add_page`: `bio_add_page` of a page that holds `taken` for the bio. Under
    /// `all-pins` a page that holds no pin is `bad-release` here (Kara's assertion). Under
    /// `vec-flag` a new bvec records whether the page came from GUP (`from_gup`). A same-page
    /// merge drops the duplicate reference at once.
    fn bio_add_page_held(
        &mut self,
        b: &mut HeldBio,
        page: Pfn,
        len: u32,
        off: u32,
        taken: Taken,
        from_gup: bool,
    ) {
        if self.design.bio_refs == BioRefs::AllPins && taken != Taken::Pin {
            self.ev.raise(Invariant::BadRelease, || {
                format!("bio_add_page of {page}, which holds no pin: every page a bio holds must be pinned, and bio_put will unpin it")
            });
        }
        let vcnt = b.bio.vcnt();
        let (added, same_page) = bio_add_page_same(&mut b.bio, page, len, off);
        if added == 0 {
            // There is room by construction (`nr` free bvecs were asked for); the kernel's
            // __bio_add_page would WARN.
            __bio_add_page(&mut b.bio, page, len, off);
        }
        if b.bio.vcnt() > vcnt && self.design.bio_refs == BioRefs::VecFlag {
            b.bio.vecs.last_mut().expect("added").gup = from_gup;
        }
        if same_page {
            if let Some(how) = self.bio_drop_kind(b.bio.flags, from_gup) {
                self.bio_drop(
                    &[page],
                    taken,
                    how,
                    false,
                    "the duplicate of a same-page merge",
                );
            }
        } else {
            b.held.push((page, taken));
        }
    }

    /// `bio_set_pages_dirty` (block/bio.c): marks each folio dirty, before a read into user
    /// memory is submitted.
    pub fn bio_set_pages_dirty(&mut self, b: &HeldBio) {
        for seg in folio_segments(self.mem, &b.bio) {
            if !self.mem.is_zero_page(seg.folio) {
                self.mem.folio_mark_dirty(seg.folio, self.ev);
            }
        }
    }

    /// `bio_check_pages_dirty` (block/bio.c), at a read's completion: if every folio is still
    /// dirty, releases the pages and puts the bio (returns true); otherwise writeback cleaned
    /// one during the read, and the bio goes to `bio_dirty_work`, which re-dirties and
    /// releases it in process context (returns false).
    pub fn bio_check_pages_dirty(&mut self, b: &HeldBio) -> bool {
        let clean = folio_segments(self.mem, &b.bio).iter().any(|s| {
            !self.mem.is_zero_page(s.folio)
                && !self
                    .mem
                    .folio_flags(s.folio)
                    .contains(crate::mm::PageFlags::DIRTY)
        });
        if clean {
            self.ev.note(|| {
                "a page was cleaned during the read: bio_dirty_work will release the bio".into()
            });
            return false;
        }
        self.bio_release_pages(b, false);
        self.bio_put(b);
        true
    }

    /// `bio_dirty_fn`, the work `bio_check_pages_dirty` deferred: re-dirties and releases.
    pub fn bio_dirty_fn(&mut self, b: &HeldBio) {
        self.bio_release_pages(b, true);
        self.bio_put(b);
    }

    /// `bio_release_pages(bio, mark_dirty)` under the design:
    /// - `ref`: unless `BIO_NO_PAGE_REF`, each page: `set_page_dirty_lock` (if asked and not
    ///   compound, as 5.x did), then `put_page`;
    /// - `vec-flag`: unless `BIO_NO_PAGE_REF`, each page of a GUP bvec unpinned, of another
    ///   put;
    /// - `all-pins`: only the dirtying; `bio_put` unpins;
    /// - `pinned-flag`: only with `BIO_PAGE_PINNED`, each folio segment: `folio_mark_dirty`
    ///   if asked, then `unpin_user_folio(folio, pages it touches)`.
    pub fn bio_release_pages(&mut self, b: &HeldBio, mark_dirty: bool) {
        let flags = b.bio.flags;
        match self.design.bio_refs {
            BioRefs::Ref | BioRefs::VecFlag if flags.contains(BioFlags::NO_PAGE_REF) => {}
            BioRefs::Ref | BioRefs::VecFlag => {
                let vec_flag = self.design.bio_refs == BioRefs::VecFlag;
                let mut held = b.held.iter();
                for bv in &b.bio.vecs {
                    for _ in bv.pages() {
                        let &(pfn, taken) = held.next().expect("one held page per bvec page");
                        let dirty = mark_dirty
                            && !self.mem.is_zero_page(pfn)
                            && !self.mem.folio_test_large(pfn);
                        let how = if vec_flag && bv.gup {
                            Drop::Unpin
                        } else {
                            Drop::Put
                        };
                        self.bio_drop(&[pfn], taken, how, dirty, "bio_release_pages");
                    }
                }
            }
            BioRefs::AllPins => {
                if mark_dirty {
                    self.bio_set_pages_dirty(b);
                }
            }
            BioRefs::PinnedFlag if !flags.contains(BioFlags::PAGE_PINNED) => {}
            BioRefs::PinnedFlag => {
                // A folio segment's pages are the next ones in bvec order.
                let mut held = b.held.iter();
                for seg in folio_segments(self.mem, &b.bio) {
                    let pages: Vec<Pfn> = seg.pages().collect();
                    let taken = held
                        .by_ref()
                        .take(pages.len())
                        .fold(None, |t, &(_, k)| t.or(Some(k)));
                    let dirty = mark_dirty && !self.mem.is_zero_page(seg.folio);
                    let taken = taken.expect("one held page per bvec page");
                    self.bio_drop(&pages, taken, Drop::Unpin, dirty, "bio_release_pages");
                }
            }
        }
    }

    /// `bio_put` (block/bio.c): frees the bio; it never touches the pages, except under
    /// `all-pins`, where it unpins every page unconditionally — but not on a `BIO_CLONED`
    /// split, which shares its parent's bvecs and would unpin them a second time.
    pub fn bio_put(&mut self, b: &HeldBio) {
        if self.design.bio_refs != BioRefs::AllPins || b.bio.flagged(BioFlags::CLONED) {
            return;
        }
        for &(pfn, taken) in &b.held {
            self.bio_drop(&[pfn], taken, Drop::Unpin, false, "bio_put");
        }
    }
}
