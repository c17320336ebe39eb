//! The model's pin and unpin primitives on many pages at once, against the bare arithmetic
//! they do: `try_grab_folio(FOLL_PIN)` and `unpin_user_page` of 2^21 small pages, each adding
//! then taking away `GUP_PIN_COUNTING_BIAS`; and the same on large folios, per subpage.

use std::hint::black_box;

use biopin::design::Design;
use biopin::gup::pin_flags;
use biopin::mm::{Events, GUP_PIN_COUNTING_BIAS, Gfp, MemMap, Pfn};
use biopin::pagecache::PageCache;
use biopin::vm::{Kernel, Vm};

/// Pages pinned and unpinned.
const PAGES: u32 = 1 << 21;

/// A machine of [`PAGES`] frames, every one allocated as a folio of `order`, and every page.
fn machine(order: u8) -> (MemMap, Vec<Pfn>) {
    let mut mem = MemMap::new(PAGES, 0);
    let mut pages = Vec::with_capacity(PAGES as usize);
    for _ in 0..PAGES >> order {
        let head = mem
            .alloc_folio(order, Gfp::Normal)
            .expect("room for every folio");
        pages.extend((0..1 << order).map(|i| Pfn(head.0 + i)));
    }
    (mem, pages)
}

/// Seconds to pin then unpin every page once, through the model.
fn pin_unpin(order: u8) -> f64 {
    let (mut mem, pages) = machine(order);
    let mut vm = Vm::new(&[], &[], &[]);
    let mut cache = PageCache::new(&[]);
    let design = Design::parse("linux-6.5").expect("a preset");
    let mut ev = Events::quiet();
    let mut k = Kernel {
        mem: &mut mem,
        vm: &mut vm,
        cache: &mut cache,
        design: &design,
        ev: &mut ev,
    };
    let ((), secs) = crate::timed(|| {
        let (calls, err) = k.try_grab_pages(black_box(&pages), pin_flags(true, false), 1);
        assert_eq!((calls, err), (1, None));
        k.unpin_user_page_calls(black_box(&pages), 1, false);
    });
    assert!(ev.raised.is_empty(), "{:?}", ev.raised);
    assert_eq!(mem.vmstat().nr_foll_pin_released, u64::from(PAGES));
    secs
}

/// Seconds for the bare arithmetic: add then subtract the bias on a `Vec<i32>` of 2^21.
fn baseline() -> f64 {
    let mut counts = vec![1i32; PAGES as usize];
    let bias = GUP_PIN_COUNTING_BIAS as i32;
    let ((), secs) = crate::timed(|| {
        for c in counts.iter_mut() {
            *c = c.wrapping_add(bias);
        }
        black_box(&mut counts);
        for c in counts.iter_mut() {
            *c = c.wrapping_sub(bias);
        }
        black_box(&mut counts);
    });
    assert!(counts.iter().all(|&c| c == 1));
    secs
}

/// The primitive's lines, medians of `runs` interleaved runs.
pub fn bench(runs: u32) -> Vec<String> {
    let (mut small, mut large, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        base.push(baseline());
        small.push(pin_unpin(0));
        large.push(pin_unpin(9));
    }
    let (small, large, base) = (
        crate::median(&mut small),
        crate::median(&mut large),
        crate::median(&mut base),
    );
    let per = |secs: f64| secs * 1e9 / f64::from(PAGES);
    vec![
        format!(
            "primitive pages={PAGES} pin_unpin_ns={:.0} baseline_ns={:.0} ratio={:.2}",
            small * 1e9,
            base * 1e9,
            small / base
        ),
        format!(
            "primitive large_folios order=9 per_subpage_ns={:.2} small_per_page_ns={:.2} ratio={:.3}",
            per(large),
            per(small),
            large / small
        ),
    ]
}
