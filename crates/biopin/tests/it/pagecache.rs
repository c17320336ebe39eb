//! The page cache through the Rust API: write faults through shared mappings and
//! `page_mkwrite`, buffers and their reference, `dirty-without-buffers` at the moment a
//! buffer-less ext4 folio is dirtied, and the long-term writable pins 6.5 refuses.

use biopin::errno::Errno;
use biopin::gup::UserRange;
use biopin::mm::{Events, Invariant, MemMap, PageFlags, Pfn};
use biopin::pagecache::{FileShape, Fs, PageCache};
use biopin::vm::{Prot, Pte, Vm, VmaKind, VmaShape};

use crate::{Machine, design};

// One task with a shared mapping (0) of an ext4 file (file 0) and one (1) of a shmem file
// (file 1), two pages each.

const EXT4: usize = 0;
const SHMEM: usize = 1;

impl Machine {
    fn shared_files(design_name: &str) -> Self {
        let shape = |file| VmaShape {
            kind: VmaKind::Shared,
            file: Some((file, 0)),
            pages: 2,
            prot: Prot::Rw,
            order: 0,
        };
        Machine {
            mem: MemMap::new(16, 0),
            vm: Vm::new(&["app"], &[vec![shape(EXT4), shape(SHMEM)]], &[None]),
            cache: PageCache::new(&[
                FileShape {
                    pages: 2,
                    fs: Fs::Ext4,
                    init: 0xa0,
                    stable_writes: false,
                },
                FileShape {
                    pages: 2,
                    fs: Fs::Shmem,
                    init: 0xb0,
                    stable_writes: false,
                },
            ]),
            design: design(design_name),
            ev: Events::detailed(),
        }
    }

    fn pte(&mut self, vma: usize, page: u32) -> Pte {
        self.k().pte(0, vma, page)
    }
}

fn frame(pte: Pte) -> Pfn {
    match pte {
        Pte::Present { pfn, .. } => pfn,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_write_fault_through_a_shared_ext4_mapping_attaches_buffers_and_dirties() {
    let mut m = Machine::shared_files("linux-6.5");
    m.k().load(0, EXT4, 0).unwrap();
    let pte = m.pte(EXT4, 0);
    assert!(
        matches!(pte, Pte::Present { write: false, .. }),
        "a read maps it read-only"
    );
    let pfn = frame(pte);
    assert_eq!(m.mem.folio_ref_count(pfn), 2, "the page cache and the PTE");
    m.k().store(0, EXT4, 0, 0x11).unwrap();
    assert_eq!(
        m.pte(EXT4, 0),
        Pte::Present { pfn, write: true },
        "the same page, writable"
    );
    let flags = m.mem.folio_flags(pfn);
    assert!(flags.contains(PageFlags::PRIVATE | PageFlags::DIRTY | PageFlags::BUFFERED_FS));
    assert_eq!(m.mem.folio_ref_count(pfn), 3, "and the buffers' reference");
    assert_eq!(
        m.cache.lookup(EXT4, 0),
        Some(pfn),
        "the page cache's page is written"
    );
    assert_eq!(m.mem.content(pfn).value, 0x11);
    // A missing PTE: do_shared_fault maps it writable at once.
    m.k().store(0, EXT4, 1, 0x22).unwrap();
    assert!(matches!(m.pte(EXT4, 1), Pte::Present { write: true, .. }));
    assert!(m.ev.raised.is_empty(), "{:?}", m.ev.raised);
}

#[test]
fn shmem_keeps_no_buffers() {
    let mut m = Machine::shared_files("linux-6.5");
    m.k().store(0, SHMEM, 0, 0x11).unwrap();
    let pfn = frame(m.pte(SHMEM, 0));
    let flags = m.mem.folio_flags(pfn);
    assert!(
        !flags.intersects(PageFlags::PRIVATE | PageFlags::BUFFERED_FS),
        "{flags:?}"
    );
    assert_eq!(m.mem.folio_ref_count(pfn), 2);
}

#[test]
fn dirtying_an_ext4_folio_whose_buffers_were_released_is_dirty_without_buffers() {
    let mut m = Machine::shared_files("linux-5.0");
    m.k().load(0, EXT4, 0).unwrap();
    let pfn = frame(m.pte(EXT4, 0));
    // Read in, never written: no buffers. A device's completion dirties it.
    m.mem.folio_mark_dirty(pfn, &mut m.ev);
    assert!(m.has(Invariant::DirtyWithoutBuffers));
    // With buffers attached first, dirtying is fine; releasing them needs a clean folio.
    let mut m = Machine::shared_files("linux-5.0");
    m.k().store(0, EXT4, 0, 0x11).unwrap();
    let pfn = frame(m.pte(EXT4, 0));
    assert!(
        !m.cache.filemap_release_folio(&mut m.mem, pfn, &mut m.ev),
        "dirty: in use"
    );
    m.mem.folio_test_clear_dirty(pfn);
    assert!(m.cache.filemap_release_folio(&mut m.mem, pfn, &mut m.ev));
    assert_eq!(
        m.mem.folio_ref_count(pfn),
        2,
        "the buffers' reference went with them"
    );
    m.mem.folio_mark_dirty(pfn, &mut m.ev);
    assert!(m.has(Invariant::DirtyWithoutBuffers));
}

#[test]
fn a_writable_longterm_pin_of_a_shared_ext4_mapping_is_efault_from_6_5() {
    let range = |vma| UserRange {
        task: 0,
        vma,
        pages: 0..1,
    };
    for (design, ext4) in [
        ("linux-6.5", Err(Errno::EFAULT)),
        ("linux-6.5+longterm_file_write=allow", Ok(())),
    ] {
        let mut m = Machine::shared_files(design);
        let got = m.k().pin_user_pages(&range(EXT4), true, true, 1);
        assert_eq!(got.err.map_or(Ok(()), Err), ext4, "{design}: ext4");
        let got = m.k().pin_user_pages(&range(SHMEM), true, true, 1);
        assert_eq!(got.err, None, "{design}: shmem is allowed");
        // Read-only, or not long-term: allowed everywhere.
        let mut m = Machine::shared_files(design);
        assert_eq!(m.k().pin_user_pages(&range(EXT4), false, true, 1).err, None);
        assert_eq!(m.k().pin_user_pages(&range(EXT4), true, false, 1).err, None);
    }
}
