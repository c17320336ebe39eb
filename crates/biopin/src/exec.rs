//! Running one step of one actor: the op's semantics on the world, with what it raises.

use crate::design::Design;
use crate::errno::Errno;
use crate::gup::{GupRefs, Gupped, PinnedPages, UserRange, get_flags, pin_flags};
use crate::io::{IoPage, IoStage, Woke};
use crate::mm::{Events, Gfp, Invariant, PageContent, Pfn, Writer};
use crate::program::{ActorId, Check, Cmd, CompiledOp, DeviceStep, HandleId, Program};
use crate::reclaim::writeback::next_writeback_page;
use crate::scenario::op::{GupKind, ReleaseKind};
use crate::vm::{Kernel, Life, Pte};
use crate::world::{Handle, Handles, HeldPage, World};

/// What one step of an op came to.
enum Outcome {
    /// The op has more steps.
    Continues,
    /// The op goes on at this step (a cursor: writeback's next page, reclaim's next folio).
    At(u32),
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
    let state = world.actors.get(actor);
    let op = &program.actors[actor].ops[state.pc as usize];
    ev.io = matches!(
        op.cmd,
        Cmd::Dio { .. } | Cmd::RdmaReg(..) | Cmd::RdmaRegFd(..) | Cmd::RdmaDereg(..)
    );
    let outcome = run(program, design, world, actor, op, state.step, ev);
    world.mark_dangling(&ev.freed);
    check_pins(program, design, world, ev);
    finish_step(program, world, actor, outcome, ev);
}

/// Moves `actor` on after a step of its op (or a device step that woke it) came to `outcome`.
fn finish_step(
    program: &Program,
    world: &mut World,
    actor: ActorId,
    outcome: Outcome,
    ev: &mut Events,
) {
    let mut state = world.actors.get(actor);
    let op = &program.actors[actor].ops[state.pc as usize];
    match outcome {
        Outcome::Continues => {
            state.step += 1;
            world.actors.set(actor, state);
            return;
        }
        Outcome::At(step) => {
            state.step = step;
            world.actors.set(actor, state);
            return;
        }
        Outcome::Skipped => {
            let h = op.cmd.uses_handle().expect("only handle ops are skipped");
            ev.failure(|| {
                format!(
                    "`{}` skipped: handle `{}` was never bound (its op took nothing)",
                    op.text, program.handles[h].name
                )
            });
        }
        Outcome::Done(result) => check_errno(op, result, ev),
    }
    state.pc += 1;
    state.step = 0;
    world.actors.set(actor, state);
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
        (None, Err(e)) => ev.failure(|| format!("`{}` failed with {e}", op.text)),
        (None, Ok(())) => {}
    }
}

fn run(
    program: &Program,
    design: &Design,
    world: &mut World,
    actor: ActorId,
    op: &CompiledOp,
    step: u32,
    ev: &mut Events,
) -> Outcome {
    if let Some(h) = op.cmd.uses_handle()
        && matches!(world.handles.state(h), Handle::Failed | Handle::Unbound)
    {
        return Outcome::Skipped;
    }
    if op
        .cmd
        .tasks()
        .into_iter()
        .any(|t| world.vm.task(t).life == Life::Failed)
    {
        return Outcome::Skipped;
    }
    let World {
        mem,
        vm,
        cache,
        handles,
        actors,
        io,
    } = world;
    let mut k = Kernel {
        mem,
        vm,
        cache,
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
                    Ok(c) => expect_value(k.ev, program, op, format!("page {page}"), c, *want),
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
        Cmd::Fork { parent, child } if step == 0 => match k.fork_begin(*parent, *child) {
            Ok(()) => Outcome::Continues,
            Err(e) => done(Err(e)),
        },
        Cmd::Fork { parent, child } => done(k.fork_share(*parent, *child)),
        Cmd::Munmap(r) => done(k.munmap_range(r.task, r.vma, r.pages.clone())),
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
                GupKind::Get => get_flags(*write, *longterm),
                GupKind::Pin => pin_flags(*write, *longterm),
            };
            if let Err(e) = k.is_valid_gup_args(flags) {
                handles.fail(*handle);
                return done(Err(e));
            }
            let (pages, calls, err) = if !*fast {
                match kind {
                    GupKind::Get => unpack(
                        k.get_user_pages(range, *write, *longterm, *times),
                        |r: GupRefs| (r.pages, r.calls),
                    ),
                    GupKind::Pin => unpack(
                        k.pin_user_pages(range, *write, *longterm, *times),
                        |p: PinnedPages| (p.pages, p.calls),
                    ),
                }
            } else if step == 0 {
                let grab = k.gup_fast_begin(range, flags, *times);
                if grab.is_none() {
                    k.ev.note(|| "gup-fast: gave up on the range; the slow path runs next".into());
                }
                actors.set_fast(actor, grab.as_ref());
                return Outcome::Continues;
            } else {
                let grabbed = actors.fast(actor);
                actors.set_fast(actor, None);
                k.gup_fast_end(range, flags, *times, grabbed)
            };
            if calls == 0 {
                handles.fail(*handle);
            } else {
                handles.bind(*handle, calls, &pages);
            }
            if calls > 0 && calls < *times {
                k.ev.note(|| format!("{calls} of {times} calls succeeded"));
            }
            done(err.map_or(Ok(()), Err))
        }
        Cmd::Release(how, h, dirty) => {
            release(&mut k, handles, *h, program, *how, *dirty);
            done(Ok(()))
        }
        Cmd::Dio { io: o, .. } => {
            debug_assert_eq!(step, 0, "the caller sleeps until a device step wakes it");
            let def = &program.ios[*o];
            match k.dio_submit(io, *o, def, &program.device) {
                Ok(true) => Outcome::Continues,
                Ok(false) => done(Ok(())),
                Err(e) => done(Err(e)),
            }
        }
        Cmd::Writeback { file, sync } => {
            let pages = k.cache.file(*file).pages;
            let Some(i) = next_writeback_page(k.cache, k.mem, *file, step, *sync) else {
                // Nothing left to write: fsync's wait is over (the step ran once no writeback
                // of the file was in flight).
                return done(Ok(()));
            };
            if let Err(e) = k.writeback_folio(*file, i, *sync) {
                return done(Err(e));
            }
            match next_writeback_page(k.cache, k.mem, *file, i + 1, *sync) {
                Some(_) => Outcome::At(i + 1),
                None if *sync && k.cache.writeback_in_flight(*file) => Outcome::At(pages),
                None => done(Ok(())),
            }
        }
        Cmd::Truncate { file, pages } => {
            k.truncate(*file, *pages);
            done(Ok(()))
        }
        Cmd::Reclaim => {
            let total = k.cache.total_pages();
            let next = |k: &Kernel<'_>, from: u32| {
                (from..total).find(|&s| {
                    let (f, i) = k.cache.file_page(s);
                    k.cache.is_cached(f, i)
                })
            };
            let Some(slot) = next(&k, step) else {
                return done(Ok(()));
            };
            let (f, i) = k.cache.file_page(slot);
            match k.shrink_folio(f, i) {
                Err(e) => done(Err(e)),
                Ok(what) => {
                    k.ev.note(|| {
                        format!(
                            "shrink_folio_list, page {i} of `{}`: {what}",
                            program.files[f].name
                        )
                    });
                    match next(&k, slot + 1) {
                        Some(_) => Outcome::At(slot + 1),
                        None => done(Ok(())),
                    }
                }
            }
        }
        Cmd::Migrate(r) => done(
            r.pages
                .clone()
                .try_for_each(|page| k.migrate_mapped(r.task, r.vma, page)),
        ),
        Cmd::Write { file, index, value } => {
            if *index >= k.cache.i_size(*file) {
                // A write past the end extends the file (the blocks between read as zeroes).
                k.cache.set_i_size(*file, index + 1);
            }
            let content = PageContent {
                value: *value,
                ..PageContent::ZERO
            };
            let wrote = k
                .cache
                .generic_perform_write(k.mem, *file, *index, content, k.ev);
            done(wrote.map(|_| ()).ok_or(Errno::ENOMEM))
        }
        Cmd::Read { file, index, want } if *index >= k.cache.i_size(*file) => {
            // Past the end: read(2) returns 0 bytes.
            if want.is_some() {
                k.ev.raise(Invariant::ExpectFailed, || {
                    format!(
                        "`{}`: page {index} is past the end of the file: read(2) returns nothing",
                        op.text
                    )
                });
            }
            done(Ok(()))
        }
        Cmd::Read { file, index, want } => match k.filemap_fault(*file, *index, Gfp::Movable) {
            Ok(pfn) => {
                let c = k.mem.content(pfn);
                expect_value(k.ev, program, op, format!("page {index}"), c, *want);
                done(Ok(()))
            }
            Err(e) => done(Err(e)),
        },
        Cmd::RdmaReg(range, h) => {
            let got = k.ib_umem_get(range);
            match &got.taken {
                Some(pages) => handles.bind(*h, 1, pages),
                None => handles.fail(*h),
            }
            done(got.err.map_or(Ok(()), Err))
        }
        Cmd::RdmaRegFd(h) => {
            let def = &program.handles[*h];
            let (file, pages) = def
                .file
                .clone()
                .expect("an rdma-reg-fd handle names its file");
            match k.rdma_reg_fd(file, pages) {
                Ok(pfns) => handles.bind(*h, 1, &pfns),
                Err(e) => {
                    handles.fail(*h);
                    return done(Err(e));
                }
            }
            done(Ok(()))
        }
        Cmd::RdmaDereg(h) => {
            let how = match program.handles[*h].takes(design) {
                GupKind::Get => ReleaseKind::Put,
                GupKind::Pin => ReleaseKind::Unpin,
            };
            release(&mut k, handles, *h, program, how, true);
            done(Ok(()))
        }
        Cmd::DmaWrite(h, value) => {
            // On behalf of the task whose memory the handle took; a registration by file
            // descriptor writes for no task.
            let content = match &program.handles[*h].range {
                Some(r) => PageContent {
                    value: *value,
                    writer: Writer::Device(r.task as u16),
                    epoch: k.vm.task(r.task).epoch,
                },
                None => PageContent {
                    value: *value,
                    ..PageContent::ZERO
                },
            };
            for pfn in usable_pages(&mut k, handles, *h, name(*h), "dma-write") {
                k.mem.set_content(pfn, content);
            }
            done(Ok(()))
        }
        Cmd::Vmsplice(range, h) => {
            let got = k.get_user_pages(range, false, false, 1);
            match got.taken {
                Some(refs) => handles.bind(*h, refs.calls, &refs.pages),
                None => handles.fail(*h),
            }
            done(got.err.map_or(Ok(()), Err))
        }
        Cmd::PipeRead(h, want) => {
            if matches!(handles.state(*h), Handle::Held { .. })
                && let Some(r) = &program.handles[*h].range
            {
                let reader = r.task;
                for pfn in usable_pages(&mut k, handles, *h, name(*h), "pipe-read") {
                    let c = k.mem.content(pfn);
                    k.observe(reader, c, || format!("a read of the pipe `{}`", name(*h)));
                    expect_value(k.ev, program, op, pfn, c, *want);
                }
            }
            release(&mut k, handles, *h, program, ReleaseKind::Put, false);
            done(Ok(()))
        }
        Cmd::DmaRead(h, want) => {
            for pfn in usable_pages(&mut k, handles, *h, name(*h), "dma-read") {
                expect_value(k.ev, program, op, pfn, k.mem.content(pfn), *want);
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

/// `== V` on what a read returned: `expect-failed` if the page (`what`) holds another value.
fn expect_value(
    ev: &mut Events,
    program: &Program,
    op: &CompiledOp,
    what: impl std::fmt::Display,
    c: PageContent,
    want: Option<u8>,
) {
    if let Some(want) = want
        && c.value != want
    {
        ev.raise(Invariant::ExpectFailed, || {
            format!(
                "`{}`: {what} holds {:#04x} (written by {}), not {want:#04x}",
                op.text,
                c.value,
                writer(program, c)
            )
        });
    }
}

/// Who wrote a page, in words.
fn writer(program: &Program, c: PageContent) -> String {
    match c.writer {
        Writer::Kernel => "the kernel".into(),
        Writer::Device(t) => format!(
            "a device through a handle of `{}`",
            program.processes[t as usize].name
        ),
        Writer::Task(t) => format!("`{}`", program.processes[t as usize].name),
    }
}

/// The pages a device may use through a handle: a released handle is a use-after-free, and so
/// is each page freed under it (skipped).
fn usable_pages(
    k: &mut Kernel<'_>,
    handles: &Handles,
    h: HandleId,
    name: &str,
    what: &str,
) -> Vec<Pfn> {
    match handles.state(h) {
        Handle::Held { .. } => live_pages(k, handles.pages(h), name, what),
        Handle::Released { .. } => {
            k.ev.raise(Invariant::UseAfterFree, || {
                format!("{what} through handle `{name}` after it was released")
            });
            Vec::new()
        }
        Handle::Unbound | Handle::Failed => Vec::new(),
    }
}

/// The held pages not freed under the handle; reaching a freed one is a use-after-free.
fn live_pages(k: &mut Kernel<'_>, pages: &[HeldPage], name: &str, what: &str) -> Vec<Pfn> {
    if let Some(page) = pages.iter().find(|p| p.dangling) {
        k.ev.raise(Invariant::UseAfterFree, || {
            format!(
                "{what} through handle `{name}` reaches {}, which was freed",
                page.pfn
            )
        });
    }
    pages
        .iter()
        .filter(|p| !p.dangling)
        .map(|p| p.pfn)
        .collect()
}

/// `put H` / `unpin H`: releases everything H holds with the primitive the op names. The
/// wrong primitive is `bad-release` and does what the kernel's would (a put takes 1 from a
/// pinned small folio, an unpin takes 1024 from a referenced one). A second release is
/// `bad-release` and does the same again, as the kernel's call would: it drops the counts on
/// the frames H named once more (taking away another holder's reference or pin), and where
/// such a frame was freed meanwhile it is a `use-after-free` and that frame is left alone.
fn release(
    k: &mut Kernel<'_>,
    handles: &mut Handles,
    h: HandleId,
    program: &Program,
    how: ReleaseKind,
    dirty: bool,
) {
    let name = program.handles[h].name.as_str();
    let calls = match handles.state(h) {
        Handle::Held { calls } => calls,
        Handle::Released { calls } => {
            k.ev.raise(Invariant::BadRelease, || {
                format!("handle `{name}` released twice: the counts drop again")
            });
            calls
        }
        Handle::Unbound | Handle::Failed => return,
    };
    let held = handles.pages(h);
    let pages = live_pages(k, held, name, "release");
    if how == ReleaseKind::Unpin {
        // gup_put_folio counts the release before it reaches the freed folio: the vmstat
        // counters stay balanced, so no leak follows from the use-after-free.
        let dangling = held.iter().filter(|p| p.dangling).count() as u64;
        k.mem.count_pins_released(dangling * calls);
    }
    match (how, program.handles[h].takes(k.design)) {
        (ReleaseKind::Put, GupKind::Get) => k.put_page_calls(&pages, calls, dirty),
        (ReleaseKind::Unpin, GupKind::Pin) => k.unpin_user_page_calls(&pages, calls, dirty),
        (ReleaseKind::Put, GupKind::Pin) => {
            k.ev.raise(Invariant::BadRelease, || format!("put_page on handle `{name}`, which holds pins: the release must be unpin_user_page"));
            k.put_page_calls(&pages, calls, dirty);
        }
        (ReleaseKind::Unpin, GupKind::Get) => {
            k.ev.raise(Invariant::BadRelease, || format!("unpin_user_page on handle `{name}`, which holds FOLL_GET references: the release must be put_page"));
            k.unpin_user_page_calls(&pages, calls, dirty);
        }
    }
    handles.release(h);
}

/// `pin-unreliable`: after a step, every page a held pin or RDMA registration covers, and
/// every page a direct-I/O transfer in flight has yet to reach, must still be the frame its
/// process reaches at that address, while the mapping exists (a PTE that is gone, or a task
/// that exited, ends it). Each page is reported once.
fn check_pins(program: &Program, design: &Design, world: &mut World, ev: &mut Events) {
    check_io_pages(program, world, ev);
    for (h, def) in program.handles.iter().enumerate() {
        if (def.takes(design) != GupKind::Pin && !def.rdma)
            || !matches!(world.handles.state(h), Handle::Held { .. })
        {
            continue;
        }
        // A registration by file descriptor has no address to move away from.
        let Some(r) = &def.range else { continue };
        if !world.vm.task(r.task).alive() || !world.vm.vma(r.task, r.vma).mapped {
            continue;
        }
        for (i, page) in r.pages.clone().enumerate() {
            let held = world.handles.pages(h)[i];
            if held.dangling || held.unreliable {
                continue;
            }
            if let Pte::Present { pfn, .. } = world.vm.pte(r.task, r.vma, page)
                && pfn != held.pfn
            {
                ev.raise(Invariant::PinUnreliable, || {
                    format!(
                        "pin `{}` holds {} but {}:{}[{page}] now maps {pfn}",
                        def.name,
                        held.pfn,
                        program.processes[r.task].name,
                        program.processes[r.task].vmas[r.vma].name
                    )
                });
                world.handles.mark_unreliable(h, i);
            }
        }
    }
}

/// `pin-unreliable` for direct I/O in flight: a page the transfer has yet to reach that its
/// address no longer maps.
fn check_io_pages(program: &Program, world: &mut World, ev: &mut Events) {
    for (o, def) in program.ios.iter().enumerate() {
        if world.io.io(o).stage != IoStage::InFlight {
            continue;
        }
        let r = &def.range;
        if !world.vm.task(r.task).alive() || !world.vm.vma(r.task, r.vma).mapped {
            continue;
        }
        for i in 0..world.io.io(o).pages {
            let page = world.io.page(o, i);
            if page.transferred || page.dangling || page.unreliable {
                continue;
            }
            let at = r.pages.start + i;
            if let Pte::Present { pfn, .. } = world.vm.pte(r.task, r.vma, at)
                && pfn != page.pfn
            {
                ev.raise(Invariant::PinUnreliable, || {
                    format!(
                        "`{}` is in flight to {} but {}:{}[{at}] now maps {pfn}",
                        program.actors[def.actor]
                            .ops
                            .iter()
                            .find(|op| matches!(op.cmd, Cmd::Dio { io, .. } if io == o))
                            .map_or("the direct I/O", |op| op.text.as_str()),
                        page.pfn,
                        program.processes[r.task].name,
                        program.processes[r.task].vmas[r.vma].name
                    )
                });
                world.io.set_page(
                    o,
                    i,
                    IoPage {
                        unreliable: true,
                        ..page
                    },
                );
            }
        }
    }
}

/// Runs device step `id` (a pending one): a request's transfer, a bio's completion (which may
/// wake the op's caller and end its op), its release or deferred work; or a page's writeback
/// transfer or end.
pub fn device(program: &Program, design: &Design, world: &mut World, id: u32, ev: &mut Events) {
    ev.io = true;
    let World {
        mem, vm, cache, io, ..
    } = world;
    let mut k = Kernel {
        mem,
        vm,
        cache,
        design,
        ev,
    };
    let woke = match program.device_step(id) {
        DeviceStep::Dio { io: o, step } => {
            let def = &program.ios[o];
            match k.dio_device(io, o, def, step) {
                Woke::Caller(result) => Some((def.actor, result)),
                Woke::No => None,
            }
        }
        DeviceStep::WbTransfer(slot) => {
            let (file, index) = k.cache.file_page(slot);
            k.writeback_transfer(file, index);
            None
        }
        DeviceStep::WbEnd(slot) => {
            let (file, index) = k.cache.file_page(slot);
            k.folio_end_writeback(file, index);
            None
        }
    };
    world.mark_dangling(&ev.freed);
    check_pins(program, design, world, ev);
    if let Some((actor, result)) = woke {
        finish_step(program, world, actor, Outcome::Done(result), ev);
    }
}

/// Evaluates an assertion; `Err` says what was observed instead.
fn assertion(
    k: &Kernel<'_>,
    handles: &Handles,
    check: &Check,
    program: &Program,
) -> Result<(), String> {
    let frame_at = |r: &UserRange, page: u32| -> Result<Pfn, String> {
        match k.pte(r.task, r.vma, page) {
            Pte::Present { pfn, .. } | Pte::Dangling { pfn } => Ok(pfn),
            Pte::None | Pte::Unmapped => Err(format!("page {page} is not mapped")),
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
            let Handle::Held { .. } = handles.state(*h) else {
                return Err(format!("handle `{name}` holds nothing now"));
            };
            for (page, held) in r.pages.clone().zip(handles.pages(*h)) {
                let now = frame_at(r, page)?;
                let held = held.pfn;
                if now != held {
                    return Err(format!(
                        "handle `{name}` holds {held} but page {page} maps {now}"
                    ));
                }
            }
            Ok(())
        }
    }
}
