//! Moving a folio to another frame (mm/migrate.c `migrate_pages` → `migrate_folio`,
//! `remove_migration_ptes`).

use super::task::{Kernel, Pte};
use crate::errno::Errno;
use crate::mm::{Gfp, Pfn};

impl Kernel<'_> {
    /// Migrates the folio `pfn` belongs to into a new folio allocated with `gfp`: contents,
    /// flags and counts move, every PTE that mapped it (in any task: the rmap walk) now maps
    /// the new frames with the same permissions, and the old frames are freed.
    ///
    /// The kernel moves a folio only if its refcount is exactly what its mappings account for
    /// (`folio_migrate_mapping` fails with -EAGAIN otherwise), so any GUP reference or pin
    /// blocks it: -EAGAIN here. No free frame is -ENOMEM. Simplification: no retries, no
    /// isolation reference.
    pub fn migrate_folio(&mut self, pfn: Pfn, gfp: Gfp) -> Result<Pfn, Errno> {
        let old = self.mem.folio(pfn);
        let nr = self.mem.folio_nr_pages(old);
        let mapped: i64 = (0..nr)
            .map(|i| i64::from(self.mem.frame(Pfn(old.0 + i)).mapcount))
            .sum();
        if i64::from(self.mem.folio_ref_count(old)) != mapped {
            return Err(Errno::EAGAIN);
        }
        let order = self.mem.frame(old).order;
        let new = self.mem.alloc_folio(order, gfp).ok_or(Errno::ENOMEM)?;
        self.mem.move_folio(old, new);
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
        Ok(new)
    }
}
