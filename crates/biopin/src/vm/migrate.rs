//! Moving a folio to another frame (mm/migrate.c `migrate_pages` → `migrate_folio`,
//! `remove_migration_ptes`), splitting a large one that cannot move whole
//! (mm/huge_memory.c `split_huge_page`).

use super::task::{Kernel, Pte};
use crate::errno::Errno;
use crate::mm::{Gfp, Pfn};

impl Kernel<'_> {
    /// Migrates the folio `pfn` belongs to into new frames allocated with `gfp`: contents,
    /// flags and counts move, every PTE that mapped it (in any task: the rmap walk) now maps
    /// the new frames with the same permissions, and the old frames are freed (recorded, so
    /// that a reference still naming them through a broken count is a use-after-free when
    /// used).
    ///
    /// The kernel moves a folio only if its refcount is exactly what its mappings, the page
    /// cache and its buffers account for (`folio_migrate_mapping` fails with -EAGAIN otherwise, and moves the
    /// page cache's slot to the new folio when it succeeds), so any GUP reference or pin
    /// blocks it: -EAGAIN here. A large folio for which no free block of its order exists is
    /// split and its base pages moved one by one (`migrate_pages_batch` → `try_split_folio`);
    /// -ENOMEM only when a frame cannot be found for one of them. Simplification: no retries,
    /// no isolation reference.
    pub fn migrate_folio(&mut self, pfn: Pfn, gfp: Gfp) -> Result<(), Errno> {
        let old = self.mem.folio(pfn);
        if self.mem.folio_test(old, crate::mm::PageFlags::WRITEBACK) {
            // migrate_folio_unmap: a folio under writeback is not moved (-EBUSY, or a wait in
            // a synchronous migration): a page-cache bio holds no reference to stop it.
            return Err(Errno::EAGAIN);
        }
        let nr = self.mem.folio_nr_pages(old);
        let cached = self.cache.owner(old);
        let expected: i64 = (0..nr)
            .map(|i| i64::from(self.mem.frame(Pfn(old.0 + i)).mapcount))
            .sum::<i64>()
            + i64::from(cached.is_some())
            + i64::from(self.mem.folio_test(old, crate::mm::PageFlags::PRIVATE));
        if i64::from(self.mem.folio_ref_count(old)) != expected {
            return Err(Errno::EAGAIN);
        }
        let order = self.mem.frame(old).order;
        let Some(new) = self.mem.alloc_folio(order, gfp) else {
            if order == 0 {
                return Err(Errno::ENOMEM);
            }
            self.ev.note(|| {
                format!("no free block of order {order} for {old}: split it and move its pages")
            });
            self.mem.split_folio(old, self.ev);
            for i in 0..nr {
                let page = Pfn(old.0 + i);
                if self.mem.in_use(page) {
                    self.migrate_folio(page, gfp)?;
                }
            }
            return Ok(());
        };
        self.mem.move_folio(old, new);
        self.ev.freed.push((old, order));
        if let Some((file, index)) = cached {
            self.cache.replace(file, index, new);
        }
        for slot in 0..self.vm.all_ptes().len() {
            if let Pte::Present { pfn, write } = self.vm.all_ptes()[slot]
                && (old.0..old.0 + nr).contains(&pfn.0)
            {
                let moved = Pte::Present {
                    pfn: Pfn(new.0 + pfn.0 - old.0),
                    write,
                };
                self.vm.set_pte_slot(slot, moved);
            }
        }
        self.ev.note(|| format!("migrated folio {old} to {new}"));
        Ok(())
    }
}
