//! Files, their disk blocks and their page cache (`address_space`): lookup and insertion, the
//! folio flags that matter (dirty, writeback, private), per-folio private state ("buffers"),
//! and the filesystem operations as data — what ext4 and shmem do for `write_begin`,
//! `page_mkwrite`, `dirty_folio` and `release_folio` (mm/filemap.c, fs/ext4/inode.c,
//! fs/buffer.c, mm/shmem.c).
//!
//! Each cached page holds the page cache's reference, and one more while buffers are attached
//! (`folio_attach_private`). The folio lock is not kept between steps: every step that takes it
//! also drops it. Reads are synchronous: a page read in is up to date when the step ends.

use biopin_explore::{Record, Table, journaled};

use crate::mm::{Events, Gfp, MemMap, PageContent, PageFlags, Pfn};
use crate::state::TableId;

/// A file's index in the world.
pub type FileId = usize;

/// The filesystem a file lives on: what its operations do (held as data, so that this layer
/// does not depend on the filesystems above it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fs {
    /// ext4: a disk behind it, per-folio buffers (`page_buffers`), `page_mkwrite`.
    Ext4,
    /// shmem/tmpfs (memfd, /tmp): no disk, no private state.
    Shmem,
}

impl Fs {
    /// Whether the filesystem keeps per-folio private state ("buffers") and writes back to a
    /// disk (ext4), or neither (shmem).
    pub fn has_buffers(self) -> bool {
        self == Fs::Ext4
    }

    /// The name in scenarios (`ext4`, `shmem`).
    pub fn name(self) -> &'static str {
        match self {
            Fs::Ext4 => "ext4",
            Fs::Shmem => "shmem",
        }
    }
}

/// A file as a scenario declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileShape {
    /// Its size in pages.
    pub pages: u32,
    /// Its filesystem.
    pub fs: Fs,
    /// Every block's initial byte (for shmem: the file's initial content).
    pub init: u8,
    /// The device needs stable pages during writeback (ext4 only): writers wait for it
    /// (`folio_wait_stable`), and a page that changes between a write's submission and its
    /// transfer is `unstable-page-write`.
    pub stable_writes: bool,
}

/// One page-cache slot: the folio caching a file page, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheSlot {
    /// The cached page.
    pub pfn: Option<Pfn>,
}

impl Record for CacheSlot {
    fn pack(self) -> u128 {
        self.pfn.map_or(0, |p| 1 | u128::from(p.0) << 1)
    }
}

/// Where a file page's writeback is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WbStage {
    /// No writeback bio of this page is in flight.
    #[default]
    Idle,
    /// Submitted: the device has yet to read the page.
    Submitted,
    /// Transferred: the block holds it; `folio_end_writeback` has yet to run.
    Transferred,
}

/// A file page's writeback bio in flight (one at a time: a folio under writeback is not
/// written back again until it ends).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WbPage {
    /// Where it is.
    pub stage: WbStage,
    /// The frame the device reads: the folio, or a bounce copy of it.
    pub src: Pfn,
    /// `src` is a bounce copy (`writeback = skip` or `bounce`), freed at the end; the folio
    /// itself stays dirty and is not under writeback.
    pub bounce: bool,
    /// The bio took a pin on `src` (`bio_refs = all-pins`), which `bio_put` drops.
    pub pinned: bool,
    /// What `src` held when the bio was submitted.
    pub submitted: PageContent,
}

impl Record for WbPage {
    fn pack(self) -> u128 {
        let stage = match self.stage {
            WbStage::Idle => 0u128,
            WbStage::Submitted => 1,
            WbStage::Transferred => 2,
        };
        stage
            | u128::from(self.src.0) << 2
            | u128::from(self.bounce) << 34
            | u128::from(self.pinned) << 35
            | self.submitted.pack() << 36
    }
}

/// A file's size, if a truncate changed it: the default record is the size it was declared
/// with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileSize {
    /// A truncate (or a write past it since) set the size.
    pub set: bool,
    /// The size in pages, when set.
    pub pages: u32,
}

impl Record for FileSize {
    fn pack(self) -> u128 {
        u128::from(self.set) | u128::from(self.pages) << 1
    }
}

/// Every file's page cache and disk blocks.
///
/// # Invariants
///
/// File `f`'s pages are `slots[base[f]..base[f + 1]]`, `disk[base[f]..base[f + 1]]` and
/// `wb[base[f]..base[f + 1]]`. A cached page is a small folio holding one reference for the
/// page cache (and one for its buffers, if attached).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageCache {
    files: Vec<FileShape>,
    base: Vec<u32>,
    slots: Table<CacheSlot>,
    disk: Table<PageContent>,
    wb: Table<WbPage>,
    sizes: Table<FileSize>,
}

journaled!(PageCache {
    slots,
    disk,
    wb,
    sizes
});

impl PageCache {
    /// Files of the given shapes, nothing cached, every block holding its file's `init`.
    pub fn new(files: &[FileShape]) -> PageCache {
        let mut base = vec![0];
        for f in files {
            base.push(base.last().unwrap() + f.pages);
        }
        let total = *base.last().unwrap() as usize;
        let mut cache = PageCache {
            files: files.to_vec(),
            base,
            slots: Table::new(TableId::PageCache.id(), total),
            disk: Table::new(TableId::Disk.id(), total),
            wb: Table::new(TableId::Writeback.id(), total),
            sizes: Table::new(TableId::FileSizes.id(), files.len()),
        };
        for (f, shape) in files.iter().enumerate() {
            for i in 0..shape.pages {
                let slot = cache.slot(f, i);
                cache.disk.set(
                    slot,
                    PageContent {
                        value: shape.init,
                        ..PageContent::ZERO
                    },
                );
            }
        }
        cache
    }

    /// The number of files.
    pub fn nr_files(&self) -> usize {
        self.files.len()
    }

    /// A file's shape.
    pub fn file(&self, file: FileId) -> FileShape {
        self.files[file]
    }

    fn slot(&self, file: FileId, index: u32) -> usize {
        debug_assert!(index < self.files[file].pages);
        (self.base[file] + index) as usize
    }

    /// The number of pages of every file together: file `f`'s page `i` is page
    /// `first_page(f) + i` of them.
    pub fn total_pages(&self) -> u32 {
        *self.base.last().unwrap()
    }

    /// Where file `file`'s pages start among every file's.
    pub fn first_page(&self, file: FileId) -> u32 {
        self.base[file]
    }

    /// The file and page of page `slot` of every file's.
    pub fn file_page(&self, slot: u32) -> (FileId, u32) {
        let f = self.base.partition_point(|&b| b <= slot) - 1;
        (f, slot - self.base[f])
    }

    /// `i_size`, in pages: the declared size, or what a truncate (or a write past the end
    /// since) made it.
    pub fn i_size(&self, file: FileId) -> u32 {
        let s = self.sizes.get(file);
        if s.set {
            s.pages
        } else {
            self.files[file].pages
        }
    }

    /// Sets `i_size`, in pages (at most the declared size: the tables are that large).
    pub fn set_i_size(&mut self, file: FileId, pages: u32) {
        debug_assert!(pages <= self.files[file].pages);
        self.sizes.set(file, FileSize { set: true, pages });
    }

    /// Page `index` of `file`'s writeback.
    pub fn wb(&self, file: FileId, index: u32) -> WbPage {
        self.wb.get(self.slot(file, index))
    }

    /// Sets page `index` of `file`'s writeback.
    pub fn set_wb(&mut self, file: FileId, index: u32, wb: WbPage) {
        let slot = self.slot(file, index);
        self.wb.set(slot, wb);
    }

    /// Whether any page of `file` has writeback in flight.
    pub fn writeback_in_flight(&self, file: FileId) -> bool {
        (0..self.files[file].pages).any(|i| self.wb(file, i).stage != WbStage::Idle)
    }

    /// `filemap_get_folio`: the page caching page `index` of `file`, if one does.
    pub fn lookup(&self, file: FileId, index: u32) -> Option<Pfn> {
        self.slots.get(self.slot(file, index)).pfn
    }

    /// What block `index` of `file` holds on disk (for shmem: in its backing store).
    pub fn block(&self, file: FileId, index: u32) -> PageContent {
        self.disk.get(self.slot(file, index))
    }

    /// Writes block `index` of `file` (a device's transfer: direct I/O, writeback).
    pub fn write_block(&mut self, file: FileId, index: u32, content: PageContent) {
        let slot = self.slot(file, index);
        self.disk.set(slot, content);
    }

    /// Every cached page, in (file, index) order: (file, index, pfn).
    pub fn cached(&self) -> impl Iterator<Item = (FileId, u32, Pfn)> + '_ {
        (0..self.files.len()).flat_map(move |f| {
            (0..self.files[f].pages).filter_map(move |i| self.lookup(f, i).map(|pfn| (f, i, pfn)))
        })
    }

    /// The file page `pfn` caches, if it caches one.
    pub fn owner(&self, pfn: Pfn) -> Option<(FileId, u32)> {
        self.cached()
            .find(|&(_, _, p)| p == pfn)
            .map(|(f, i, _)| (f, i))
    }

    /// Points the slot of a cached page at another frame (migration moved it:
    /// `folio_migrate_mapping`).
    pub fn replace(&mut self, file: FileId, index: u32, pfn: Pfn) {
        let slot = self.slot(file, index);
        self.slots.set(slot, CacheSlot { pfn: Some(pfn) });
    }

    /// `filemap_fault` / `shmem_fault` for page `index` of `file`: the cached page, or a new
    /// page read in from the block (`filemap_add_folio` + `read_folio`), allocated from `gfp`
    /// (movable, unless under `memalloc_pin_save()`) and holding the page cache's reference.
    /// `None` (ENOMEM) if no frame is free.
    pub fn filemap_fault(
        &mut self,
        mem: &mut MemMap,
        file: FileId,
        index: u32,
        gfp: Gfp,
        ev: &mut Events,
    ) -> Option<Pfn> {
        if let Some(pfn) = self.lookup(file, index) {
            return Some(pfn);
        }
        let pfn = self.filemap_add_folio(mem, file, index, gfp)?;
        mem.set_content(pfn, self.block(file, index));
        ev.note(|| format!("page {index} of file {file} read into the page cache at {pfn}"));
        Some(pfn)
    }

    /// `filemap_add_folio`: a new small folio caching page `index` of `file`, holding the page
    /// cache's reference; `None` (ENOMEM) if no frame is free. Its content is the caller's.
    fn filemap_add_folio(
        &mut self,
        mem: &mut MemMap,
        file: FileId,
        index: u32,
        gfp: Gfp,
    ) -> Option<Pfn> {
        let pfn = mem.alloc_folio(0, gfp)?;
        mem.set_page_flag(pfn, PageFlags::CACHE, true);
        if self.files[file].fs.has_buffers() {
            mem.set_page_flag(pfn, PageFlags::BUFFERED_FS, true);
        }
        let slot = self.slot(file, index);
        self.slots.set(slot, CacheSlot { pfn: Some(pfn) });
        Some(pfn)
    }

    /// Whether page `index` of `file` is in the page cache.
    pub fn is_cached(&self, file: FileId, index: u32) -> bool {
        self.lookup(file, index).is_some()
    }

    /// Attaches ext4's buffers to a cached folio that has none (`create_empty_buffers` from
    /// `ext4_write_begin` or `block_page_mkwrite`): `folio_attach_private`, one reference. A
    /// shmem folio has no private state.
    pub fn folio_attach_buffers(&self, mem: &mut MemMap, file: FileId, pfn: Pfn, ev: &mut Events) {
        if !self.files[file].fs.has_buffers() || mem.folio_test(pfn, PageFlags::PRIVATE) {
            return;
        }
        mem.folio_ref_add(pfn, 1, 1, ev);
        mem.folio_set_flag(pfn, PageFlags::PRIVATE, true);
        ev.note(|| format!("buffers attached to {pfn}"));
    }

    /// `filemap_release_folio` → `try_to_free_buffers` (fs/buffer.c): drops a clean folio's
    /// buffers, whatever else holds it (`folio_detach_private`: one reference). False if it
    /// has none, or is dirty or under writeback (buffers in use).
    pub fn filemap_release_folio(&self, mem: &mut MemMap, pfn: Pfn, ev: &mut Events) -> bool {
        let flags = mem.folio_flags(pfn);
        if !flags.contains(PageFlags::PRIVATE)
            || flags.intersects(PageFlags::DIRTY | PageFlags::WRITEBACK)
        {
            return false;
        }
        mem.folio_set_flag(pfn, PageFlags::PRIVATE, false);
        mem.folio_put_refs(pfn, 1, 1, "folio_detach_private", ev);
        ev.note(|| format!("buffers of {pfn} released"));
        true
    }

    /// `->page_mkwrite` on the first write fault through a shared mapping (ext4:
    /// `ext4_page_mkwrite` → `block_page_mkwrite`: buffers attached, the folio dirtied); shmem
    /// has none, and the fault dirties the folio (`fault_dirty_shared_page`).
    pub fn page_mkwrite(&self, mem: &mut MemMap, file: FileId, pfn: Pfn, ev: &mut Events) {
        self.folio_attach_buffers(mem, file, pfn, ev);
        mem.folio_mark_dirty(pfn, ev);
    }

    /// A buffered `write(2)` of a whole page (`generic_perform_write`: `write_begin`, the copy,
    /// `write_end`): the cached folio, or a new one (a whole-page write reads nothing in), gets
    /// buffers (ext4), the content, and `PG_dirty`. `None` (ENOMEM) if no frame is free.
    pub fn generic_perform_write(
        &mut self,
        mem: &mut MemMap,
        file: FileId,
        index: u32,
        content: PageContent,
        ev: &mut Events,
    ) -> Option<Pfn> {
        let pfn = match self.lookup(file, index) {
            Some(pfn) => pfn,
            None => self.filemap_add_folio(mem, file, index, Gfp::Movable)?,
        };
        self.folio_attach_buffers(mem, file, pfn, ev);
        mem.set_content(pfn, content);
        mem.folio_mark_dirty(pfn, ev);
        Some(pfn)
    }

    /// Removes page `index` of `file` from the page cache (`__filemap_remove_folio`): the
    /// slot empties and the page cache's reference is dropped (the folio is freed if nothing
    /// else holds it).
    pub fn filemap_remove_folio(
        &mut self,
        mem: &mut MemMap,
        file: FileId,
        index: u32,
        ev: &mut Events,
    ) {
        let Some(pfn) = self.lookup(file, index) else {
            return;
        };
        let slot = self.slot(file, index);
        self.slots.set(slot, CacheSlot { pfn: None });
        mem.folio_set_flag(pfn, PageFlags::CACHE | PageFlags::BUFFERED_FS, false);
        mem.folio_put_refs(pfn, 1, 1, "the page cache's reference", ev);
    }

    /// The disk blocks written since the latest checkpoint: (file, index, old content).
    pub fn disk_changed_since_checkpoint(&self) -> Vec<(FileId, u32, PageContent)> {
        self.by_file(self.disk.changed())
    }

    /// The slots changed since the latest checkpoint: (file, index, old slot).
    pub fn changed_since_checkpoint(&self) -> Vec<(FileId, u32, CacheSlot)> {
        self.by_file(self.slots.changed())
    }

    /// Table slots as (file, index).
    fn by_file<T>(&self, changed: Vec<(usize, T)>) -> Vec<(FileId, u32, T)> {
        changed
            .into_iter()
            .map(|(slot, old)| {
                let f = self.base.partition_point(|&b| b as usize <= slot) - 1;
                (f, slot as u32 - self.base[f], old)
            })
            .collect()
    }
}
