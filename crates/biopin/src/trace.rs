//! Replaying a schedule step by step and saying what each step changed: the counterexample a
//! kernel developer reads.

use std::fmt;

use biopin_explore::{Journaled, Model, Token, TokenError};
use thiserror::Error;

use crate::design::{BioRefs, Cow, Design, DesignError, GupFastFork};
use crate::io::{BioStage, DevStep};
use crate::mm::{Events, Frame, Invariant, MemMap, PageContent, PageFlags, Pfn, Writer};
use crate::model::{Action, KernelModel};
use crate::program::DeviceStep;
use crate::program::{Cmd, HandleId, Program, STEP_TABLE_VERSION};
use crate::scenario::Verdict;
use crate::scenario::op::GupKind;
use crate::vm::{Life, Pte};
use crate::world::{Handle, World};

/// One replayed step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    /// The actor that took it, or `device` for a device step.
    pub actor: String,
    /// Its lane in a timeline: the actor's name, or `device: ` and the I/O the device step
    /// belongs to.
    pub lane: String,
    /// How a schedule names it (`biopin trace --schedule`): the actor's name, or `dev:K` for
    /// the K-th pending device step (from 1, in device id order).
    pub label: String,
    /// Its op, as written.
    pub op: String,
    /// Which of the op's steps, and what it does.
    pub step: String,
    /// What changed in the world.
    pub changes: Vec<String>,
    /// What the step did that the changes do not show (errnos, faults, fallbacks).
    pub notes: Vec<String>,
    /// What it raised, with why.
    pub raised: Vec<(Invariant, String)>,
}

/// A replayed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario's actors (prologue and epilogue included, in order): a timeline's lanes.
    pub actors: Vec<String>,
    /// The design.
    pub design: Design,
    /// The steps.
    pub steps: Vec<TraceStep>,
    /// What the end of the path raised, if the schedule ends where no step is enabled.
    pub end: Option<Vec<(Invariant, String)>>,
}

impl Trace {
    /// The schedule in `biopin trace --schedule` syntax: step labels, comma-separated.
    pub fn schedule_text(&self) -> String {
        self.steps
            .iter()
            .map(|s| s.label.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the first step that raised something, if any.
    pub fn first_violation(&self) -> Option<usize> {
        self.steps.iter().position(|s| !s.raised.is_empty())
    }

    /// Every violation the replay raised.
    pub fn verdict(&self) -> Verdict {
        self.steps
            .iter()
            .flat_map(|s| &s.raised)
            .chain(self.end.iter().flatten())
            .map(|(i, _)| *i)
            .collect()
    }
}

/// Why a token cannot be replayed on a scenario.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ReplayError {
    /// The token does not decode.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// The scenario file differs from the one the token was made for.
    #[error(
        "this token was made for a different version of the scenario (its text hashed to {token:016x}, this file's to {file:016x}): replay it against the file it came from"
    )]
    Scenario {
        /// The token's hash.
        token: u64,
        /// This file's.
        file: u64,
    },
    /// The step table changed since the token was made.
    #[error(
        "this token was made with step table {token}, this biopin has {ours}: the ops' steps differ, so the schedule would mean something else; rerun `biopin check` to get a new token"
    )]
    StepTable {
        /// The token's.
        token: u32,
        /// This biopin's.
        ours: u32,
    },
    /// The token's design does not parse.
    #[error("the token names design `{0}`, which this biopin does not know: {1}")]
    Design(String, DesignError),
    /// The schedule does not fit the scenario.
    #[error("{0}")]
    Schedule(#[from] biopin_explore::ReplayError),
    /// A `--schedule` cannot be followed.
    #[error("--schedule, item {item} (`{text}`): {why}")]
    Spec {
        /// Which item, from 1.
        item: usize,
        /// The item as written.
        text: String,
        /// Why it cannot be taken, and what could be.
        why: String,
    },
}

/// One complete path of `program` under `design`, for `biopin trace`: the steps `spec` names
/// (comma-separated actor names and `dev:K`, the K-th pending device step from 1), then the
/// least schedule ([`crate::least_schedule`]'s rule: the first enabled action) to the end of
/// the path. A step with no alternative (the prologue, the epilogue, a lone pending step) is
/// taken without being named, unless the next item names it.
pub fn trace_path(
    program: &Program,
    design: Design,
    spec: Option<&str>,
) -> Result<Trace, ReplayError> {
    let model = KernelModel::new(program, design);
    let items: Vec<&str> = match spec.map(str::trim) {
        None | Some("") => Vec::new(),
        Some(s) => s.split(',').map(str::trim).collect(),
    };
    let mut world = model.init_state();
    let mut schedule = Vec::new();
    let mut enabled = Vec::new();
    let mut next = 0;
    loop {
        enabled.clear();
        model.enabled(&world, &mut enabled);
        if enabled.is_empty() {
            break;
        }
        let action = match items.get(next) {
            None => enabled[0],
            Some(&text) => {
                let named =
                    resolve(program, &world, &enabled, text).map_err(|why| ReplayError::Spec {
                        item: next + 1,
                        text: text.to_owned(),
                        why,
                    })?;
                match named {
                    Named::Runs(a) => {
                        next += 1;
                        a
                    }
                    Named::Waits if enabled.len() == 1 => enabled[0],
                    named => {
                        let finished = named == Named::Finished;
                        let n = schedule.len();
                        return Err(ReplayError::Spec {
                            item: next + 1,
                            text: text.to_owned(),
                            why: format!(
                                "{} after step {n} of the path; what can run is {}",
                                if finished {
                                    "has finished"
                                } else {
                                    "cannot run"
                                },
                                choices(program, &design, &world, &enabled)
                            ),
                        });
                    }
                }
            }
        };
        let mut ev = Events::quiet();
        model.step(&mut world, action, &mut ev);
        world.commit();
        schedule.push(model.encode_action(action));
    }
    if next < items.len() {
        return Err(ReplayError::Spec {
            item: next + 1,
            text: items[next].to_owned(),
            why: format!(
                "the path ended after step {}, before this item: every actor had finished",
                schedule.len()
            ),
        });
    }
    replay(program, design, &schedule)
}

/// What can run, as a schedule names it, each with what it is: `t1 (dio-read app:buf f[0])`,
/// `dev:1 (the transfer of request 0 of dio-read app:buf f[0])`.
fn choices(program: &Program, design: &Design, world: &World, enabled: &[Action]) -> String {
    enabled
        .iter()
        .map(|&a| {
            let what = match a {
                Action::Actor(actor) => {
                    let def = &program.actors[actor];
                    def.ops
                        .get(world.actors.get(actor).pc as usize)
                        .map_or_else(String::new, |op| op.text.clone())
                }
                Action::Device(id) => {
                    let (op, step) = describe_device(program, design, world, id);
                    format!("{op}: {}", step.trim_start_matches("dev: "))
                }
            };
            format!("{} ({what})", label(program, enabled, a))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a `--schedule` item names, as things stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Named {
    /// An action that can run now.
    Runs(Action),
    /// An actor or a device step that cannot run now.
    Waits,
    /// An actor that has finished.
    Finished,
}

/// The action `text` names among `enabled`: `Waits` if it names an actor or device that
/// exists but cannot run now, `Finished` for an actor that is done, an error if it names
/// nothing.
fn resolve(
    program: &Program,
    world: &World,
    enabled: &[Action],
    text: &str,
) -> Result<Named, String> {
    if let Some(k) = text.strip_prefix("dev:") {
        let k: usize =
            k.parse().ok().filter(|&k| k >= 1).ok_or_else(|| {
                "`dev:K` needs K = 1, 2, …: the K-th pending device step".to_owned()
            })?;
        return Ok(enabled
            .iter()
            .filter(|a| matches!(a, Action::Device(_)))
            .nth(k - 1)
            .map_or(Named::Waits, |&a| Named::Runs(a)));
    }
    let actor = program
        .actors
        .iter()
        .position(|a| a.name == text)
        .ok_or_else(|| {
            let names: Vec<&str> = program.actors.iter().map(|a| a.name.as_str()).collect();
            format!(
                "no actor is called that: the actors are {}, and `dev:K` names the K-th pending device step",
                names.join(", ")
            )
        })?;
    Ok(if enabled.contains(&Action::Actor(actor)) {
        Named::Runs(Action::Actor(actor))
    } else if world.done(program, actor) {
        Named::Finished
    } else {
        Named::Waits
    })
}

/// Replays a token against `program`, refusing any mismatch of scenario, step table, design
/// or schedule.
pub fn replay_token(program: &Program, token: &str) -> Result<Trace, ReplayError> {
    let token = Token::decode(token)?;
    if token.input_hash != program.source.hash {
        return Err(ReplayError::Scenario {
            token: token.input_hash,
            file: program.source.hash,
        });
    }
    if token.step_table != STEP_TABLE_VERSION {
        return Err(ReplayError::StepTable {
            token: token.step_table,
            ours: STEP_TABLE_VERSION,
        });
    }
    let design =
        Design::parse(&token.config).map_err(|e| ReplayError::Design(token.config.clone(), e))?;
    replay(program, design, &token.schedule)
}

/// Replays `schedule` (encoded actions) under `design`, describing every step.
pub fn replay(program: &Program, design: Design, schedule: &[u32]) -> Result<Trace, ReplayError> {
    let model = KernelModel::new(program, design);
    // The explorer's replay checks that every step is enabled; this one re-runs it with a
    // detailed record, reading what each step changed off the world's undo log.
    biopin_explore::replay(&model, schedule)?;
    let mut world = model.init_state();
    let mut steps = Vec::new();
    let mut enabled = Vec::new();
    for &code in schedule {
        let action = model
            .decode_action(code)
            .expect("checked by the replay above");
        enabled.clear();
        model.enabled(&world, &mut enabled);
        let label = label(program, &enabled, action);
        let (who, lane, text, step) = match action {
            Action::Actor(actor) => {
                let state = world.actors.get(actor);
                let def = &program.actors[actor];
                let op = &def.ops[state.pc as usize];
                let step = actor_step_text(program, &world, &op.cmd, state.step, &design);
                (def.name.clone(), def.name.clone(), op.text.clone(), step)
            }
            Action::Device(id) => {
                let (op, step) = describe_device(program, &design, &world, id);
                ("device".to_owned(), format!("device: {op}"), op, step)
            }
        };
        let mut ev = Events::detailed();
        world.checkpoint();
        model.step(&mut world, action, &mut ev);
        steps.push(TraceStep {
            actor: who,
            lane,
            label,
            op: text,
            step: era_names(&design, step),
            changes: changes(program, &design, &world),
            notes: std::mem::take(&mut ev.notes)
                .into_iter()
                .map(|n| era_names(&design, n))
                .collect(),
            raised: fold_raised(std::mem::take(&mut ev.raised))
                .into_iter()
                .map(|(id, why)| (id, era_names(&design, why)))
                .collect(),
        });
        world.commit();
    }
    enabled.clear();
    model.enabled(&world, &mut enabled);
    let end = enabled.is_empty().then(|| {
        let mut ev = Events::detailed();
        model.finish(&world, &mut ev);
        fold_raised(ev.raised)
    });
    Ok(Trace {
        scenario: program.name.clone(),
        actors: program.actors.iter().map(|a| a.name.clone()).collect(),
        design,
        steps,
        end,
    })
}

/// Today's function names and the names a kernel of 2019 had for them, for the designs of that
/// era (`linux-5.0` and the 2019 proposals): the model follows today's code, and a trace under
/// those designs speaks that kernel's language.
const NAMES_2019: [(&str, &str); 12] = [
    ("folio_maybe_dma_pinned", "page_maybe_dma_pinned"),
    ("shrink_folio_list", "shrink_page_list"),
    ("folio_clear_dirty_for_io", "clear_page_dirty_for_io"),
    ("folio_end_writeback", "end_page_writeback"),
    ("folio_wait_writeback", "wait_on_page_writeback"),
    ("folio_wait_stable", "wait_for_stable_page"),
    ("filemap_read", "generic_file_buffered_read"),
    ("filemap_release_folio", "try_to_release_page"),
    ("read_cache_folio", "read_cache_page"),
    ("__filemap_remove_folio", "__delete_from_page_cache"),
    ("folio_mkclean", "page_mkclean"),
    ("mmap_lock", "mmap_sem"),
];

/// `text` in the function names of `design`'s era ([`NAMES_2019`]).
pub fn era_names(design: &Design, text: String) -> String {
    use crate::design::Preset;
    if !matches!(
        design.preset(),
        Preset::Linux5_0 | Preset::Glisse2019 | Preset::Kara2019
    ) {
        return text;
    }
    NAMES_2019
        .iter()
        .fold(text, |t, (today, then)| t.replace(today, then))
}

/// How a schedule names `action` among `enabled`: the actor's name, or `dev:K`.
fn label(program: &Program, enabled: &[Action], action: Action) -> String {
    match action {
        Action::Actor(a) => program.actors[a].name.clone(),
        Action::Device(_) => {
            let k = enabled
                .iter()
                .filter(|a| matches!(a, Action::Device(_)))
                .position(|&a| a == action)
                .map_or(0, |k| k + 1);
            format!("dev:{k}")
        }
    }
}

/// An actor's next step in words. Most ops count their steps; `writeback`, `fsync` and
/// `reclaim` count pages instead (the next page to look at; for fsync, past the last page, its
/// wait), and take one step a folio.
fn actor_step_text(
    program: &Program,
    world: &World,
    cmd: &Cmd,
    step: u32,
    design: &Design,
) -> String {
    match cmd {
        Cmd::Writeback { file, sync } => {
            let f = &program.files[*file];
            if step >= f.pages {
                cmd.step_text(3, design)
            } else {
                format!(
                    "{} the next dirty folio of {} from page {step}: {}",
                    if *sync { "fsync" } else { "writeback" },
                    f.name,
                    cmd.step_text(0, design)
                )
            }
        }
        Cmd::Reclaim => {
            let (f, i) = world.cache.file_page(step);
            format!(
                "shrink_folio_list on the next cached folio from {}[{i}]: {}",
                program.files[f].name,
                cmd.step_text(0, design)
            )
        }
        _ => {
            let n = cmd.steps().len();
            let what = headline(world, cmd, step as usize, design);
            if n > 1 {
                format!("step {} of {n}: {what}", step + 1)
            } else {
                what
            }
        }
    }
}

/// What an actor's step does, as the design runs it and as the world stands before it: a load
/// or store through a mapped PTE takes no fault.
fn headline(world: &World, cmd: &Cmd, step: usize, design: &Design) -> String {
    match cmd {
        Cmd::Load(r, _) => match world.vm.pte(r.task, r.vma, r.pages.start) {
            Pte::Present { .. } => "load through the mapped PTE (no fault)".into(),
            Pte::Dangling { .. } => "load through a PTE whose frame was freed under it: a use-after-free, where the model stops the load (EFAULT)".into(),
            _ => "handle_mm_fault on a missing PTE (the handler is named below), then load".into(),
        },
        Cmd::Store(r, _) => match world.vm.pte(r.task, r.vma, r.pages.start) {
            Pte::Present { write: true, .. } => "store through the writable PTE (no fault)".into(),
            Pte::Dangling { .. } => "store through a PTE whose frame was freed under it: a use-after-free, where the model stops the store (EFAULT)".into(),
            Pte::Present { write: false, .. } => "handle_mm_fault on a write-protected PTE (do_wp_page, or wp_page_shared on a shared mapping: named below), then store".into(),
            _ => "handle_mm_fault on a missing PTE (the handler is named below), then store".into(),
        },
        _ => cmd.step_text(step, design),
    }
}

/// A pending device step in words: the op it belongs to, and what it does.
fn describe_device(program: &Program, design: &Design, world: &World, id: u32) -> (String, String) {
    let (o, step) = match program.device_step(id) {
        DeviceStep::Dio { io, step } => (io, step),
        wb @ (DeviceStep::WbTransfer(slot) | DeviceStep::WbEnd(slot)) => {
            let (f, i) = world.cache.file_page(slot);
            let what = format!("writeback of {}[{i}]", program.files[f].name);
            let step = if matches!(wb, DeviceStep::WbTransfer(_)) {
                "dev: the transfer to the disk"
            } else {
                "dev: folio_end_writeback (and bio_put)"
            };
            return (what, step.to_owned());
        }
    };
    let def = &program.ios[o];
    let op = program.actors[def.actor]
        .ops
        .iter()
        .find(|op| matches!(op.cmd, crate::program::Cmd::Dio { io, .. } if io == o))
        .map_or_else(String::new, |op| op.text.clone());
    let step = match step {
        DevStep::Transfer(p) => {
            let b = world.io.bio_of_piece(o, p);
            let piece = world.io.piece(o, p);
            let bio = world.io.bio(o, b);
            let from = u64::from(bio.start) + u64::from(piece.start);
            let what = if piece.clone {
                "a split clone of"
            } else if piece.start == 0 && piece.len == bio.size {
                "all of"
            } else {
                "the rest of"
            };
            format!(
                "dev: the transfer of request {p} ({what} bio {b}: bytes {from}..{})",
                from + u64::from(piece.len)
            )
        }
        DevStep::EndIo(b) if design.bio_refs == BioRefs::Ref => format!(
            "dev: bio {b} completes: dio_bio_complete releases its pages (set_page_dirty_lock for a read, put_page)"
        ),
        DevStep::EndIo(b) => format!("dev: bio {b} completes (iomap_dio_bio_end_io)"),
        DevStep::Release(b) => format!(
            "dev: bio {b}'s release ({}: {}; bio_put)",
            if def.write {
                "bio_release_pages"
            } else {
                "bio_check_pages_dirty, then bio_release_pages"
            },
            match design.bio_refs {
                BioRefs::Ref => "put_page each page",
                BioRefs::VecFlag => "unpin_user_page or put_page as each bvec's flag says",
                BioRefs::AllPins => "unpin every page, unconditionally",
                BioRefs::PinnedFlag =>
                    "BIO_PAGE_PINNED: unpin_user_folio once per folio segment, as from 6.12 (6.5 to 6.11 unpinned page by page, unpin_user_page)",
            }
        ),
        DevStep::DirtyWork(b) => format!("dev: bio_dirty_work re-dirties and releases bio {b}"),
    };
    (op, step)
}

/// Page flags by their kernel names; the allocator's own bit (`IN_USE`) is not shown.
fn flags_text(flags: PageFlags) -> String {
    let names: Vec<&str> = flags
        .iter()
        .filter_map(|f| {
            Some(match f {
                PageFlags::TAIL => "tail",
                PageFlags::ZERO => "zero-page",
                PageFlags::ANON => "anon",
                PageFlags::ANON_EXCLUSIVE => "PageAnonExclusive",
                PageFlags::DIRTY => "PG_dirty",
                PageFlags::WRITEBACK => "PG_writeback",
                PageFlags::PRIVATE => "PG_private (buffers)",
                PageFlags::BUFFERED_FS => "ext4",
                PageFlags::CACHE => "page-cache",
                _ => return None,
            })
        })
        .collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join("|")
    }
}

fn frame_changes(
    mem: &MemMap,
    pfn: Pfn,
    a: &Frame,
    b: &Frame,
    hidden: PageFlags,
) -> Option<String> {
    let label = if mem.is_zero_page(pfn) {
        format!("{pfn} (zero page)")
    } else {
        format!("{pfn} ({})", mem.zone(pfn).name())
    };
    if !a.flags.contains(PageFlags::IN_USE)
        && b.flags.contains(PageFlags::IN_USE)
        && !b.flags.contains(PageFlags::TAIL)
    {
        let mut line = format!(
            "{label}: allocated, order {}, _refcount {}",
            b.order, b.refcount
        );
        if b.pincount != 0 || b.order > 0 {
            line += &format!(", _pincount {}", b.pincount);
        }
        if b.mapcount != 0 {
            line += &format!(", mapcount {}", b.mapcount);
        }
        let flags = b.flags - PageFlags::IN_USE - hidden;
        if !flags.is_empty() {
            line += &format!(", flags {}", flags_text(flags));
        }
        return Some(line);
    }
    if a.flags.contains(PageFlags::IN_USE) && !b.flags.contains(PageFlags::IN_USE) {
        return Some(format!("{label}: freed"));
    }
    let mut parts = Vec::new();
    if a.refcount != b.refcount {
        parts.push(format!("_refcount {} → {}", a.refcount, b.refcount));
    }
    if a.pincount != b.pincount {
        parts.push(format!("_pincount {} → {}", a.pincount, b.pincount));
    }
    if a.mapcount != b.mapcount {
        parts.push(format!("mapcount {} → {}", a.mapcount, b.mapcount));
    }
    if a.flags - hidden != b.flags - hidden {
        parts.push(format!(
            "flags {} → {}",
            flags_text(a.flags - hidden),
            flags_text(b.flags - hidden)
        ));
    }
    (!parts.is_empty()).then(|| format!("{label}: {}", parts.join(", ")))
}

fn content_text(program: &Program, c: PageContent) -> String {
    let who = match c.writer {
        Writer::Kernel => "kernel".to_owned(),
        Writer::Device(t) => format!("device for {}", program.processes[t as usize].name),
        Writer::Task(t) => program.processes[t as usize].name.clone(),
    };
    format!("{:#04x} ({who})", c.value)
}

fn pte_text(pte: &Pte) -> String {
    match pte {
        Pte::None => "none".into(),
        Pte::Present { pfn, write } => format!("{pfn} {}", if *write { "rw" } else { "r" }),
        Pte::Dangling { pfn } => format!("{pfn} (freed)"),
        Pte::Unmapped => "unmapped".into(),
    }
}

fn handle_text(program: &Program, world: &World, h: HandleId) -> String {
    match world.handles.state(h) {
        Handle::Unbound => "unbound".into(),
        Handle::Failed => "bind failed".into(),
        Handle::Released { .. } => "released".into(),
        Handle::Held { calls } => {
            let what = match program.handles[h].kind {
                _ if program.handles[h].rdma => "registration",
                GupKind::Get => "reference",
                GupKind::Pin => "pin",
            };
            let held = world.handles.pages(h);
            let pages = pfn_ranges(held.iter().map(|p| p.pfn.0));
            let dangling = held.iter().filter(|p| p.dangling).count();
            let unreliable = held.iter().filter(|p| p.unreliable).count();
            let mut freed = String::new();
            if dangling > 0 {
                freed += &format!(", {dangling} freed under it");
            }
            if unreliable > 0 {
                freed += &format!(", {unreliable} no longer mapped by its address");
            }
            format!(
                "holds {calls} {what}{} on pfn {pages}{freed}",
                if calls == 1 { "" } else { "s" },
            )
        }
    }
}

/// Frame numbers with runs written `a–b`: `0–511,600`.
fn pfn_ranges(pfns: impl Iterator<Item = u32>) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for p in pfns {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == p => *end = p,
            _ => runs.push((p, p)),
        }
    }
    runs.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What the step just taken changed in `world`, in words, in a fixed order (tasks and their
/// VMAs and PTEs, frames and their contents, the vmstat counters, handles), read off the
/// world's undo log since the step's checkpoint.
pub fn changes(program: &Program, design: &Design, world: &World) -> Vec<String> {
    // PageAnonExclusive exists from 5.19 (the `cow` knob's PageAnonExclusive eras); before,
    // the model keeps the bit but no kernel had it, so a trace does not show it.
    let hidden = match design.cow {
        Cow::Mapcount | Cow::Refcount => PageFlags::ANON_EXCLUSIVE,
        Cow::PaeAnonOnly | Cow::AnonExclusive => PageFlags::empty(),
    };
    let mut out = Vec::new();
    let vm = world.vm.changed_since_checkpoint();
    for (t, p) in program.processes.iter().enumerate() {
        let pname = &p.name;
        if let Some(&(_, old)) = vm.tasks.iter().find(|&&(u, _)| u == t) {
            let now = world.vm.task(t);
            if old.life != now.life {
                out.push(match now.life {
                    Life::Exited => format!("task {pname}: exited"),
                    Life::Alive => format!("task {pname}: forked"),
                    Life::Failed => format!("task {pname}: its fork failed"),
                    Life::Unborn => format!("task {pname}: unborn"),
                });
            }
            // write_protect_seq came in 5.11 with the GUP-fast recheck (gup_fast_fork).
            if old.write_protect_seq != now.write_protect_seq
                && design.gup_fast_fork == GupFastFork::Seqcount
            {
                out.push(format!(
                    "task {pname}: write_protect_seq {} → {}",
                    old.write_protect_seq, now.write_protect_seq
                ));
            }
            // mm->has_pinned came with fork's early copy of pinned pages (5.10; the
            // MMF_HAS_PINNED flag in 5.13): not before the refcount COW rule.
            if !old.has_pinned && now.has_pinned && design.cow != Cow::Mapcount {
                out.push(format!("task {pname}: MMF_HAS_PINNED set"));
            }
        }
        for (v, spec) in p.vmas.iter().enumerate() {
            let vname = &spec.name;
            if let Some(&(_, _, va)) = vm.vmas.iter().find(|&&(u, w, _)| (u, w) == (t, v)) {
                let vb = world.vm.vma(t, v);
                if va.mapped && !vb.mapped {
                    out.push(format!("{pname}:{vname}: unmapped"));
                } else if !va.mapped && vb.mapped {
                    out.push(format!("{pname}:{vname}: mapped {}", vb.prot.name()));
                } else if va.prot != vb.prot {
                    out.push(format!(
                        "{pname}:{vname}: prot {} → {}",
                        va.prot.name(),
                        vb.prot.name()
                    ));
                }
            }
            for &(_, _, i, pa) in vm.ptes.iter().filter(|&&(u, w, _, _)| (u, w) == (t, v)) {
                out.push(format!(
                    "{pname}:{vname}[{i}]: PTE {} → {}",
                    pte_text(&pa),
                    pte_text(&world.vm.pte(t, v, i))
                ));
            }
        }
    }
    for (f, i, old) in world.cache.changed_since_checkpoint() {
        let fname = &program.files[f].name;
        match (old.pfn, world.cache.lookup(f, i)) {
            (None, Some(pfn)) => out.push(format!("{fname}[{i}]: cached at {pfn}")),
            (Some(a), Some(b)) => out.push(format!("{fname}[{i}]: cached at {a} → {b}")),
            (Some(pfn), None) => {
                out.push(format!("{fname}[{i}]: {pfn} removed from the page cache"))
            }
            (None, None) => {}
        }
    }
    for (f, i, old) in world.cache.disk_changed_since_checkpoint() {
        out.push(format!(
            "{}[{i}] on disk: {} → {}",
            program.files[f].name,
            content_text(program, old),
            content_text(program, world.cache.block(f, i))
        ));
    }
    let mem = &world.mem;
    for (pfn, x, ca) in mem.changed_since_checkpoint() {
        let y = mem.frame(pfn);
        if x != y
            && !(y.flags.contains(PageFlags::TAIL)
                && x.flags.contains(PageFlags::IN_USE) != y.flags.contains(PageFlags::IN_USE))
        {
            out.extend(frame_changes(mem, pfn, &x, &y, hidden));
        }
        let cb = mem.content(pfn);
        if ca != cb && mem.in_use(pfn) {
            if x.flags.contains(PageFlags::IN_USE) {
                out.push(format!(
                    "{pfn}: holds {} → {}",
                    content_text(program, ca),
                    content_text(program, cb)
                ));
            } else {
                out.push(format!("{pfn}: now holds {}", content_text(program, cb)));
            }
        }
    }
    let (sa, sb) = (mem.vmstat_at_checkpoint(), mem.vmstat());
    if sa.nr_foll_pin_acquired != sb.nr_foll_pin_acquired {
        out.push(format!(
            "nr_foll_pin_acquired {} → {}",
            sa.nr_foll_pin_acquired, sb.nr_foll_pin_acquired
        ));
    }
    if sa.nr_foll_pin_released != sb.nr_foll_pin_released {
        out.push(format!(
            "nr_foll_pin_released {} → {}",
            sa.nr_foll_pin_released, sb.nr_foll_pin_released
        ));
    }
    for (o, b, old) in world.io.bios_changed_since_checkpoint() {
        let now = world.io.bio(o, b);
        if old.stage != now.stage {
            out.push(format!(
                "bio {b} of direct I/O {o}: {} → {}",
                bio_stage_text(old.stage),
                bio_stage_text(now.stage)
            ));
        }
    }
    for h in world.handles.changed_since_checkpoint() {
        out.push(format!(
            "handle {}: {}",
            program.handles[h].name,
            handle_text(program, world, h)
        ));
    }
    fold_runs(out)
}

/// A line split into its text and its decimal numbers, each kept as written:
/// `app:buf[3]: PTE none → pfn 7 rw` is `["app:buf[", "]: PTE none → pfn ", " rw"]` and
/// `[(3, "3"), (7, "7")]`.
fn numbers(line: &str) -> (Vec<&str>, Vec<(u64, &str)>) {
    let mut texts = Vec::new();
    let mut nums = Vec::new();
    let mut rest = line;
    loop {
        let start = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        texts.push(&rest[..start]);
        if start == rest.len() {
            break;
        }
        let len = rest[start..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - start);
        let digits = &rest[start..start + len];
        match digits.parse() {
            Ok(n) => nums.push((n, digits)),
            Err(_) => return (vec![line], Vec::new()),
        }
        rest = &rest[start + len..];
    }
    (texts, nums)
}

/// The fewest lines a run needs before [`fold_runs`] folds it.
const FOLD_AT: usize = 4;

/// Folds runs of lines that differ only in numbers that each stay the same or go up by one
/// from line to line (a 512-page THP's PTEs, its subpages' counts, the same check failing on
/// each page) into one line, each moving number written `first–last`, with the run's length:
/// `app:buf[0–511]: PTE none → pfn 4–515 rw (×512)`.
fn fold_runs(lines: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let (texts, first) = numbers(&lines[i]);
        let mut prev = first.clone();
        let mut end = i + 1;
        let mut step: Option<Vec<u64>> = None;
        while end < lines.len() {
            let (t, n) = numbers(&lines[end]);
            if t != texts || n.len() != first.len() {
                break;
            }
            let d: Option<Vec<u64>> = n
                .iter()
                .zip(&prev)
                .map(|(&(a, _), &(b, _))| match a.checked_sub(b) {
                    Some(d @ (0 | 1)) => Some(d),
                    _ => None,
                })
                .collect();
            let Some(d) = d else { break };
            if step.as_ref().is_some_and(|s| *s != d) {
                break;
            }
            step = Some(d);
            prev = n;
            end += 1;
        }
        if end - i < FOLD_AT {
            out.extend(lines[i..end].iter().cloned());
        } else {
            let last = prev;
            let mut line = String::new();
            for (k, text) in texts.iter().enumerate() {
                line += text;
                if let (Some(&(a, written)), Some(&(b, _))) = (first.get(k), last.get(k)) {
                    if a == b {
                        line += written;
                    } else {
                        line += &format!("{a}–{b}");
                    }
                }
            }
            out.push(format!("{line} (×{})", end - i));
        }
        i = end;
    }
    out
}

/// What a step raised, each invariant once, in the order first raised, with its explanations
/// folded ([`fold_runs`]): a check that fails on each of 512 pages says so in one line.
fn fold_raised(raised: Vec<(Invariant, String)>) -> Vec<(Invariant, String)> {
    let mut ids: Vec<Invariant> = Vec::new();
    for (id, _) in &raised {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    ids.into_iter()
        .flat_map(|id| {
            let texts: Vec<String> = raised
                .iter()
                .filter(|(i, _)| *i == id)
                .map(|(_, t)| t.clone())
                .collect();
            fold_runs(texts).into_iter().map(move |t| (id, t))
        })
        .collect()
}

fn bio_stage_text(stage: BioStage) -> &'static str {
    match stage {
        BioStage::Unused => "not built",
        BioStage::InFlight => "submitted",
        BioStage::Ended => "completed, pages still held",
        BioStage::DirtyWork => "queued on bio_dirty_work",
        BioStage::Released => "released",
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn raised(f: &mut fmt::Formatter<'_>, list: &[(Invariant, String)]) -> fmt::Result {
            for (id, why) in list {
                writeln!(f, "       !! {id}: {why}")?;
                writeln!(f, "          ({id}: {})", id.meaning())?;
            }
            Ok(())
        }
        writeln!(f, "{} under {}", self.scenario, self.design)?;
        writeln!(f, "schedule: {}", self.schedule_text())?;
        for (i, s) in self.steps.iter().enumerate() {
            let mark = if s.raised.is_empty() {
                String::new()
            } else {
                let mut ids: Vec<&str> = s.raised.iter().map(|(id, _)| id.id()).collect();
                ids.dedup();
                format!("   <== {}", ids.join(", "))
            };
            writeln!(f, "{:>3}. [{}] {}{mark}", i + 1, s.actor, s.op)?;
            writeln!(f, "       {}", s.step)?;
            for c in &s.changes {
                writeln!(f, "       {c}")?;
            }
            for n in &s.notes {
                writeln!(f, "       ({n})")?;
            }
            raised(f, &s.raised)?;
        }
        match &self.end {
            Some(list) if list.is_empty() => {
                writeln!(f, "end of path: every end-state check holds")?
            }
            Some(list) => {
                writeln!(
                    f,
                    "end of path (the final sync, then the end-state checks):   <== violations"
                )?;
                raised(f, list)?;
            }
            None => writeln!(f, "(the schedule stops here; the path goes on)")?,
        }
        let verdict = self.verdict();
        write!(f, "violations: {}", crate::scenario::verdict_text(&verdict))
    }
}

#[cfg(test)]
mod tests {
    use super::fold_runs;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn frame_numbers_fold_into_runs() {
        assert_eq!(
            super::pfn_ranges([0, 1, 2, 5, 7, 8].into_iter()),
            "0–2,5,7–8"
        );
        assert_eq!(super::pfn_ranges(std::iter::empty()), "");
    }

    #[test]
    fn runs_of_numbered_lines_fold_and_others_stay() {
        let ptes: Vec<String> = (0..512)
            .map(|i| format!("app:buf[{i}]: PTE none → pfn {} rw", 4 + i))
            .collect();
        assert_eq!(
            fold_runs(ptes),
            ["app:buf[0–511]: PTE none → pfn 4–515 rw (×512)"]
        );
        // Too short a run, a gap, or a number that moves differently: kept as they are.
        let mixed = lines(&[
            "pfn 4 (normal): mapcount 0 → 1",
            "pfn 5 (normal): mapcount 0 → 1",
            "pfn 7 (normal): mapcount 0 → 1",
            "pfn 8 (normal): mapcount 1 → 2",
            "pfn 9 (normal): mapcount 2 → 3",
        ]);
        assert_eq!(fold_runs(mixed.clone()), mixed);
        // Leading zeros are kept; identical lines fold too.
        let same = vec!["pfn 3: holds 0x00 → 0x5a".to_owned(); 4];
        assert_eq!(fold_runs(same), ["pfn 3: holds 0x00 → 0x5a (×4)"]);
        // A constant number (the zero page) folds with a moving one.
        let zero: Vec<String> = (0..4)
            .map(|i| format!("app:buf[{i}]: PTE none → pfn 1 r"))
            .collect();
        assert_eq!(fold_runs(zero), ["app:buf[0–3]: PTE none → pfn 1 r (×4)"]);
    }
}
