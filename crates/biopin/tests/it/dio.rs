//! Bios and direct I/O through the Rust API: what each `bio_refs` design takes and drops, the
//! same-page merge, bvec iterators, Kara's assertion and clone rule, the deferred release of a
//! read whose page was cleaned, the prefix an extraction keeps when it fails, what a
//! direct-I/O op leaves in the world, and the cost each design pays.

use biopin::block::{Bio, BioFlags, Drop, HeldBio, IovIter, IterDir, IterKind, IterSeg, Taken};
use biopin::errno::Errno;
use biopin::gup::{FollFlags, UserRange};
use biopin::io::{BioStage, IoStage};
use biopin::mm::{Events, GUP_PIN_COUNTING_BIAS, Invariant, MemMap, PageFlags, Pfn};
use biopin::pagecache::{FileShape, Fs, PageCache};
use biopin::vm::{Prot, Pte, Vm, VmaKind, VmaShape};
use biopin::{KernelModel, World, least_schedule, load_str};

use crate::{Machine, design};

// One task with a 4-page anon VMA of small pages (0) and a 4-page huge VMA (1), and one
// ext4 file of 4 pages.

const SMALL: usize = 0;
const HUGE: usize = 1;

impl Machine {
    fn dio(design_name: &str) -> Self {
        let shape = |pages, order| VmaShape {
            kind: VmaKind::Anon,
            file: None,
            pages,
            prot: Prot::Rw,
            order,
        };
        let mut ev = Events::detailed();
        ev.io = true;
        Machine {
            mem: MemMap::new(32, 0),
            vm: Vm::new(&["app"], &[vec![shape(4, 0), shape(4, 2)]], &[None]),
            cache: PageCache::new(&[FileShape {
                pages: 4,
                fs: Fs::Ext4,
                init: 0xab,
                stable_writes: false,
            }]),
            design: design(design_name),
            ev,
        }
    }

    /// Faults in `pages` of a VMA by storing to them; their frames.
    fn touch(&mut self, vma: usize, pages: std::ops::Range<u32>) -> Vec<Pfn> {
        pages
            .map(|p| {
                self.k().store(0, vma, p, 0x11).unwrap();
                match self.k().pte(0, vma, p) {
                    Pte::Present { pfn, .. } => pfn,
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    }

    fn refcount(&self, pfn: Pfn) -> i32 {
        self.mem.folio_ref_count(pfn)
    }

    /// A bio of up to 256 bvecs filled from `iter`.
    fn fill(&mut self, iter: &mut IovIter) -> (HeldBio, Result<(), Errno>) {
        let mut b = HeldBio {
            bio: Bio::new(256, 0),
            held: Vec::new(),
        };
        let r = self.k().bio_iov_iter_get_pages(&mut b, iter, 512);
        (b, r)
    }

    /// Releases `b` as a read's completion does (or a write's, without dirtying).
    fn release(&mut self, b: &HeldBio, read: bool) {
        let mut k = self.k();
        if read {
            assert!(k.bio_check_pages_dirty(b), "every page is still dirty");
        } else {
            k.bio_release_pages(b, false);
            k.bio_put(b);
        }
    }
}

fn ubuf(dir: IterDir, vma: usize, start: u64, len: u64) -> IovIter {
    IovIter::ubuf(dir, 0, vma, start, len)
}

/// What a page holds for one extraction under each preset: a FOLL_GET reference (+1) under
/// `gup = get`, a pin (+1024 on a small folio) under `gup = pin`.
const PRESETS: [(&str, i32); 5] = [
    ("linux-5.0", 1),
    ("glisse-2019", GUP_PIN_COUNTING_BIAS as i32),
    ("kara-2019", GUP_PIN_COUNTING_BIAS as i32),
    ("linux-6.5", GUP_PIN_COUNTING_BIAS as i32),
    ("kara-2023", GUP_PIN_COUNTING_BIAS as i32),
];

#[test]
fn each_preset_takes_what_its_gup_says_and_its_release_gives_it_back() {
    for (preset, per_page) in PRESETS {
        for read in [true, false] {
            let mut m = Machine::dio(preset);
            let pages = m.touch(SMALL, 0..3);
            let dir = if read { IterDir::Dest } else { IterDir::Source };
            let (b, r) = m.fill(&mut ubuf(dir, SMALL, 0, 3 * 4096));
            r.unwrap();
            for &p in &pages {
                assert_eq!(m.refcount(p), 1 + per_page, "{preset}: {p} while in flight");
            }
            let pinned = b.bio.flagged(BioFlags::PAGE_PINNED);
            assert_eq!(
                pinned,
                preset.starts_with("linux-6.5") || preset == "kara-2023"
            );
            if read {
                m.k().bio_set_pages_dirty(&b);
            }
            m.release(&b, read);
            for &p in &pages {
                assert_eq!(m.refcount(p), 1, "{preset}: {p} after the release");
            }
            assert!(m.ev.raised.is_empty(), "{preset}: {:?}", m.ev.raised);
            let stat = m.mem.vmstat();
            assert_eq!(stat.nr_foll_pin_acquired, stat.nr_foll_pin_released);
        }
    }
}

#[test]
fn a_same_page_merge_drops_the_duplicate_reference_at_once() {
    // Two iovecs in one page, back to back: the second extraction takes the page again and
    // bio_iov_add_page merges it into the first bvec, dropping what it took (4569180495600
    // for FOLL_GET references; bio_release_page / unpin_user_folio for pins).
    for (preset, per_page) in PRESETS {
        let mut m = Machine::dio(preset);
        let page = m.touch(SMALL, 0..1)[0];
        let seg = |start| IterSeg::User {
            task: 0,
            vma: SMALL,
            start,
            len: 512,
        };
        let mut it = IovIter::new(IterKind::Iovec, IterDir::Dest, vec![seg(0), seg(512)]);
        let (b, r) = m.fill(&mut it);
        r.unwrap();
        assert_eq!(b.bio.vcnt(), 1, "{preset}");
        assert_eq!((b.bio.vecs[0].len, b.bio.size), (1024, 1024), "{preset}");
        assert_eq!(b.held.len(), 1, "{preset}: the page is held once");
        assert_eq!(
            m.refcount(page),
            1 + per_page,
            "{preset}: one reference or pin left"
        );
        m.k().bio_set_pages_dirty(&b);
        m.release(&b, true);
        assert_eq!(m.refcount(page), 1, "{preset}");
        assert!(m.ev.raised.is_empty(), "{preset}: {:?}", m.ev.raised);
    }
}

#[test]
fn a_bvec_iterator_lends_its_pages_except_under_all_pins() {
    for (preset, flag, per_page) in [
        ("linux-5.0", BioFlags::NO_PAGE_REF, 0),
        ("glisse-2019", BioFlags::NO_PAGE_REF, 0),
        ("kara-2019", BioFlags::empty(), GUP_PIN_COUNTING_BIAS as i32),
        ("linux-6.5", BioFlags::CLONED, 0),
    ] {
        let mut m = Machine::dio(preset);
        let page = m.touch(SMALL, 0..1)[0];
        let mut it = IovIter::new(
            IterKind::Bvec,
            IterDir::Source,
            vec![IterSeg::Kernel {
                page,
                offset: 0,
                len: 4096,
            }],
        );
        let (b, r) = m.fill(&mut it);
        r.unwrap();
        assert_eq!(b.bio.flags, flag, "{preset}");
        assert_eq!(m.refcount(page), 1 + per_page, "{preset}");
        let want = if per_page > 0 {
            Taken::Pin
        } else {
            Taken::Nothing
        };
        assert_eq!(b.held, vec![(page, want)], "{preset}");
        m.release(&b, false);
        assert_eq!(m.refcount(page), 1, "{preset}");
        assert!(m.ev.raised.is_empty(), "{preset}: {:?}", m.ev.raised);
    }
}

#[test]
fn all_pins_reports_a_reference_when_it_is_added_and_skips_clones_at_bio_put() {
    let mut m = Machine::dio("kara-2019+gup=get");
    m.touch(SMALL, 0..1);
    let (_, r) = m.fill(&mut ubuf(IterDir::Dest, SMALL, 0, 4096));
    r.unwrap();
    assert!(
        m.has(Invariant::BadRelease),
        "the assertion in bio_add_page fires before any release"
    );

    let mut m = Machine::dio("kara-2019");
    let page = m.touch(SMALL, 0..1)[0];
    let (b, _) = m.fill(&mut ubuf(IterDir::Source, SMALL, 0, 4096));
    let mut clone = b.clone();
    clone.bio.flags |= BioFlags::CLONED;
    m.k().bio_put(&clone);
    assert_eq!(
        m.refcount(page),
        1 + GUP_PIN_COUNTING_BIAS as i32,
        "a clone's bio_put leaves the pins alone"
    );
    m.k().bio_put(&b);
    assert_eq!(m.refcount(page), 1, "the bio's own bio_put unpins");
    assert!(m.ev.raised.is_empty(), "{:?}", m.ev.raised);
}

#[test]
fn the_wrong_primitive_is_a_bad_release_that_still_does_what_the_kernel_would() {
    let mut m = Machine::dio("linux-6.5");
    let page = m.touch(SMALL, 0..1)[0];
    m.k()
        .bio_drop(&[page], Taken::Get, Drop::Put, false, "test");
    assert!(!m.has(Invariant::BadRelease), "put on a reference is right");
    assert_eq!(m.refcount(page), 0, "and it took the count to zero");
    let mut m = Machine::dio("linux-6.5");
    let page = m.touch(SMALL, 0..1)[0];
    m.k()
        .bio_drop(&[page], Taken::Pin, Drop::Put, false, "test");
    assert!(m.has(Invariant::BadRelease), "put on a pin");
}

#[test]
fn a_read_whose_page_was_cleaned_is_released_later_by_bio_dirty_work() {
    let mut m = Machine::dio("linux-6.5");
    let pages = m.touch(SMALL, 0..2);
    let (b, r) = m.fill(&mut ubuf(IterDir::Dest, SMALL, 0, 8192));
    r.unwrap();
    m.k().bio_set_pages_dirty(&b);
    // Writeback cleaned page 1 during the read.
    m.mem.set_page_flag(pages[1], PageFlags::DIRTY, false);
    assert!(!m.k().bio_check_pages_dirty(&b), "deferred");
    assert_eq!(m.refcount(pages[1]), 1 + GUP_PIN_COUNTING_BIAS as i32);
    m.k().bio_dirty_fn(&b);
    assert_eq!(m.refcount(pages[1]), 1);
    assert!(
        m.mem.folio_flags(pages[1]).contains(PageFlags::DIRTY),
        "re-dirtied"
    );
}

#[test]
fn an_extraction_that_fails_partway_keeps_what_it_took() {
    let mut m = Machine::dio("linux-6.5");
    let pages = m.touch(SMALL, 0..4);
    m.k().munmap_range(0, SMALL, 2..3).unwrap();
    let range = UserRange {
        task: 0,
        vma: SMALL,
        pages: 0..4,
    };
    let (got, err) = m.k().gup_prefix(&range, FollFlags::PIN | FollFlags::WRITE);
    assert_eq!(got, pages[..2].to_vec());
    assert_eq!(err, Some(Errno::EFAULT));
    // The bio keeps the two pages; the next extraction's EFAULT is returned only if nothing
    // was added.
    m.k().unpin_user_page_calls(&got, 1, false);
    let (b, r) = m.fill(&mut ubuf(IterDir::Dest, SMALL, 0, 4 * 4096));
    assert_eq!(r, Ok(()));
    assert_eq!(b.bio.size, 8192);
    let mut empty = ubuf(IterDir::Dest, SMALL, 2 * 4096, 4096);
    assert_eq!(m.fill(&mut empty).1, Err(Errno::EFAULT));
}

#[test]
fn each_design_pays_for_a_read_what_its_kernel_functions_do() {
    // n small pages: one atomic a page to take, one to drop, whatever the design. A large
    // folio of n pages in one bvec: FOLL_GET takes the run in one atomic and 5.x puts each
    // page; the 2019 designs pin the run (refcount and _pincount) and unpin page by page;
    // pinned-flag unpins the folio's segment in one call.
    for (preset, small, large) in [
        ("linux-5.0", 8, 5),
        ("glisse-2019", 8, 10),
        ("kara-2019", 8, 10),
        ("linux-6.5", 8, 4),
    ] {
        for (vma, want) in [(SMALL, small), (HUGE, large)] {
            let mut m = Machine::dio(preset);
            m.touch(vma, 0..4);
            let before = m.ev.ref_ops;
            let (b, r) = m.fill(&mut ubuf(IterDir::Dest, vma, 0, 4 * 4096));
            r.unwrap();
            m.k().bio_set_pages_dirty(&b);
            m.release(&b, true);
            assert_eq!(m.ev.ref_ops - before, want, "{preset}, vma {vma}");
        }
    }
}

const A4: &str = r#"
prologue = ["store app:buf[0] 0x11"]
[machine]
frames = 8
[device]
max_segments = 1
max_segment_size = 4096
[[file]]
name = "f"
pages = 4
init = 0xab
[[process]]
name = "app"
[[process.vma]]
name = "buf"
kind = "anon"
pages = 4
huge = true
[[actor]]
name = "t1"
ops = ["dio-read app:buf+512 f[0] len 8192"]
"#;

#[test]
fn a_direct_io_op_sleeps_until_its_last_bio_completes_and_its_pages_outlive_it() {
    let program = load_str(A4, None).unwrap();
    let model = KernelModel::new(&program, design("linux-6.5"));
    let mut world = World::new(&program);
    let mut ev = Events::quiet();
    let mut enabled = Vec::new();
    let mut step = |world: &mut World, i: usize| {
        enabled.clear();
        model.enabled(world, &mut enabled);
        let a = enabled[i];
        model.step(world, a, &mut ev);
        enabled.clone()
    };
    step(&mut world, 0); // prologue store
    step(&mut world, 0); // submit
    let io = world.io.io(0);
    assert_eq!(io.stage, IoStage::InFlight);
    // One bio of one bvec over three pages (the folio's pages are contiguous). Segments are
    // cut by size, not at pages: two of 4096 bytes, one a request at max_segments = 1.
    assert_eq!((io.bios, io.vecs, io.pages, io.pieces), (1, 1, 3, 2));
    let pieces: Vec<_> = world
        .io
        .pieces(0, 0)
        .map(|(_, p)| (p.len, p.clone))
        .collect();
    assert_eq!(pieces, vec![(4096, true), (4096, false)]);
    // The actor sleeps: only the two transfers are enabled.
    let now = step(&mut world, 1);
    assert!(
        now.iter().all(|a| matches!(a, biopin::Action::Device(_))),
        "{now:?}"
    );
    assert_eq!(now.len(), 2);
    step(&mut world, 0);
    // The completion is enabled only once every request has transferred; it wakes the
    // caller, and the release is still to come.
    step(&mut world, 0);
    assert_eq!(world.io.io(0).stage, IoStage::Woken);
    assert!(world.done(&program, 1));
    assert_eq!(world.io.bio(0, 0).stage, BioStage::Ended);
    let head = match world.vm.pte(0, 0, 0) {
        Pte::Present { pfn, .. } => pfn,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        world.mem.folio_pincount(head),
        3,
        "pinned after the op returned"
    );
    step(&mut world, 0);
    assert_eq!(world.io.bio(0, 0).stage, BioStage::Released);
    assert_eq!(world.mem.folio_pincount(head), 0);
}

#[test]
fn the_cost_of_the_least_schedule_counts_io_only() {
    let program = load_str(A4, None).unwrap();
    // 3 pages of a large folio: pin the run (2), unpin the segment (2).
    let (schedule, cost) = least_schedule(&program, design("linux-6.5"));
    assert_eq!((cost.ref_ops, cost.io_pages), (4, 3));
    assert_eq!(
        schedule.len(),
        6,
        "store, submit, 2 transfers, completion, release"
    );
    // A get and a put the scenario makes itself are not I/O.
    let text = A4.replace(
        r#"ops = ["dio-read"#,
        r#"ops = ["get app:buf[0] as h", "put h", "dio-read"#,
    );
    let (_, cost) = least_schedule(&load_str(&text, None).unwrap(), design("linux-6.5"));
    assert_eq!((cost.ref_ops, cost.io_pages), (4, 3));
}

#[test]
fn kernel_pages_of_a_kvec_hold_what_each_design_releases() {
    // iov_iter_get_pages2 (gup = get) refuses a KVEC; extraction lists its pages, and the bio
    // holds on them what its release will drop: a reference under ref and vec-flag (put_page
    // for a bvec not from GUP), a pin under all-pins (get_gup_pin), nothing under
    // pinned-flag (no BIO_PAGE_PINNED).
    for (preset, held) in [
        ("linux-5.0", None),
        ("linux-6.5+bio_refs=ref", Some((Taken::Get, 1))),
        ("glisse-2019", Some((Taken::Get, 1))),
        (
            "kara-2019",
            Some((Taken::Pin, GUP_PIN_COUNTING_BIAS as i32)),
        ),
        ("linux-6.5", Some((Taken::Nothing, 0))),
    ] {
        let mut m = Machine::dio(preset);
        let page = m.touch(SMALL, 0..1)[0];
        let mut it = IovIter::new(
            IterKind::Kvec,
            IterDir::Dest,
            vec![IterSeg::Kernel {
                page,
                offset: 0,
                len: 4096,
            }],
        );
        let (b, r) = m.fill(&mut it);
        let Some((taken, extra)) = held else {
            assert_eq!(r, Err(Errno::EFAULT), "{preset}");
            continue;
        };
        r.unwrap();
        assert_eq!(b.held, vec![(page, taken)], "{preset}");
        assert!(b.bio.vecs.iter().all(|v| !v.gup), "{preset}: not from GUP");
        assert_eq!(m.refcount(page), 1 + extra, "{preset}");
        m.k().bio_set_pages_dirty(&b);
        m.release(&b, true);
        assert_eq!(m.refcount(page), 1, "{preset}");
        assert!(m.ev.raised.is_empty(), "{preset}: {:?}", m.ev.raised);
    }
}
