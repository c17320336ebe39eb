//! Running one step of one actor: the op's semantics on the world, with what it raises.

use crate::design::Design;
use crate::errno::Errno;
use crate::gup::{GupRefs, Gupped, PinnedPages, UserRange, get_flags, pin_flags};
use crate::mm::{Events, Invariant, PageContent, Pfn, Writer};
use crate::program::{ActorId, Check, Cmd, CompiledOp, HandleId, Program};
use crate::scenario::op::{GupKind, ReleaseKind};
use crate::vm::{Kernel, Pte};
use crate::world::{Handle, Holding, World};

/// What one step of an op came to.
enum Outcome {
    /// The op has more steps.
    Continues,
    /// The op is done: succeeded, or failed with an errno.
    Done(Result<(), Errno>),
    /// The op was skipped: the handle it names was never bound (its op took nothing).
    Skipped,
}

/// Runs the next step of `actor`, recording what it raises in `ev`.
pub fn step(
    program: &Program,
    design: &Design,
    world: &mut World,
    actor: ActorId,
    ev: &mut Events,
) {
    let state = &world.actors[actor];
    let op = &program.actors[actor].ops[state.pc as usize];
    let step = state.step;
    let outcome = run(program, design, world, actor, op, step, ev);
    mark_dangling(world, ev);
    let state = &mut world.actors[actor];
    match outcome {
        Outcome::Continues => {
            state.step += 1;
            return;
        }
        Outcome::Skipped => {
            let h = op.cmd.uses_handle().expect("only handle ops are skipped");
            ev.note(|| {
                format!(
                    "skipped: handle `{}` was never bound (its op took nothing)",
                    program.handles[h].name
                )
            });
        }
        Outcome::Done(result) => check_errno(op, result, ev),
    }
    state.pc += 1;
    state.step = 0;
}

/// `expect ERRNO`: the op must fail with it; otherwise an errno is only noted.
fn check_errno(op: &CompiledOp, result: Result<(), Errno>, ev: &mut Events) {
    match (op.expect, result) {
        (Some(want), Err(got)) if want == got => {
            ev.note(|| format!("failed with {got}, as expected"))
        }
        (Some(want), got) => ev.raise(Invariant::ExpectFailed, || {
            let got = got.map_or_else(|e| e.to_string(), |()| "success".into());
            format!("`{}` expected {want}, got {got}", op.text)
        }),
        (None, Err(e)) => ev.note(|| format!("failed with {e}")),
        (None, Ok(())) => {}
    }
}

fn run(
    program: &Program,
    design: &Design,
    world: &mut World,
    actor: ActorId,
    op: &CompiledOp,
    step: u8,
    ev: &mut Events,
) -> Outcome {
    if let Some(h) = op.cmd.uses_handle()
        && matches!(world.handles[h], Handle::Failed | Handle::Unbound)
    {
        return Outcome::Skipped;
    }
    let World {
        mem,
        tasks,
        handles,
        actors,
    } = world;
    let mut k = Kernel {
        mem,
        tasks,
        design,
        ev,
    };
    let name = |h: HandleId| program.handles[h].name.as_str();
    let done = |r: Result<(), Errno>| Outcome::Done(r);
    match &op.cmd {
        Cmd::Store(r, value) => done(
            r.pages
                .clone()
                .try_for_each(|page| k.store(r.task, r.vma, page, *value)),
        ),
        Cmd::Load(r, want) => {
            for page in r.pages.clone() {
                match k.load(r.task, r.vma, page) {
                    Ok(c) => {
                        if let Some(want) = *want
                            && c.value != want
                        {
                            k.ev.raise(Invariant::ExpectFailed, || {
                                format!("`{}`: page {page} holds {:#04x} (written by {}), not {want:#04x}", op.text, c.value, writer(program, c))
                            });
                        }
                    }
                    Err(e) => {
                        if want.is_some() && !k.ev.has(Invariant::UseAfterFree) {
                            k.ev.raise(Invariant::ExpectFailed, || {
                                format!("`{}`: the load failed with {e}", op.text)
                            });
                        }
                        return done(Err(e));
                    }
                }
            }
            done(Ok(()))
        }
        Cmd::Exit(t) => done(k.exit(*t)),
        Cmd::Munmap(t, v) => done(k.munmap(*t, *v)),
        Cmd::Mprotect(t, v, prot) => done(k.mprotect(*t, *v, *prot)),
        Cmd::Gup {
            kind,
            range,
            write,
            longterm,
            fast,
            times,
            handle,
        } => {
            let flags = match kind {
                GupKind::Get => get_flags(*write),
                GupKind::Pin => pin_flags(*write, *longterm),
            };
            let (pages, calls, err) = if !*fast {
                match kind {
                    GupKind::Get => {
                        unpack(k.get_user_pages(range, *write, *times), |r: GupRefs| {
                            (r.pages, r.calls)
                        })
                    }
                    GupKind::Pin => unpack(
                        k.pin_user_pages(range, *write, *longterm, *times),
                        |p: PinnedPages| (p.pages, p.calls),
                    ),
                }
            } else if step == 0 {
                actors[actor].fast = k.gup_fast_begin(range, flags, *times).map(Box::new);
                if actors[actor].fast.is_none() {
                    k.ev.note(|| "gup-fast: gave up on the range; the slow path runs next".into());
                }
                return Outcome::Continues;
            } else {
                let grabbed = actors[actor].fast.take().map(|b| *b);
                k.gup_fast_end(range, flags, *times, grabbed)
            };
            handles[*handle] = if calls == 0 {
                Handle::Failed
            } else {
                let holding = match kind {
                    GupKind::Get => Holding::Refs(GupRefs { pages, calls }),
                    GupKind::Pin => Holding::Pins(PinnedPages { pages, calls }),
                };
                Handle::Held {
                    holding,
                    dangling: Vec::new(),
                }
            };
            if calls > 0 && calls < *times {
                k.ev.note(|| format!("{calls} of {times} calls succeeded"));
            }
            done(err.map_or(Ok(()), Err))
        }
        Cmd::Release(how, h, dirty) => {
            release(&mut k, &mut handles[*h], *how, name(*h), *dirty);
            done(Ok(()))
        }
        Cmd::DmaWrite(h, value) => {
            for pfn in usable_pages(&mut k, &handles[*h], name(*h), "dma-write") {
                k.mem.set_content(
                    pfn,
                    PageContent {
                        value: *value,
                        writer: Writer::Device,
                        epoch: 0,
                    },
                );
            }
            done(Ok(()))
        }
        Cmd::DmaRead(h, want) => {
            for pfn in usable_pages(&mut k, &handles[*h], name(*h), "dma-read") {
                let c = k.mem.content(pfn);
                if let Some(want) = *want
                    && c.value != want
                {
                    k.ev.raise(Invariant::ExpectFailed, || {
                        format!(
                            "`{}`: {pfn} holds {:#04x} (written by {}), not {want:#04x}",
                            op.text,
                            c.value,
                            writer(program, c)
                        )
                    });
                }
            }
            done(Ok(()))
        }
        Cmd::Assert(check) => {
            if let Err(why) = assertion(&k, handles, check, program) {
                k.ev.raise(Invariant::ExpectFailed, || format!("`{}`: {why}", op.text));
            }
            done(Ok(()))
        }
    }
}

fn unpack<T>(
    g: Gupped<T>,
    parts: impl FnOnce(T) -> (Vec<Pfn>, u64),
) -> (Vec<Pfn>, u64, Option<Errno>) {
    let (pages, calls) = g.taken.map_or((Vec::new(), 0), parts);
    (pages, calls, g.err)
}

/// Who wrote a page, in words.
fn writer(program: &Program, c: PageContent) -> String {
    match c.writer {
        Writer::Kernel => "the kernel".into(),
        Writer::Device => "a device".into(),
        Writer::Task(t) => format!("`{}`", program.processes[t as usize].name),
    }
}

/// The pages a device may use through a handle: a released handle is a use-after-free, and so
/// is each page freed under it (skipped).
fn usable_pages(k: &mut Kernel<'_>, handle: &Handle, name: &str, what: &str) -> Vec<Pfn> {
    match handle {
        Handle::Held { holding, dangling } => live_pages(k, holding, dangling, name, what),
        Handle::Released => {
            k.ev.raise(Invariant::UseAfterFree, || {
                format!("{what} through handle `{name}` after it was released")
            });
            Vec::new()
        }
        Handle::Unbound | Handle::Failed => Vec::new(),
    }
}

/// The held pages not freed under the handle; reaching a freed one is a use-after-free.
fn live_pages(
    k: &mut Kernel<'_>,
    holding: &Holding,
    dangling: &[u32],
    name: &str,
    what: &str,
) -> Vec<Pfn> {
    let pages = holding.pages();
    if let Some(&i) = dangling.first() {
        k.ev.raise(Invariant::UseAfterFree, || {
            format!(
                "{what} through handle `{name}` reaches {}, which was freed",
                pages[i as usize]
            )
        });
    }
    pages
        .iter()
        .enumerate()
        .filter(|(i, _)| !dangling.contains(&(*i as u32)))
        .map(|(_, p)| *p)
        .collect()
}

/// `put H` / `unpin H`: releases everything H holds with the primitive the op names. The
/// wrong primitive is `bad-release` and does what the kernel's would (a put takes 1 from a
/// pinned small folio, an unpin takes 1024 from a referenced one). A second release is
/// `bad-release` and changes nothing.
fn release(k: &mut Kernel<'_>, handle: &mut Handle, how: ReleaseKind, name: &str, dirty: bool) {
    let Handle::Held { holding, dangling } = handle else {
        if *handle == Handle::Released {
            k.ev.raise(Invariant::BadRelease, || {
                format!("handle `{name}` released twice")
            });
        }
        return;
    };
    let pages = live_pages(k, holding, dangling, name, "release");
    if how == ReleaseKind::Unpin {
        // gup_put_folio counts the release before it reaches the freed folio: the vmstat
        // counters stay balanced, so no leak follows from the use-after-free.
        k.mem
            .count_pins_released(dangling.len() as u64 * holding.calls());
    }
    let calls = holding.calls();
    match (how, &*holding) {
        (ReleaseKind::Put, Holding::Refs(_)) => k.put_page_calls(&pages, calls, dirty),
        (ReleaseKind::Unpin, Holding::Pins(_)) => k.unpin_user_page_calls(&pages, calls, dirty),
        (ReleaseKind::Put, Holding::Pins(_)) => {
            k.ev.raise(Invariant::BadRelease, || format!("put_page on handle `{name}`, which holds pins: the release must be unpin_user_page"));
            k.put_page_calls(&pages, calls, dirty);
        }
        (ReleaseKind::Unpin, Holding::Refs(_)) => {
            k.ev.raise(Invariant::BadRelease, || format!("unpin_user_page on handle `{name}`, which holds FOLL_GET references: the release must be put_page"));
            k.unpin_user_page_calls(&pages, calls, dirty);
        }
    }
    *handle = Handle::Released;
}

/// Evaluates an assertion; `Err` says what was observed instead.
fn assertion(
    k: &Kernel<'_>,
    handles: &[Handle],
    check: &Check,
    program: &Program,
) -> Result<(), String> {
    let frame_at = |r: &UserRange, page: u32| -> Result<Pfn, String> {
        match k.pte(r.task, r.vma, page) {
            Pte::Present { pfn, .. } | Pte::Dangling { pfn } => Ok(pfn),
            Pte::None => Err(format!("page {page} is not mapped")),
        }
    };
    let each = |r: &UserRange, f: &dyn Fn(u32, Pfn) -> Result<(), String>| -> Result<(), String> {
        r.pages
            .clone()
            .try_for_each(|page| f(page, frame_at(r, page)?))
    };
    let count_matches =
        |actual: i32, want: i64| i64::from(actual) == want || i64::from(actual as u32) == want;
    match check {
        Check::Refcount(r, want) => each(r, &|page, pfn| {
            let rc = k.mem.folio_ref_count(pfn);
            if count_matches(rc, *want) {
                Ok(())
            } else {
                Err(format!(
                    "page {page} ({pfn}): _refcount is {rc}, not {want}"
                ))
            }
        }),
        Check::Pincount(r, want) => each(r, &|page, pfn| {
            let pc = k.mem.folio_pincount(pfn);
            if count_matches(pc, *want) {
                Ok(())
            } else {
                Err(format!(
                    "page {page} ({pfn}): _pincount is {pc}, not {want}"
                ))
            }
        }),
        Check::Pinned(r, want) => each(r, &|page, pfn| {
            let pinned = k.mem.folio_maybe_dma_pinned(pfn);
            if pinned == *want {
                Ok(())
            } else {
                Err(format!(
                    "page {page} ({pfn}): folio_maybe_dma_pinned is {pinned} (_refcount {})",
                    k.mem.folio_ref_count(pfn)
                ))
            }
        }),
        Check::Zone(r, want) => each(r, &|page, pfn| {
            let zone = k.mem.zone(pfn);
            if zone == *want {
                Ok(())
            } else {
                Err(format!(
                    "page {page} ({pfn}) is in the {} zone",
                    zone.name()
                ))
            }
        }),
        Check::SameFrame(h, r) => {
            let name = &program.handles[*h].name;
            let Handle::Held { holding, .. } = &handles[*h] else {
                return Err(format!("handle `{name}` holds nothing now"));
            };
            for (page, held) in r.pages.clone().zip(holding.pages()) {
                let now = frame_at(r, page)?;
                if now != *held {
                    return Err(format!(
                        "handle `{name}` holds {held} but page {page} maps {now}"
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Adds to `marked` the indices of `pages` that lie in `freed`, keeping it sorted.
fn mark(pages: &[Pfn], freed: &std::ops::Range<u32>, marked: &mut Vec<u32>) {
    for (i, pfn) in pages.iter().enumerate() {
        if freed.contains(&pfn.0) && !marked.contains(&(i as u32)) {
            marked.push(i as u32);
        }
    }
    marked.sort_unstable();
}

/// Marks every reference to a folio freed during the step dangling: PTEs and handle pages
/// that still name it (only a broken count frees a folio that is still referenced). A frame
/// allocated again within the same step is left alone.
fn mark_dangling(world: &mut World, ev: &Events) {
    for &(head, order) in &ev.freed {
        if world.mem.in_use(head) {
            continue;
        }
        let freed = head.0..head.0 + (1 << order);
        for task in &mut world.tasks {
            for vma in &mut task.mm.vmas {
                for pte in &mut vma.ptes {
                    if let Pte::Present { pfn, .. } = *pte
                        && freed.contains(&pfn.0)
                    {
                        *pte = Pte::Dangling { pfn };
                    }
                }
            }
        }
        for handle in &mut world.handles {
            if let Handle::Held { holding, dangling } = handle {
                mark(holding.pages(), &freed, dangling);
            }
        }
        for actor in &mut world.actors {
            if let Some(grab) = &mut actor.fast {
                mark(&grab.pages, &freed, &mut grab.freed);
            }
        }
    }
}
