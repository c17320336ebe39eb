//! RDMA memory registration by address (drivers/infiniband/core/umem.c `ib_umem_get`,
//! `ib_umem_release`): a long-term, writable GUP of a user range, released (dirtying the
//! pages) at deregistration.

use crate::design::Gup;
use crate::errno::Errno;
use crate::gup::{Gupped, UserRange};
use crate::mm::Pfn;
use crate::vm::Kernel;

impl Kernel<'_> {
    /// `ib_umem_get`: `pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM)` (5.6+), or where the
    /// design's `gup` is `get` the 5.0 `get_user_pages_longterm(FOLL_WRITE)` (FOLL_GET).
    /// Modelled as one atomic step with the slow path's semantics (`pin_user_pages`: faults,
    /// migration out of `ZONE_MOVABLE`, all of the range or nothing), which is where the fast
    /// path falls back for anything it cannot take. Returns the pages taken; they are pages of
    /// I/O.
    pub fn ib_umem_get(&mut self, range: &UserRange) -> Gupped<Vec<Pfn>> {
        let got = match self.design.gup {
            Gup::Pin => {
                let g = self.pin_user_pages(range, true, true, 1);
                Gupped {
                    taken: g.taken.map(|p| p.pages),
                    err: g.err,
                }
            }
            Gup::Get => {
                let g = self.get_user_pages(range, true, true, 1);
                Gupped {
                    taken: g.taken.map(|r| r.pages),
                    err: g.err,
                }
            }
        };
        if let Some(pages) = &got.taken {
            self.ev.io_pages += pages.len() as u64;
        }
        got
    }

    /// A registration of page-cache pages by file (Kara's example in the 2019 thread: memory a
    /// driver takes from the page cache without GUP): each page read in if absent
    /// (`read_cache_folio`), then held with a plain reference (`get_page`), or under
    /// `bio_refs = all-pins` with a pin (`get_gup_pin`), which reclaim's pin test can see.
    /// ENOMEM (holding nothing) if a page cannot be read in.
    pub fn rdma_reg_fd(
        &mut self,
        file: usize,
        pages: std::ops::Range<u32>,
    ) -> Result<Vec<Pfn>, Errno> {
        let mut pfns = Vec::with_capacity(pages.len());
        for index in pages {
            pfns.push(self.filemap_fault(file, index, crate::mm::Gfp::Movable)?);
        }
        for &pfn in &pfns {
            if self.design.bio_refs == crate::design::BioRefs::AllPins {
                self.get_gup_pin(pfn);
            } else {
                self.mem.folio_ref_add(pfn, 1, 1, self.ev);
                self.ev.count_ref_ops(1);
            }
        }
        self.ev.io_pages += pfns.len() as u64;
        Ok(pfns)
    }

    /// `ib_umem_release` with `dirty`: `unpin_user_page_range_dirty_lock` over each folio run
    /// (5.6+), or where the design's `gup` is `get` `set_page_dirty_lock` and `put_page`
    /// on each page (5.0 `__ib_umem_release`).
    pub fn ib_umem_release(&mut self, pages: &[Pfn]) -> Result<(), Errno> {
        match self.design.gup {
            Gup::Pin => self.unpin_user_page_calls(pages, 1, true),
            Gup::Get => self.put_page_calls(pages, 1, true),
        }
        Ok(())
    }
}
