//! GUP through the Rust API: the counts each call moves, checked against docs/kernel.md §1–§2.

use biopin::errno::Errno;
use biopin::gup::{FollFlags, UserRange, pin_flags};
use biopin::mm::{Events, GUP_PIN_COUNTING_BIAS, Invariant, MemMap, PageFlags, Pfn, Zone};
use biopin::pagecache::PageCache;
use biopin::vm::{Kernel, Prot, Pte, Vm, VmaKind, VmaShape};

use crate::{Machine, design};

// A machine of `frames` frames (the last `movable` movable) and one task with a 4-page
// small-folio VMA (0) and a 4-page huge VMA (1).

impl Machine {
    fn gup(frames: u32, movable: u32, design_name: &str) -> Self {
        let vma = |order| VmaShape {
            kind: VmaKind::Anon,
            file: None,
            pages: 4,
            prot: Prot::Rw,
            order,
        };
        Machine {
            mem: MemMap::new(frames, movable),
            vm: Vm::new(&["app"], &[vec![vma(0), vma(2)]], &[None]),
            cache: PageCache::new(&[]),
            design: design(design_name),
            ev: Events::detailed(),
        }
    }

    fn raised_ids(&self) -> Vec<Invariant> {
        self.ev.raised.iter().map(|r| r.0).collect()
    }
}

fn range(vma: usize, pages: std::ops::Range<u32>) -> UserRange {
    UserRange {
        task: 0,
        vma,
        pages,
    }
}

fn pfn_of(m: &mut Machine, vma: usize, page: u32) -> Pfn {
    match m.k().pte(0, vma, page) {
        Pte::Present { pfn, .. } => pfn,
        other => panic!("page {page} is {other:?}"),
    }
}

#[test]
fn a_pin_adds_the_bias_to_a_small_folio_and_one_plus_pincount_to_a_large_one() {
    let mut m = Machine::gup(16, 0, "linux-6.5");
    let mut k = m.k();
    let small = k
        .pin_user_pages(&range(0, 0..2), true, false, 3)
        .taken
        .unwrap();
    let large = k
        .pin_user_pages(&range(1, 1..4), true, false, 2)
        .taken
        .unwrap();
    let p = small.pages[0];
    assert_eq!(
        k.mem.folio_ref_count(p),
        1 + 3 * GUP_PIN_COUNTING_BIAS as i32
    );
    assert_eq!(k.mem.folio_pincount(p), 0, "small folios have no _pincount");
    let head = k.mem.folio(large.pages[0]);
    // The mapping's 4 references, then one per pinned subpage per call.
    assert_eq!(k.mem.folio_ref_count(head), 4 + 3 * 2);
    assert_eq!(k.mem.folio_pincount(head), 3 * 2);
    assert_eq!(k.mem.vmstat().nr_foll_pin_acquired, 2 * 3 + 3 * 2);
    k.unpin_user_pages(small, true);
    k.unpin_user_pages(large, false);
    assert!(
        k.mem.folio_flags(p).contains(PageFlags::DIRTY),
        "unpin_user_pages_dirty_lock dirties"
    );
    assert!(!k.mem.folio_flags(head).contains(PageFlags::DIRTY));
    assert_eq!(k.mem.folio_ref_count(p), 1);
    assert_eq!(
        (k.mem.folio_ref_count(head), k.mem.folio_pincount(head)),
        (4, 0)
    );
    let stat = k.mem.vmstat();
    assert_eq!(stat.nr_foll_pin_acquired, stat.nr_foll_pin_released);
    assert!(m.raised_ids().is_empty());
}

#[test]
fn get_user_pages_read_of_an_untouched_page_returns_the_zero_page() {
    let mut m = Machine::gup(8, 0, "linux-6.5");
    let mut k = m.k();
    let refs = k
        .get_user_pages(&range(0, 0..1), false, false, 1)
        .taken
        .unwrap();
    let zero = k.mem.zero_pfn();
    assert_eq!(refs.pages, vec![zero]);
    // FOLL_GET takes a reference on the zero page too; a mapping of it takes none.
    assert_eq!(k.mem.folio_ref_count(zero), 2);
    // A write GUP breaks COW from the zero page into a new page.
    let w = k
        .get_user_pages(&range(0, 0..1), true, false, 1)
        .taken
        .unwrap();
    assert_ne!(w.pages[0], zero);
    assert_eq!(k.mem.folio_ref_count(w.pages[0]), 2);
    k.put_user_refs(refs, false);
    k.put_user_refs(w, true);
    assert_eq!(k.mem.folio_ref_count(zero), 1);
}

#[test]
fn zero_page_pins_count_or_skip() {
    for (name, skip) in [
        ("linux-6.5", true),
        ("linux-6.5+zero_page_pin=count", false),
    ] {
        let mut m = Machine::gup(8, 0, name);
        let mut k = m.k();
        k.load(0, 0, 0).unwrap();
        let pins = k
            .pin_user_pages(&range(0, 0..1), false, false, 10)
            .taken
            .unwrap();
        let zero = k.mem.zero_pfn();
        assert_eq!(pins.pages, vec![zero]);
        let (rc, acquired) = (
            k.mem.folio_ref_count(zero),
            k.mem.vmstat().nr_foll_pin_acquired,
        );
        if skip {
            assert_eq!((rc, acquired), (1, 0), "{name}");
        } else {
            assert_eq!((rc, acquired), (1 + 10 * 1024, 10), "{name}");
        }
        k.unpin_user_pages(pins, false);
        assert_eq!(k.mem.folio_ref_count(zero), 1);
        let s = k.mem.vmstat();
        assert_eq!(s.nr_foll_pin_acquired, s.nr_foll_pin_released);
    }
}

#[test]
fn refusal_stops_the_calls_at_the_sign_bit_and_wrap_overflows() {
    let mut m = Machine::gup(8, 0, "linux-6.5");
    let mut k = m.k();
    k.store(0, 0, 0, 1).unwrap();
    let got = k.pin_user_pages(&range(0, 0..1), true, false, 3_000_000);
    assert_eq!(got.err, Some(Errno::ENOMEM));
    assert_eq!(got.taken.as_ref().unwrap().calls, 2_097_152);
    assert!(
        m.raised_ids().is_empty(),
        "the refusal is the designed defence, not a violation"
    );

    let mut m = Machine::gup(8, 0, "linux-5.0");
    let mut k = m.k();
    k.store(0, 0, 0, 1).unwrap();
    let got = k.get_user_pages(&range(0, 0..1), false, false, u64::from(u32::MAX));
    assert_eq!(got.err, None);
    assert_eq!(k.mem.folio_ref_count(got.taken.unwrap().pages[0]), 0);
    assert_eq!(m.raised_ids(), vec![Invariant::RefcountOverflow]);
}

#[test]
fn a_refused_call_in_a_range_takes_nothing_from_any_page() {
    // Page 1's folio is already negative: every call over pages 0..2 is refused whole.
    let mut m = Machine::gup(8, 0, "linux-6.5");
    let mut k = m.k();
    k.store(0, 0, 0, 1).unwrap();
    k.store(0, 0, 1, 1).unwrap();
    let full = k.pin_user_pages(&range(0, 1..2), true, false, 5_000_000);
    assert_eq!(full.err, Some(Errno::ENOMEM));
    let before = k.mem.folio_ref_count(pfn_of_k(&k, 0));
    let got = k.pin_user_pages(&range(0, 0..2), true, false, 1);
    assert_eq!((got.taken, got.err), (None, Some(Errno::ENOMEM)));
    assert_eq!(k.mem.folio_ref_count(pfn_of_k(&k, 0)), before);
}

fn pfn_of_k(k: &Kernel<'_>, page: u32) -> Pfn {
    match k.pte(0, 0, page) {
        Pte::Present { pfn, .. } => pfn,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_longterm_pin_migrates_out_of_zone_movable_keeping_content_and_mapping() {
    let mut m = Machine::gup(8, 4, "linux-6.5");
    m.k().store(0, 0, 0, 0x5a).unwrap();
    let old = pfn_of(&mut m, 0, 0);
    assert_eq!(m.mem.zone(old), Zone::Movable);
    let mut k = m.k();
    let pins = k
        .pin_user_pages(&range(0, 0..1), true, true, 1)
        .taken
        .unwrap();
    let new = pins.pages[0];
    assert_eq!(k.mem.zone(new), Zone::Normal);
    assert_eq!(pfn_of_k(&k, 0), new);
    assert_eq!(k.mem.content(new).value, 0x5a);
    assert!(!k.mem.in_use(old), "the old frame is freed");
    assert_eq!(k.mem.folio_ref_count(new), 1 + 1024);
    // Faults taken by a long-term pin allocate from the normal zone (PF_MEMALLOC_PIN).
    let fresh = k
        .pin_user_pages(&range(0, 1..2), true, true, 1)
        .taken
        .unwrap();
    assert_eq!(k.mem.zone(fresh.pages[0]), Zone::Normal);
    // Without migration the pin stays in the movable zone.
    let mut m = Machine::gup(8, 4, "linux-6.5+longterm_migrate=none");
    let pins = m
        .k()
        .pin_user_pages(&range(0, 0..1), true, true, 1)
        .taken
        .unwrap();
    assert_eq!(m.mem.zone(pins.pages[0]), Zone::Movable);
}

#[test]
fn a_longterm_pin_that_cannot_migrate_fails_holding_nothing() {
    let mut m = Machine::gup(8, 4, "linux-6.5");
    let mut k = m.k();
    let other = k
        .get_user_pages(&range(0, 0..1), true, false, 1)
        .taken
        .unwrap();
    let page = other.pages[0];
    let got = k.pin_user_pages(&range(0, 0..1), true, true, 1);
    assert_eq!((got.taken, got.err), (None, Some(Errno::ENOMEM)));
    assert_eq!(k.mem.folio_ref_count(page), 2);
    assert_eq!(k.mem.vmstat().nr_foll_pin_acquired, 0);
    assert_eq!(pfn_of_k(&k, 0), page);
}

#[test]
fn gup_checks_the_vma() {
    let mut m = Machine::gup(8, 0, "linux-6.5");
    let mut k = m.k();
    k.mprotect(0, 0, Prot::R).unwrap();
    let got = k.get_user_pages(&range(0, 0..1), true, false, 1);
    assert_eq!(
        got.err,
        Some(Errno::EFAULT),
        "FOLL_WRITE on a read-only VMA"
    );
    assert!(
        k.get_user_pages(&range(0, 0..1), false, false, 1)
            .taken
            .is_some()
    );
    k.munmap(0, 1).unwrap();
    assert_eq!(
        k.pin_user_pages(&range(1, 0..1), false, false, 1).err,
        Some(Errno::EFAULT)
    );
    assert_eq!(
        k.mprotect(0, 1, Prot::R),
        Err(Errno::ENOMEM),
        "mprotect of an unmapped range"
    );
    assert_eq!(
        k.munmap(0, 1),
        Ok(()),
        "munmap of an unmapped range succeeds"
    );
}

#[test]
fn gup_fast_drops_its_grab_when_munmap_races_the_recheck() {
    let mut m = Machine::gup(8, 0, "linux-6.5");
    let mut k = m.k();
    k.store(0, 0, 0, 1).unwrap();
    let flags = pin_flags(true, false);
    let grab = k.gup_fast_begin(&range(0, 0..1), flags, 1).unwrap();
    let page = grab.pages[0];
    assert_eq!(k.mem.folio_ref_count(page), 1025);
    k.munmap(0, 0).unwrap();
    assert_eq!(
        k.mem.folio_ref_count(page),
        1024,
        "the grab keeps the page alive"
    );
    let (_, calls, err) = k.gup_fast_end(&range(0, 0..1), flags, 1, Some(grab));
    assert_eq!((calls, err), (0, Some(Errno::EFAULT)));
    assert!(!k.mem.in_use(page), "dropping the grab freed the page");
    let s = k.mem.vmstat();
    assert_eq!((s.nr_foll_pin_acquired, s.nr_foll_pin_released), (1, 1));
    assert!(m.raised_ids().is_empty());
}

#[test]
fn gup_fast_leaves_the_zero_page_and_missing_ptes_to_the_slow_path() {
    let mut m = Machine::gup(8, 0, "linux-6.5");
    let mut k = m.k();
    assert!(
        k.gup_fast_begin(&range(0, 0..1), FollFlags::GET, 1)
            .is_none(),
        "nothing mapped"
    );
    k.load(0, 0, 0).unwrap();
    assert!(
        k.gup_fast_begin(&range(0, 0..1), FollFlags::GET, 1)
            .is_none(),
        "pte_special"
    );
    let (pages, calls, err) = k.gup_fast_end(&range(0, 0..1), FollFlags::GET, 1, None);
    assert_eq!((pages, calls, err), (vec![k.mem.zero_pfn()], 1, None));
}

#[test]
fn write_faults_reuse_or_copy_per_the_cow_knob() {
    // A write-protected exclusive anon page with one extra reference, then a write.
    for (name, copies) in [
        ("linux-5.0", false),
        ("linux-6.5+cow=refcount", true),
        ("linux-6.5", false),
        ("linux-6.5+cow=pae-anon-only", false),
    ] {
        let mut m = Machine::gup(8, 0, name);
        let mut k = m.k();
        k.store(0, 0, 0, 1).unwrap();
        let refs = k
            .get_user_pages(&range(0, 0..1), false, false, 1)
            .taken
            .unwrap();
        k.mprotect(0, 0, Prot::R).unwrap();
        k.mprotect(0, 0, Prot::Rw).unwrap();
        k.store(0, 0, 0, 2).unwrap();
        let now = pfn_of_k(&k, 0);
        assert_eq!(now != refs.pages[0], copies, "{name}");
        assert_eq!(
            k.mem.content(refs.pages[0]).value,
            if copies { 1 } else { 2 },
            "{name}"
        );
    }
}

#[test]
fn a_put_of_a_freed_folio_is_a_use_after_free_and_nothing_more() {
    let mut m = Machine::gup(8, 0, "linux-5.0");
    let mut k = m.k();
    k.store(0, 0, 0, 1).unwrap();
    let page = pfn_of_k(&k, 0);
    k.put_page_calls(&[page], 3, false);
    assert!(!k.mem.in_use(page));
    assert_eq!(m.raised_ids(), vec![Invariant::UseAfterFree]);
}
