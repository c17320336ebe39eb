//! Truncation (mm/truncate.c `truncate_pagecache`, `truncate_inode_pages_range`; fs/ext4's
//! `ext4_setattr`).

use crate::mm::PageContent;
use crate::pagecache::FileId;
use crate::vm::{Kernel, Pte};

impl Kernel<'_> {
    /// `truncate FILE N` (`truncate_setsize` → `truncate_pagecache`): `i_size` becomes N pages;
    /// every mapping of a page past it is zapped — the page cache's pages and, as truncation
    /// asks (`unmap_mapping_range(..., even_cows = 1)`), the private copies made from them;
    /// every cached page past it loses its buffers and its dirty bit and leaves the page cache
    /// (`truncate_inode_folio`; the caller has waited for their writeback); and the blocks
    /// past it are freed, reading as zeroes if the file grows again. Whatever else holds a
    /// page removed (a pin, a bio) keeps it, outside the file.
    pub fn truncate(&mut self, file: FileId, pages: u32) {
        let old = self.cache.i_size(file);
        self.cache.set_i_size(file, pages);
        for t in 0..self.vm.nr_tasks() {
            for v in 0..self.vm.nr_vmas(t) {
                let l = self.vm.layout(t, v);
                let Some((f, offset)) = l.file else { continue };
                if f != file {
                    continue;
                }
                for p in 0..l.pages {
                    if offset + p >= pages && matches!(self.vm.pte(t, v, p), Pte::Present { .. }) {
                        self.zap_pte(t, v, p);
                    }
                }
            }
        }
        for index in pages..old.max(pages) {
            if let Some(pfn) = self.cache.lookup(file, index) {
                // folio_cancel_dirty, then folio_invalidate drops the buffers.
                self.mem.folio_test_clear_dirty(pfn);
                self.cache.filemap_release_folio(self.mem, pfn, self.ev);
                self.cache
                    .filemap_remove_folio(self.mem, file, index, self.ev);
            }
            self.cache.write_block(file, index, PageContent::ZERO);
        }
        self.ev
            .note(|| format!("file {file} truncated from {old} to {pages} pages"));
    }
}
