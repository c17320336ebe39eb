//! Files, their disk blocks and their page cache (`address_space`), as far as faults need them
//! (mm/filemap.c `filemap_fault`, mm/shmem.c).
//!
//! Modelled so far: a file's pages are read into the page cache on first use (a fault through a
//! file mapping), each cached page holding the page cache's reference. Not yet: write(2) and
//! read(2), folio flags (locked, dirty, writeback, uptodate), per-folio private state
//! ("buffers"), the filesystem operations (`dirty_folio`, `page_mkwrite`, `release_folio`),
//! writeback, truncate and reclaim, which arrive with the page-cache issue on these same tables.

use biopin_explore::{Record, Table, journaled};

use crate::mm::{Events, Gfp, MemMap, PageContent, Pfn};
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

/// Every file's page cache and disk blocks.
///
/// # Invariants
///
/// File `f`'s pages are `slots[base[f]..base[f + 1]]` and `disk[base[f]..base[f + 1]]`. A
/// cached page is a small folio holding one reference for the page cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageCache {
    files: Vec<FileShape>,
    base: Vec<u32>,
    slots: Table<CacheSlot>,
    disk: Table<PageContent>,
}

journaled!(PageCache { slots, disk });

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
        let pfn = mem.alloc_folio(0, gfp)?;
        mem.set_content(pfn, self.block(file, index));
        let slot = self.slot(file, index);
        self.slots.set(slot, CacheSlot { pfn: Some(pfn) });
        ev.note(|| format!("page {index} of file {file} read into the page cache at {pfn}"));
        Some(pfn)
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
