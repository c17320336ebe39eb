//! The page cache through the Rust API: write faults through shared mappings and
//! `page_mkwrite`, buffers and their reference, `dirty-without-buffers` at the moment a
//! buffer-less ext4 folio is dirtied, and the long-term writable pins 6.5 refuses.

use biopin::errno::Errno;
use biopin::gup::UserRange;
use biopin::mm::{Events, GUP_PIN_COUNTING_BIAS, Invariant, MemMap, PageFlags, Pfn};
use biopin::pagecache::{FileShape, Fs, PageCache, WbStage};
use biopin::reclaim::writeback::{check_lost_writes, needs_final_sync};
use biopin::reclaim::{Reclaimed, Wrote};
use biopin::vm::{Prot, Pte, Vm, VmaKind, VmaShape};

use crate::{Machine, design};

// One task with a shared mapping (0) of an ext4 file (file 0) and one (1) of a shmem file
// (file 1), two pages each.

const EXT4: usize = 0;
const SHMEM: usize = 1;

impl Machine {
    fn shared_files(design_name: &str) -> Self {
        Machine::shared_files_with(design_name, false)
    }

    /// As [`Machine::shared_files`], the ext4 file needing stable writes or not.
    fn shared_files_with(design_name: &str, stable_writes: bool) -> Self {
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
                    stable_writes,
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

/// A pinned dirty ext4 page (page 0 of the ext4 file, written through its shared mapping).
fn pinned_dirty(design: &str) -> (Machine, Pfn) {
    pinned_dirty_with(design, false)
}

fn pinned_dirty_with(design: &str, stable_writes: bool) -> (Machine, Pfn) {
    let mut m = Machine::shared_files_with(design, stable_writes);
    m.k().store(0, EXT4, 0, 0x11).unwrap();
    let range = UserRange {
        task: 0,
        vma: EXT4,
        pages: 0..1,
    };
    m.k().pin_user_pages(&range, false, false, 1).taken.unwrap();
    let pfn = frame(m.pte(EXT4, 0));
    (m, pfn)
}

#[test]
fn the_writeback_knob_decides_what_happens_to_a_pinned_dirty_folio() {
    // ignore: written and cleaned; skip (Kara's 2023 RFC): left dirty in the background,
    // written as any other folio by an integrity sync, bounced only on a stable-writes file;
    // bounce: always a bounce copy, the folio staying dirty.
    for (design, sync, stable, wrote, bounce) in [
        ("linux-6.5", false, false, Wrote::Submitted, false),
        ("kara-2023", false, false, Wrote::Skipped, false),
        ("kara-2023", true, false, Wrote::Submitted, false),
        ("kara-2023", true, true, Wrote::Submitted, true),
        ("glisse-2019", false, false, Wrote::Submitted, true),
    ] {
        let (mut m, pfn) = pinned_dirty_with(design, stable);
        assert_eq!(m.k().writeback_folio(EXT4, 0, sync), Ok(wrote), "{design}");
        assert_eq!(
            m.pte(EXT4, 0),
            Pte::Present { pfn, write: false },
            "{design}: page_mkclean"
        );
        let wb = m.cache.wb(EXT4, 0);
        let dirty = m.mem.folio_test(pfn, PageFlags::DIRTY);
        match (wrote, bounce) {
            (Wrote::Skipped, _) => assert!(dirty && wb.stage == WbStage::Idle, "{design}"),
            (_, true) => {
                assert!(dirty, "{design}: the folio stays dirty");
                assert!(wb.bounce && wb.src != pfn, "{design}: {wb:?}");
                assert!(!m.mem.folio_test(pfn, PageFlags::WRITEBACK));
            }
            (_, false) => {
                assert!(
                    !dirty && m.mem.folio_test(pfn, PageFlags::WRITEBACK),
                    "{design}"
                );
                assert_eq!(wb.src, pfn);
            }
        }
        if wb.stage != WbStage::Idle {
            m.k().writeback_transfer(EXT4, 0);
            m.k().folio_end_writeback(EXT4, 0);
            assert_eq!(m.cache.block(EXT4, 0).value, 0x11, "{design}: on disk");
            assert!(!m.mem.folio_test(pfn, PageFlags::WRITEBACK));
        }
    }
}

#[test]
fn reclaim_keeps_pinned_folios_only_under_keep_pinned() {
    for (design, kept) in [("linux-6.5", true), ("linux-6.5+reclaim=strip", false)] {
        let (mut m, pfn) = pinned_dirty(design);
        m.mem.folio_test_clear_dirty(pfn);
        let got = m.k().shrink_folio(EXT4, 0).unwrap();
        assert_eq!(m.pte(EXT4, 0), Pte::None, "{design}: unmapped either way");
        let private = m.mem.folio_test(pfn, PageFlags::PRIVATE);
        if kept {
            assert_eq!(got, Reclaimed::KeptPinned);
            assert!(private, "{design}: buffers kept");
        } else {
            assert_eq!(
                got,
                Reclaimed::Freed(false),
                "{design}: the pin keeps it cached"
            );
            assert!(!private, "{design}: buffers stripped whatever the count");
        }
    }
    // A dirty folio held by a plain reference is not paged out; one held by the page cache
    // alone is.
    let mut m = Machine::shared_files("linux-5.0");
    m.k().store(0, EXT4, 0, 0x11).unwrap();
    m.k().munmap(0, EXT4).unwrap();
    assert_eq!(m.k().shrink_folio(EXT4, 0), Ok(Reclaimed::PagedOut));
    let (mut m, _) = pinned_dirty("linux-5.0");
    assert_eq!(m.k().shrink_folio(EXT4, 0), Ok(Reclaimed::KeptDirty));
}

#[test]
fn migration_fails_with_ebusy_on_a_pin_and_moves_an_unpinned_page() {
    let (mut m, _) = pinned_dirty("linux-6.5");
    assert_eq!(m.k().migrate_mapped(0, EXT4, 0), Err(Errno::EBUSY));
    let mut m = Machine::shared_files("linux-6.5");
    m.k().store(0, EXT4, 0, 0x11).unwrap();
    let before = frame(m.pte(EXT4, 0));
    m.k().migrate_mapped(0, EXT4, 0).unwrap();
    let after = frame(m.pte(EXT4, 0));
    assert_ne!(before, after);
    assert_eq!(
        m.cache.lookup(EXT4, 0),
        Some(after),
        "the page cache follows"
    );
    assert_eq!(m.mem.content(after).value, 0x11);
}

#[test]
fn the_final_sync_writes_dirty_pages_and_lost_write_catches_what_it_cannot() {
    let mut m = Machine::shared_files("linux-6.5");
    m.k().store(0, EXT4, 0, 0x11).unwrap();
    m.k().store(0, EXT4, 1, 0x22).unwrap();
    // Page 1 loses its buffers and is dirtied anyway: ext4 will not write it.
    let p1 = frame(m.pte(EXT4, 1));
    m.mem.folio_test_clear_dirty(p1);
    assert!(m.cache.filemap_release_folio(&mut m.mem, p1, &mut m.ev));
    m.mem.folio_mark_dirty(p1, &mut m.ev);
    assert!(needs_final_sync(&m.cache, &m.mem));
    m.k().final_sync();
    assert_eq!(m.cache.block(EXT4, 0).value, 0x11);
    assert_eq!(m.cache.block(EXT4, 1).value, 0xa0, "skipped");
    let mut ev = Events::detailed();
    check_lost_writes(&m.cache, &m.mem, &["f".into(), "m".into()], &mut ev);
    let ids: Vec<Invariant> = ev.raised.iter().map(|r| r.0).collect();
    assert_eq!(ids, vec![Invariant::LostWrite]);
    assert!(m.has(Invariant::DirtyWithoutBuffers));
}

const HELD_CACHED_PAGE: &str = r#"
prologue = ["store app:buf[0] 0x22", "store app:map[0] 0x33", "pin app:map[0] as p"]
epilogue = ["unpin p"]
[[file]]
name = "f"
pages = 1
[[process]]
name = "app"
[[process.vma]]
name = "buf"
kind = "anon"
pages = 1
[[process.vma]]
name = "map"
kind = "shared"
file = "f"
pages = 1
[[actor]]
name = "w"
ops = ["dio-write app:buf[0] f[0]"]
"#;

/// The world after the prologue and the direct write's submission under `d`.
fn after_dio_write(program: &biopin::Program, d: &str) -> biopin::World {
    let model = biopin::KernelModel::new(program, design(d));
    let mut world = biopin::World::new(program);
    let mut ev = Events::quiet();
    for a in [0, 0, 0, 1] {
        model.step(&mut world, biopin::Action::Actor(a), &mut ev);
    }
    world
}

#[test]
fn a_direct_write_invalidates_a_clean_cached_page_whatever_holds_it() {
    // invalidate_complete_folio2 ignores the refcount: the pinned page, written back clean
    // first, leaves the page cache and the write goes to the disk through a bio.
    let program = biopin::load_str(HELD_CACHED_PAGE, None).unwrap();
    let world = after_dio_write(&program, "linux-6.5");
    let pinned = world.handles.pages(0)[0].pfn;
    assert_eq!(
        world.cache.lookup(0, 0),
        None,
        "dropped from the page cache"
    );
    assert!(world.mem.in_use(pinned), "the pin keeps the orphan");
    assert_ne!(
        world.io.io(0).stage,
        biopin::io::IoStage::Idle,
        "a bio was built"
    );
    let (_, cost) = biopin::least_schedule(&program, design("linux-6.5"));
    assert_eq!(
        cost.io_pages, 3,
        "the read at the first fault, the flush before the write, and the direct write"
    );
}

#[test]
fn a_direct_write_over_a_page_still_dirty_falls_back_to_buffered_io() {
    // Under writeback = bounce the flush writes a bounce copy of the pinned page and leaves it
    // dirty, so the invalidation fails (-EBUSY), iomap returns -ENOTBLK and ext4 writes
    // through the page cache.
    let program = biopin::load_str(HELD_CACHED_PAGE, None).unwrap();
    let world = after_dio_write(&program, "kara-2019");
    assert!(world.done(&program, 1), "the write is done in its one step");
    assert_eq!(
        world.io.io(0).stage,
        biopin::io::IoStage::Idle,
        "no bio was built"
    );
    let pfn = world.cache.lookup(0, 0).unwrap();
    assert_eq!(
        world.mem.content(pfn).value,
        0x22,
        "written through the page cache"
    );
}

#[test]
fn truncate_drops_pages_past_the_end_and_a_pin_keeps_its_page() {
    let (mut m, pfn) = pinned_dirty("linux-6.5");
    m.k().truncate(EXT4, 0);
    assert_eq!(m.pte(EXT4, 0), Pte::None, "the mapping is zapped");
    assert_eq!(m.cache.lookup(EXT4, 0), None, "the page left the cache");
    assert!(m.mem.in_use(pfn), "the pin keeps it");
    assert!(!m.mem.folio_test(pfn, PageFlags::DIRTY | PageFlags::PRIVATE));
    assert_eq!(
        m.mem.folio_ref_count(pfn),
        GUP_PIN_COUNTING_BIAS as i32,
        "only the pin holds it"
    );
    assert_eq!(
        m.k().load(0, EXT4, 0),
        Err(Errno::EFAULT),
        "SIGBUS past the end"
    );
    assert_eq!(m.cache.block(EXT4, 0).value, 0, "the block was freed");
}

#[test]
fn truncate_waits_for_the_writeback_of_what_it_drops() {
    let program = biopin::load_str(
        r#"
prologue = ["write f[0] 0x11"]
[[file]]
name = "f"
pages = 1
[[actor]]
name = "flusher"
ops = ["writeback f"]
[[actor]]
name = "truncator"
ops = ["truncate f 0"]
"#,
        None,
    )
    .unwrap();
    let model = biopin::KernelModel::new(&program, design("linux-6.5"));
    let mut world = biopin::World::new(&program);
    let mut ev = Events::quiet();
    model.step(&mut world, biopin::Action::Actor(0), &mut ev);
    model.step(&mut world, biopin::Action::Actor(1), &mut ev);
    let mut enabled = Vec::new();
    model.enabled(&world, &mut enabled);
    assert!(
        !enabled.contains(&biopin::Action::Actor(2)),
        "truncate sleeps while the page is under writeback: {enabled:?}"
    );
    for _ in 0..2 {
        enabled.clear();
        model.enabled(&world, &mut enabled);
        let dev = *enabled.last().unwrap();
        model.step(&mut world, dev, &mut ev);
    }
    enabled.clear();
    model.enabled(&world, &mut enabled);
    assert_eq!(enabled, vec![biopin::Action::Actor(2)]);
}
