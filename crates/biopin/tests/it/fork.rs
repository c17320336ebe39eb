//! Fork and copy-on-write through the Rust API: each `cow` value's reuse rule and fork
//! decision, checked directly against docs/kernel.md §7; the leak and pin-unreliable
//! invariants; and the corrections to the foundation, each with the case that was wrong.

use biopin::errno::Errno;
use biopin::gup::UserRange;
use biopin::mm::{Events, GUP_PIN_COUNTING_BIAS, Invariant, MemMap, PageFlags, Pfn, Zone};
use biopin::pagecache::{FileShape, Fs, PageCache};
use biopin::vm::{Prot, Pte, Vm, VmaKind, VmaShape};
use biopin::{ScenarioBuilder, Verdict};

use crate::{Machine, design, run};

// A parent (task 0) and the child its fork creates (task 1), each with a one-page anon VMA
// (0), a 4-page huge VMA (1) and a one-page private mapping of a one-page shmem file (2).

const PARENT: usize = 0;
const CHILD: usize = 1;

impl Machine {
    fn forking(frames: u32, movable: u32, design_name: &str) -> Self {
        let shape = |kind, pages, order, file| VmaShape {
            kind,
            file,
            pages,
            prot: Prot::Rw,
            order,
        };
        let vmas = vec![
            shape(VmaKind::Anon, 1, 0, None),
            shape(VmaKind::Anon, 4, 2, None),
            shape(VmaKind::Private, 1, 0, Some((0, 0))),
        ];
        Machine {
            mem: MemMap::new(frames, movable),
            vm: Vm::new(
                &["parent", "child"],
                &[vmas.clone(), vmas],
                &[None, Some(PARENT)],
            ),
            cache: PageCache::new(&[FileShape {
                pages: 1,
                fs: Fs::Shmem,
                init: 0,
                stable_writes: false,
            }]),
            design: design(design_name),
            ev: Events::detailed(),
        }
    }

    fn fork(&mut self) {
        let mut k = self.k();
        k.fork_begin(PARENT, CHILD).unwrap();
        k.fork_share(PARENT, CHILD).unwrap();
    }

    fn pfn(&mut self, task: usize, vma: usize, page: u32) -> Pfn {
        match self.k().pte(task, vma, page) {
            Pte::Present { pfn, .. } => pfn,
            other => panic!("page {page} is {other:?}"),
        }
    }

    fn verdict(&self) -> Verdict {
        self.ev.raised.iter().map(|r| r.0).collect()
    }
}

fn range(task: usize, vma: usize, pages: std::ops::Range<u32>) -> UserRange {
    UserRange { task, vma, pages }
}

/// Whether a write to page 0 of the parent's small VMA reused `before` in place.
fn write_reuses(m: &mut Machine, before: Pfn) -> bool {
    m.k().store(PARENT, 0, 0, 0x22).unwrap();
    m.pfn(PARENT, 0, 0) == before
}

const ERAS: [&str; 4] = [
    "linux-5.0",
    "linux-6.5+cow=refcount",
    "linux-6.5+cow=pae-anon-only",
    "linux-6.5",
];

#[test]
fn a_page_still_shared_with_a_child_is_copied_under_every_era() {
    for era in ERAS {
        let mut m = Machine::forking(16, 0, era);
        m.k().store(PARENT, 0, 0, 0x11).unwrap();
        let page = m.pfn(PARENT, 0, 0);
        m.fork();
        assert_eq!(m.pfn(CHILD, 0, 0), page, "{era}: shared at fork");
        assert!(!write_reuses(&mut m, page), "{era}");
        assert_eq!(m.k().load(CHILD, 0, 0).unwrap().value, 0x11, "{era}");
    }
}

#[test]
fn after_the_child_exits_each_era_decides_by_its_own_count() {
    // Mapped once again, not PageAnonExclusive (fork cleared it), refcount 1: every era reuses.
    // With a FOLL_GET reference on it too, only the mapcount rule still reuses.
    for (era, reuse_alone, reuse_with_ref) in [
        ("linux-5.0", true, true),
        ("linux-6.5+cow=refcount", true, false),
        ("linux-6.5+cow=pae-anon-only", true, false),
        ("linux-6.5", true, false),
    ] {
        for with_ref in [false, true] {
            let mut m = Machine::forking(16, 0, era);
            m.k().store(PARENT, 0, 0, 0x11).unwrap();
            m.fork();
            m.k().exit(CHILD).unwrap();
            let page = m.pfn(PARENT, 0, 0);
            if with_ref {
                m.k()
                    .get_user_pages(&range(PARENT, 0, 0..1), false, false, 1)
                    .taken
                    .unwrap();
            }
            let want = if with_ref {
                reuse_with_ref
            } else {
                reuse_alone
            };
            assert_eq!(write_reuses(&mut m, page), want, "{era}, ref {with_ref}");
        }
    }
}

#[test]
fn an_exclusive_page_with_extra_references_is_reused_from_5_19() {
    // Never shared: PageAnonExclusive. mprotect(R) then a write fault with a GUP reference held.
    for (era, reuse) in [
        ("linux-5.0", true),
        ("linux-6.5+cow=refcount", false),
        ("linux-6.5+cow=pae-anon-only", true),
        ("linux-6.5", true),
    ] {
        let mut m = Machine::forking(16, 0, era);
        m.k().store(PARENT, 0, 0, 0x11).unwrap();
        let page = m.pfn(PARENT, 0, 0);
        m.k()
            .get_user_pages(&range(PARENT, 0, 0..1), false, false, 1)
            .taken
            .unwrap();
        m.k().mprotect(PARENT, 0, Prot::R).unwrap();
        m.k().mprotect(PARENT, 0, Prot::Rw).unwrap();
        assert_eq!(write_reuses(&mut m, page), reuse, "{era}");
    }
}

#[test]
fn a_page_cache_page_in_a_private_mapping_is_always_copied() {
    for era in ERAS {
        let mut m = Machine::forking(16, 0, era);
        assert_eq!(m.k().load(PARENT, 2, 0).unwrap().value, 0);
        let cached = m.pfn(PARENT, 2, 0);
        assert!(!m.mem.folio_flags(cached).contains(PageFlags::ANON));
        m.k().store(PARENT, 2, 0, 0x33).unwrap();
        let copy = m.pfn(PARENT, 2, 0);
        assert_ne!(copy, cached, "{era}");
        assert_eq!(
            m.mem.content(cached).value,
            0,
            "{era}: the page cache is untouched"
        );
        assert_eq!(
            m.mem.folio_ref_count(cached),
            1,
            "{era}: only the cache's reference"
        );
    }
}

#[test]
fn fork_copies_what_each_era_says_may_be_pinned() {
    // (era, copies a pinned page, copies a page with 1024 plain references)
    for (era, pinned, false_positive) in [
        ("linux-5.0", false, false),
        ("linux-6.5+cow=refcount", true, false),
        ("linux-6.5", true, false),
    ] {
        let mut m = Machine::forking(16, 0, era);
        m.k().store(PARENT, 0, 0, 0x11).unwrap();
        let page = m.pfn(PARENT, 0, 0);
        m.k()
            .pin_user_pages(&range(PARENT, 0, 0..1), true, false, 1)
            .taken
            .unwrap();
        assert!(m.vm.task(PARENT).has_pinned);
        m.fork();
        assert_eq!(m.pfn(CHILD, 0, 0) != page, pinned, "{era}: pinned page");
        assert!(!m.vm.task(CHILD).has_pinned, "{era}: not inherited");
        // Plain references never set MMF_HAS_PINNED, so a folio that only looks pinned is
        // shared by every era.
        let mut m = Machine::forking(16, 0, era);
        m.k().store(PARENT, 0, 0, 0x11).unwrap();
        let page = m.pfn(PARENT, 0, 0);
        m.k()
            .get_user_pages(&range(PARENT, 0, 0..1), false, false, 1023)
            .taken
            .unwrap();
        assert!(m.mem.folio_maybe_dma_pinned(page));
        m.fork();
        assert_eq!(
            m.pfn(CHILD, 0, 0) != page,
            false_positive,
            "{era}: 1024 refs"
        );
    }
}

#[test]
fn from_5_19_fork_shares_a_maybe_pinned_page_that_is_not_exclusive() {
    // Maybe pinned (1024 references), in an mm that has pinned, but not exclusive:
    // page_try_dup_anon_rmap shares it whatever its count (5.19+); 5.9–5.18 copy it.
    for (era, copies) in [("linux-6.5+cow=refcount", true), ("linux-6.5", false)] {
        let mut m = Machine::forking(16, 0, era);
        m.k().store(PARENT, 0, 0, 0x11).unwrap();
        let page = m.pfn(PARENT, 0, 0);
        m.mem.set_page_flag(page, PageFlags::ANON_EXCLUSIVE, false);
        m.k()
            .get_user_pages(&range(PARENT, 0, 0..1), false, false, 1024)
            .taken
            .unwrap();
        let mut t = m.vm.task(PARENT);
        t.has_pinned = true;
        m.vm.set_task(PARENT, t);
        m.fork();
        assert_eq!(m.pfn(CHILD, 0, 0) != page, copies, "{era}");
    }
}

#[test]
fn a_pmd_mapped_thp_is_copied_whole_only_by_the_mapcount_era() {
    for (era, whole) in [
        ("linux-5.0", true),
        ("linux-6.5+cow=refcount", false),
        ("linux-6.5", false),
    ] {
        let mut m = Machine::forking(32, 0, era);
        for i in 0..4 {
            m.k().store(PARENT, 1, i, 0x11).unwrap();
        }
        let head = m.pfn(PARENT, 1, 0);
        assert_eq!(m.mem.folio_nr_pages(head), 4);
        m.fork();
        m.k().store(PARENT, 1, 0, 0x22).unwrap();
        let moved: Vec<bool> = (0..4)
            .map(|i| m.pfn(PARENT, 1, i) != Pfn(head.0 + i))
            .collect();
        let want = if whole {
            vec![true; 4]
        } else {
            vec![true, false, false, false]
        };
        assert_eq!(moved, want, "{era}");
        for i in 0..4 {
            assert_eq!(
                m.k().load(CHILD, 1, i).unwrap().value,
                0x11,
                "{era}: the child keeps the original"
            );
        }
    }
}

#[test]
fn a_parents_write_after_fork_read_by_the_child_is_a_leak() {
    // Under `mapcount` the CVE-2020-29374 interleaving: the child's vmsplice-style reference,
    // its munmap, the parent's write reusing the page, the child's read.
    let mut m = Machine::forking(16, 0, "linux-5.0");
    m.k().store(PARENT, 0, 0, 0x11).unwrap();
    m.fork();
    let refs = m
        .k()
        .get_user_pages(&range(CHILD, 0, 0..1), false, false, 1)
        .taken
        .unwrap();
    m.k().munmap(CHILD, 0).unwrap();
    m.k().store(PARENT, 0, 0, 0x22).unwrap();
    let c = m.mem.content(refs.pages[0]);
    assert_eq!(c.value, 0x22);
    m.k().observe(CHILD, c, || "a pipe read".into());
    assert_eq!(
        m.verdict().into_iter().collect::<Vec<_>>(),
        vec![Invariant::LeakParentToChild]
    );
    // What the parent wrote before the fork is no leak; nor is the child's own write.
    let mut m = Machine::forking(16, 0, "linux-5.0");
    m.k().store(PARENT, 0, 0, 0x11).unwrap();
    m.fork();
    let before = m.k().load(CHILD, 0, 0).unwrap();
    assert_eq!(before.value, 0x11);
    m.k().store(CHILD, 0, 0, 0x33).unwrap();
    m.k().load(CHILD, 0, 0).unwrap();
    assert!(m.verdict().is_empty(), "{:?}", m.verdict());
    // The parent seeing its child's write is the other direction.
    let written = m.pfn(CHILD, 0, 0);
    let child_write = m.mem.content(written);
    m.k().observe(PARENT, child_write, || "a read".into());
    assert!(m.verdict().contains(&Invariant::LeakChildToParent));
}

#[test]
fn a_longterm_pin_of_a_large_folio_splits_it_when_only_base_pages_fit() {
    // 8 normal frames with frames 1 and 5 in use: no free aligned block of 4, but 6 free pages.
    let mut m = Machine::forking(12, 4, "linux-6.5");
    for i in 0..4 {
        m.k().store(PARENT, 1, i, 0x44).unwrap();
    }
    let head = m.pfn(PARENT, 1, 0);
    assert_eq!(m.mem.zone(head), Zone::Movable);
    let normal: Vec<Pfn> = (0..6)
        .map(|_| m.mem.alloc_folio(0, biopin::mm::Gfp::Normal).unwrap())
        .collect();
    assert_eq!(normal, (0..6).map(Pfn).collect::<Vec<_>>());
    let mut ev = Events::quiet();
    for p in [0, 2, 3, 4] {
        m.mem.folio_put_refs(Pfn(p), 1, 1, "test", &mut ev);
    }
    let got = m.k().pin_user_pages(&range(PARENT, 1, 0..4), true, true, 1);
    assert_eq!(got.err, None, "the base pages fit: {:?}", m.ev.notes);
    let pins = got.taken.unwrap();
    for (n, pfn) in pins.pages.iter().enumerate() {
        assert_eq!(m.mem.zone(*pfn), Zone::Normal, "page {n}");
        assert_eq!(m.mem.folio_nr_pages(*pfn), 1, "page {n} was split off");
        assert_eq!(m.mem.content(*pfn).value, 0x44);
        assert_eq!(
            m.mem.folio_ref_count(*pfn),
            1 + GUP_PIN_COUNTING_BIAS as i32
        );
    }
    assert!(!m.mem.in_use(head), "the movable frames are free");
}

#[test]
fn mprotect_to_the_same_protection_changes_nothing() {
    // An exclusive page left read-only by an unshare, in a read-write VMA: mprotect(RW) again
    // must not make it writable (mprotect_fixup returns early), even under `anon-exclusive`.
    let mut m = Machine::forking(16, 0, "linux-6.5");
    m.k().store(PARENT, 0, 0, 0x11).unwrap();
    m.fork();
    m.k().exit(CHILD).unwrap();
    m.k()
        .pin_user_pages(&range(PARENT, 0, 0..1), false, true, 1)
        .taken
        .unwrap();
    let page = m.pfn(PARENT, 0, 0);
    assert!(m.mem.frame(page).flags.contains(PageFlags::ANON_EXCLUSIVE));
    assert_eq!(
        m.k().pte(PARENT, 0, 0),
        Pte::Present {
            pfn: page,
            write: false
        }
    );
    m.k().mprotect(PARENT, 0, Prot::Rw).unwrap();
    assert_eq!(
        m.k().pte(PARENT, 0, 0),
        Pte::Present {
            pfn: page,
            write: false
        }
    );
    // A real change of protection does upgrade it under `anon-exclusive` (6.2).
    m.k().mprotect(PARENT, 0, Prot::R).unwrap();
    m.k().mprotect(PARENT, 0, Prot::Rw).unwrap();
    assert_eq!(
        m.k().pte(PARENT, 0, 0),
        Pte::Present {
            pfn: page,
            write: true
        }
    );
}

#[test]
fn longterm_with_foll_get_depends_on_the_era() {
    for (era, err) in [("linux-5.0", None), ("linux-6.5", Some(Errno::EINVAL))] {
        let mut m = Machine::forking(16, 0, era);
        let got = m.k().get_user_pages(&range(PARENT, 0, 0..1), true, true, 1);
        assert_eq!(got.err, err, "{era}");
        assert_eq!(got.taken.is_some(), err.is_none(), "{era}");
    }
    let program = ScenarioBuilder::new("get-longterm")
        .process("app", |p| p.anon("buf", 1))
        .actor("rdma", ["get app:buf[0] write longterm as mr", "put mr"])
        .build()
        .unwrap();
    assert!(run(&program, design("linux-5.0")).verdict.is_empty());
    let program = ScenarioBuilder::new("get-longterm")
        .process("app", |p| p.anon("buf", 1))
        .actor(
            "rdma",
            [
                "get app:buf[0] write longterm as mr expect EINVAL",
                "put mr",
            ],
        )
        .build()
        .unwrap();
    assert!(run(&program, design("linux-6.5")).verdict.is_empty());
}

#[test]
fn a_huge_vma_needs_four_pages() {
    let e = ScenarioBuilder::new("order-1")
        .process("app", |p| p.huge_anon("buf", 2))
        .actor("a", ["store app:buf 1"])
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("from 4 to 512"), "{e}");
}

#[test]
fn migration_frees_the_old_frames_so_a_broken_reference_is_a_use_after_free() {
    // h keeps a reference the counts no longer show (g was put twice), so a long-term pin can
    // migrate the page; using h afterwards reaches the freed frame.
    let program = ScenarioBuilder::new("migrate-under-a-broken-count")
        .frames(8)
        .movable(4)
        .process("app", |p| p.anon("buf", 1))
        .prologue([
            "store app:buf[0] 0x11",
            "get app:buf[0] as h",
            "get app:buf[0] as g",
            "put g",
            "put g",
            "pin app:buf[0] longterm as p",
            "dma-read h",
            "unpin p",
            "put h",
        ])
        .build()
        .unwrap();
    let verdict = run(&program, design("linux-6.5")).verdict;
    assert!(verdict.contains(&Invariant::UseAfterFree), "{verdict:?}");
    assert!(verdict.contains(&Invariant::BadRelease), "{verdict:?}");
}

#[test]
fn a_second_release_drops_the_counts_again() {
    let mut with_second = ScenarioBuilder::new("double")
        .process("app", |p| p.anon("buf", 1))
        .prologue([
            "store app:buf[0] 0x11",
            "pin app:buf[0] write as a",
            "pin app:buf[0] write as b",
            "unpin a",
            "unpin a",
            "assert not-pinned app:buf",
        ]);
    with_second = with_second.actor("nic", ["unpin b"]);
    let program = with_second.build().unwrap();
    let verdict = run(&program, design("linux-6.5")).verdict;
    // b's pin was taken away by a's second unpin: nothing reads as pinned any more, and b's own
    // unpin then takes the count below zero.
    assert!(!verdict.contains(&Invariant::ExpectFailed), "{verdict:?}");
    assert!(verdict.contains(&Invariant::BadRelease), "{verdict:?}");
}

#[test]
fn pins_of_pages_that_fork_shares_are_checked_after_every_step() {
    // Under `mapcount` fork shares a pinned page; the parent's write copies it away.
    let program = ScenarioBuilder::new("pinned-then-forked")
        .process("app", |p| p.anon("buf", 1))
        .prologue([
            "store app:buf[0] 0x11",
            "pin app:buf[0] write longterm as p",
            "fork app as child",
            "store app:buf[0] 0x22",
            "unpin p",
        ])
        .build()
        .unwrap();
    let cell = run(&program, design("linux-5.0"));
    assert_eq!(
        cell.verdict.iter().copied().collect::<Vec<_>>(),
        vec![Invariant::PinUnreliable]
    );
    assert_eq!(
        cell.found[0].schedule.len(),
        5,
        "raised by the write (step 5)"
    );
    assert!(run(&program, design("linux-6.5")).verdict.is_empty());
}
