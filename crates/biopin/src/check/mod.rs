//! End-state checks: what a finished path must satisfy (docs/design.md, Invariants: `leak`).

use std::collections::BTreeMap;

use crate::design::{Design, ZeroPagePin};
use crate::mm::{Events, GUP_PIN_COUNTING_BIAS, Invariant, PageFlags, Pfn};
use crate::program::Program;
use crate::scenario::op::GupKind;
use crate::vm::Pte;
use crate::world::{Handle, World};

/// What the owners of a folio account for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Owed {
    /// Mapped PTEs.
    ptes: i128,
    /// The page cache: one per cached page.
    cache: i128,
    /// Live handles' references and pins, as `_refcount` counts them.
    handles: i128,
    /// Live handles' pins, as `_pincount` counts them (large folios).
    pins: i128,
}

/// The end-state checks of one path: `leak` if a folio's `_refcount` (or `_pincount`)
/// exceeds what its owners account for (mapped PTEs: 1 each; the page cache: 1 per cached
/// page; live handles: 1 per get, 1024
/// per small-folio pin, 1 per large-folio pin; the zero page's own 1), if a bound handle was
/// never released, or if `nr_foll_pin_acquired != nr_foll_pin_released` with no pins
/// outstanding.
pub fn end_state(program: &Program, design: &Design, world: &World, ev: &mut Events) {
    let mem = &world.mem;
    let mut owed: BTreeMap<Pfn, Owed> = BTreeMap::new();
    for &pte in world.vm.all_ptes() {
        if let Pte::Present { pfn, .. } = pte
            && !mem.is_zero_page(pfn)
            && mem.in_use(pfn)
        {
            owed.entry(mem.folio(pfn)).or_default().ptes += 1;
        }
    }
    for (_, _, pfn) in world.cache.cached() {
        if mem.in_use(pfn) {
            // The page cache's reference, and one more for attached buffers.
            let buffers = i128::from(mem.folio_test(pfn, PageFlags::PRIVATE));
            owed.entry(mem.folio(pfn)).or_default().cache += 1 + buffers;
        }
    }
    let skip_zero = design.zero_page_pin == ZeroPagePin::Skip;
    let mut outstanding_pins: i128 = 0;
    for h in 0..program.handles.len() {
        let Handle::Held { calls } = world.handles.state(h) else {
            continue;
        };
        ev.raise(Invariant::Leak, || {
            format!(
                "handle `{}` was bound and never released",
                program.handles[h].name
            )
        });
        let calls = i128::from(calls);
        for page in world.handles.pages(h) {
            if page.dangling {
                continue;
            }
            let pfn = page.pfn;
            let head = mem.folio(pfn);
            let o = owed.entry(head).or_default();
            match program.handles[h].takes(design) {
                GupKind::Get => o.handles += calls,
                GupKind::Pin if skip_zero && mem.is_zero_page(pfn) => {}
                GupKind::Pin => {
                    outstanding_pins += calls;
                    if mem.folio_has_pincount(pfn) {
                        o.handles += calls;
                        o.pins += calls;
                    } else {
                        o.handles += calls * i128::from(GUP_PIN_COUNTING_BIAS);
                    }
                }
            }
        }
    }
    for head in mem.used_frames() {
        let frame = mem.frame(head);
        if !frame.flags.contains(PageFlags::IN_USE) || frame.flags.contains(PageFlags::TAIL) {
            continue;
        }
        let o = owed.get(&head).copied().unwrap_or_default();
        let base = i128::from(mem.is_zero_page(head));
        let expected = o.ptes + o.cache + o.handles + base;
        // Compared as the unsigned count: a negative one (put or unpinned below zero) is never
        // freed, which is a leak whatever the owners account for.
        if frame.refcount < 0 {
            ev.raise(Invariant::Leak, || {
                format!(
                    "{head}: _refcount {} is below zero ({} as the unsigned count): a put too many drove it there, and a page whose count never returns to zero is never freed",
                    frame.refcount, frame.refcount as u32
                )
            });
        } else if i128::from(frame.refcount as u32) > expected {
            ev.raise(Invariant::Leak, || {
                format!(
                    "{head}: _refcount {} but its owners account for {expected} ({} from PTEs, {}{} from handles{})",
                    frame.refcount,
                    o.ptes,
                    match o.cache {
                        0 => "",
                        1 => "1 the page cache's, ",
                        _ => "2 the page cache's and its buffers', ",
                    },
                    o.handles,
                    if base > 0 { ", 1 the zero page's own" } else { "" }
                )
            });
        }
        if frame.order > 0 && i128::from(frame.pincount) > o.pins {
            ev.raise(Invariant::Leak, || {
                format!(
                    "{head}: _pincount {} but live handles hold {} pins",
                    frame.pincount, o.pins
                )
            });
        }
    }
    let stat = mem.vmstat();
    if outstanding_pins == 0 && stat.nr_foll_pin_acquired != stat.nr_foll_pin_released {
        ev.raise(Invariant::Leak, || {
            format!(
                "no pins are outstanding but nr_foll_pin_acquired = {} and nr_foll_pin_released = {}: {}",
                stat.nr_foll_pin_acquired,
                stat.nr_foll_pin_released,
                if stat.nr_foll_pin_released > stat.nr_foll_pin_acquired {
                    "more unpins than pins"
                } else {
                    "pins that no handle accounts for"
                }
            )
        });
    }
}
