//! A compiled scenario: names resolved to indices, every op checked and expanded into its
//! steps (DESIGN.md §2). Immutable and shared by every state the explorer visits.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::design::Design;
use crate::errno::Errno;
use crate::gup::UserRange;
use crate::mm::Zone;
use crate::scenario::op::{Addr, Assertion, GupKind, Name, Op, ReleaseKind};
use crate::scenario::{Machine, OpLine, ProcessSpec, Scenario, ScenarioError, Source, Verdict};
use crate::vm::{Prot, TaskId, VmaId};

/// The version of the step table below: part of every replay token, bumped whenever an op's
/// split into steps changes, so that an old token is refused rather than replayed as a
/// different schedule.
pub const STEP_TABLE_VERSION: u32 = 1;

/// A handle's index.
pub type HandleId = usize;
/// An actor's index: 0 is the prologue, the last is the epilogue.
pub type ActorId = usize;

/// What part of a run an actor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs first, alone.
    Prologue,
    /// Interleaves with the other actors.
    Actor,
    /// Runs last, alone.
    Epilogue,
}

/// A scenario assertion with its names resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// `assert refcount`.
    Refcount(UserRange, i64),
    /// `assert pincount`.
    Pincount(UserRange, i64),
    /// `assert pinned` / `not-pinned`.
    Pinned(UserRange, bool),
    /// `assert zone`.
    Zone(UserRange, Zone),
    /// `assert same-frame`.
    SameFrame(HandleId, UserRange),
}

/// An op with its names resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `store`.
    Store(UserRange, u8),
    /// `load`.
    Load(UserRange, Option<u8>),
    /// `exit`.
    Exit(TaskId),
    /// `munmap`.
    Munmap(TaskId, VmaId),
    /// `mprotect`.
    Mprotect(TaskId, VmaId, Prot),
    /// `get` / `pin`.
    Gup {
        /// get or pin.
        kind: GupKind,
        /// The pages.
        range: UserRange,
        /// FOLL_WRITE.
        write: bool,
        /// FOLL_LONGTERM.
        longterm: bool,
        /// The `_fast` variant (two steps).
        fast: bool,
        /// Calls.
        times: u64,
        /// The handle bound.
        handle: HandleId,
    },
    /// `put` / `unpin`.
    Release(ReleaseKind, HandleId, bool),
    /// `dma-write`.
    DmaWrite(HandleId, u8),
    /// `dma-read`.
    DmaRead(HandleId, Option<u8>),
    /// `assert`.
    Assert(Check),
}

impl Cmd {
    /// The op's steps, in order (DESIGN.md §2's table): what `biopin explain` prints.
    pub fn steps(&self) -> &'static [&'static str] {
        match self {
            Cmd::Store(..) => &["fault (do_anonymous_page / do_wp_page) and store"],
            Cmd::Load(..) => &["fault (zero page) and load"],
            Cmd::Exit(..) => &["exit_mmap: zap every PTE"],
            Cmd::Munmap(..) => &["munmap: zap every PTE of the VMA"],
            Cmd::Mprotect(..) => &["mprotect: change the VMA and its PTEs"],
            Cmd::Gup { fast: true, .. } => &[
                "gup-fast: sample write_protect_seq, read the PTEs, grab the folios",
                "gup-fast: recheck PTEs (and the sequence); keep, or drop and take the slow path",
            ],
            Cmd::Gup {
                kind: GupKind::Get, ..
            } => &["get_user_pages with mmap_lock held: fault and grab"],
            Cmd::Gup {
                kind: GupKind::Pin,
                longterm: true,
                ..
            } => &[
                "pin_user_pages(FOLL_LONGTERM) with mmap_lock held: fault, migrate out of ZONE_MOVABLE (longterm_migrate = movable), grab",
            ],
            Cmd::Gup { .. } => &["pin_user_pages with mmap_lock held: fault and grab"],
            Cmd::Release(ReleaseKind::Put, _, true) => {
                &["set_page_dirty_lock, then put_page each page"]
            }
            Cmd::Release(ReleaseKind::Put, _, false) => &["put_page each page"],
            Cmd::Release(ReleaseKind::Unpin, _, true) => &["unpin_user_pages_dirty_lock"],
            Cmd::Release(ReleaseKind::Unpin, _, false) => &["unpin_user_pages"],
            Cmd::DmaWrite(..) => &["device writes every page the handle holds"],
            Cmd::DmaRead(..) => &["device reads every page the handle holds"],
            Cmd::Assert(..) => &["observe the model"],
        }
    }

    /// Pages a GUP-fast op reads between its two steps (0 for any other op).
    pub fn fast_pages(&self) -> u32 {
        match self {
            Cmd::Gup {
                fast: true, range, ..
            } => range.pages.len() as u32,
            _ => 0,
        }
    }

    /// The handle the op names without binding it, if any.
    pub fn uses_handle(&self) -> Option<HandleId> {
        match self {
            Cmd::Release(_, h, _) | Cmd::DmaWrite(h, _) | Cmd::DmaRead(h, _) => Some(*h),
            Cmd::Assert(Check::SameFrame(h, _)) => Some(*h),
            _ => None,
        }
    }
}

/// A compiled op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledOp {
    /// What it does.
    pub cmd: Cmd,
    /// `expect ERRNO`.
    pub expect: Option<Errno>,
    /// The op as written.
    pub text: String,
    /// The handle it waits for: one another actor binds.
    pub waits_for: Option<HandleId>,
}

/// An actor and its ops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorDef {
    /// Its name (`prologue` and `epilogue` for those).
    pub name: String,
    /// Its part of the run.
    pub role: Role,
    /// Its ops.
    pub ops: Vec<CompiledOp>,
}

/// A handle: who binds it and to what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandleDef {
    /// Its name.
    pub name: String,
    /// get or pin.
    pub kind: GupKind,
    /// How many pages it covers.
    pub pages: u32,
    /// Taken with FOLL_WRITE: a device may write through it.
    pub write: bool,
    /// The actor whose op binds it.
    pub binder: ActorId,
}

/// A compiled scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// `name`.
    pub name: String,
    /// `summary`.
    pub summary: String,
    /// Where it came from.
    pub source: Source,
    /// `[machine]`.
    pub machine: Machine,
    /// `[[process]]`.
    pub processes: Vec<ProcessSpec>,
    /// Every handle.
    pub handles: Vec<HandleDef>,
    /// The prologue, the actors, the epilogue.
    pub actors: Vec<ActorDef>,
    /// The designs checked by default: the file's `designs`, else every preset.
    pub designs: Vec<Design>,
    /// `[expect]`.
    pub expect: BTreeMap<Design, Verdict>,
}

impl Program {
    /// The verdict expected under `design`: its `[expect]` entry, else `ok`.
    pub fn expected(&self, design: &Design) -> Verdict {
        self.expect.get(design).cloned().unwrap_or_default()
    }

    /// Resolves names and checks every op of `scenario`.
    pub fn compile(scenario: &Scenario) -> Result<Program, ScenarioError> {
        Compiler { s: scenario }.compile()
    }
}

struct Compiler<'a> {
    s: &'a Scenario,
}

/// An actor's ops, before resolution.
struct OpList<'a> {
    name: String,
    role: Role,
    ops: &'a [OpLine],
}

impl OpList<'_> {
    /// The list in words: "the prologue", "actor `a`".
    fn who(&self) -> String {
        match self.role {
            Role::Actor => format!("actor `{}`", self.name),
            _ => format!("the {}", self.name),
        }
    }
}

/// Where a handle is bound.
struct Binding {
    actor: ActorId,
    op: usize,
}

impl Compiler<'_> {
    fn err(&self, at: Option<usize>, message: impl Into<String>) -> ScenarioError {
        let src = &self.s.source;
        ScenarioError::at(src.path.as_deref(), src.text.as_deref(), at, message)
    }

    fn err_spec(&self, at: &Option<Range<usize>>, message: impl Into<String>) -> ScenarioError {
        self.err(at.as_ref().map(|r| r.start), message)
    }

    /// An error at `at` (byte offsets into the op's text).
    fn err_op(
        &self,
        line: &OpLine,
        at: &Range<usize>,
        message: impl Into<String>,
    ) -> ScenarioError {
        match line.origin {
            Some(origin) => self.err(Some(origin + at.start), message),
            None => {
                let col = line.text[..at.start.min(line.text.len())].chars().count() + 1;
                let mut e = self.err(
                    None,
                    format!("op `{}`, column {col}: {}", line.text, message.into()),
                );
                e.path = self.s.source.path.clone();
                e
            }
        }
    }

    fn compile(&self) -> Result<Program, ScenarioError> {
        let s = self.s;
        crate::scenario::builder::check_machine(&s.machine).map_err(|(_, m)| self.err(None, m))?;
        let mut total_pages = 0u64;
        for (i, p) in s.processes.iter().enumerate() {
            if !crate::scenario::op::is_name(&p.name) {
                return Err(self.err_spec(&p.at, format!("`{}` is not a usable process name (letters, digits, `_`, `-`, `.`; starting with a letter)", p.name)));
            }
            if s.processes[..i].iter().any(|q| q.name == p.name) {
                return Err(self.err_spec(&p.at, format!("process `{}` is defined twice", p.name)));
            }
            for (j, v) in p.vmas.iter().enumerate() {
                if !crate::scenario::op::is_name(&v.name) {
                    return Err(self.err_spec(&v.at, format!("`{}` is not a usable VMA name (letters, digits, `_`, `-`, `.`; starting with a letter)", v.name)));
                }
                if p.vmas[..j].iter().any(|w| w.name == v.name) {
                    return Err(self.err_spec(
                        &v.at,
                        format!("VMA `{}` is defined twice in process `{}`", v.name, p.name),
                    ));
                }
                crate::scenario::builder::check_vma(i64::from(v.pages), v.huge)
                    .map_err(|m| self.err_spec(&v.at, m))?;
                total_pages += u64::from(v.pages);
                crate::scenario::builder::check_total_pages(total_pages)
                    .map_err(|m| self.err_spec(&v.at, m))?;
            }
        }
        let mut lists = vec![OpList {
            name: "prologue".into(),
            role: Role::Prologue,
            ops: &s.prologue,
        }];
        for (i, a) in s.actors.iter().enumerate() {
            if s.actors[..i].iter().any(|b| b.name == a.name) {
                return Err(self.err_spec(&a.at, format!("actor `{}` is defined twice", a.name)));
            }
            lists.push(OpList {
                name: a.name.clone(),
                role: Role::Actor,
                ops: &a.ops,
            });
        }
        lists.push(OpList {
            name: "epilogue".into(),
            role: Role::Epilogue,
            ops: &s.epilogue,
        });
        if lists.iter().all(|l| l.ops.is_empty()) {
            return Err(self.err(
                None,
                "the scenario has no ops: give an [[actor]] ops, or a prologue",
            ));
        }

        // Pass 1: every handle and where it is bound.
        let mut handles: Vec<HandleDef> = Vec::new();
        let mut bindings: Vec<Binding> = Vec::new();
        for (a, list) in lists.iter().enumerate() {
            for (i, line) in list.ops.iter().enumerate() {
                if let Op::Gup {
                    kind,
                    addr,
                    write,
                    handle,
                    ..
                } = &line.op
                {
                    if let Some(first) = handles.iter().position(|h| h.name == handle.text) {
                        let by = lists[handles[first].binder].who();
                        return Err(self.err_op(line, &handle.at, format!("handle `{}` is bound twice (first by {by}): a name is bound once per scenario", handle.text)));
                    }
                    let range = self.range(line, addr)?;
                    handles.push(HandleDef {
                        name: handle.text.clone(),
                        kind: *kind,
                        pages: range.pages.len() as u32,
                        write: *write,
                        binder: a,
                    });
                    bindings.push(Binding { actor: a, op: i });
                }
            }
        }

        // Pass 2: resolve every op.
        let resolver = Resolver {
            c: self,
            lists: &lists,
            handles: &handles,
            bindings: &bindings,
        };
        let mut actors = Vec::new();
        for (a, list) in lists.iter().enumerate() {
            let mut compiled = Vec::new();
            for (i, line) in list.ops.iter().enumerate() {
                compiled.push(resolver.op(line, a, i)?);
            }
            actors.push(ActorDef {
                name: list.name.clone(),
                role: list.role,
                ops: compiled,
            });
        }

        let designs = match &s.designs {
            None => Design::all(),
            Some(list) => {
                for (i, (d, at)) in list.iter().enumerate() {
                    if list[..i].iter().any(|(e, _)| e == d) {
                        return Err(self.err_spec(at, format!("design `{d}` is listed twice")));
                    }
                }
                list.iter().map(|(d, _)| *d).collect()
            }
        };
        let mut expect = BTreeMap::new();
        for (design, verdict, at) in &s.expect {
            if s.designs.is_some() && !designs.contains(design) {
                return Err(self.err_spec(at, format!("[expect] names `{design}`, which `designs` does not list: add it there or drop this line")));
            }
            if expect.insert(*design, verdict.clone()).is_some() {
                return Err(self.err_spec(at, format!("[expect] names `{design}` twice")));
            }
        }
        Ok(Program {
            name: s.name.clone(),
            summary: s.summary.clone(),
            source: s.source.clone(),
            machine: s.machine,
            processes: s.processes.clone(),
            handles,
            actors,
            designs,
            expect,
        })
    }

    fn task(&self, line: &OpLine, name: &Name) -> Result<TaskId, ScenarioError> {
        self.s
            .processes
            .iter()
            .position(|p| p.name == name.text)
            .ok_or_else(|| {
                let known: Vec<_> = self
                    .s
                    .processes
                    .iter()
                    .map(|p| format!("`{}`", p.name))
                    .collect();
                let known = if known.is_empty() {
                    "none is defined (add a [[process]])".into()
                } else {
                    format!("the processes are {}", known.join(", "))
                };
                self.err_op(
                    line,
                    &name.at,
                    format!("unknown process `{}`: {known}", name.text),
                )
            })
    }

    fn range(&self, line: &OpLine, addr: &Addr) -> Result<UserRange, ScenarioError> {
        let task = self.task(line, &addr.task)?;
        let p = &self.s.processes[task];
        let vma = p
            .vmas
            .iter()
            .position(|v| v.name == addr.vma.text)
            .ok_or_else(|| {
                let known: Vec<_> = p.vmas.iter().map(|v| format!("`{}`", v.name)).collect();
                self.err_op(
                    line,
                    &addr.vma.at,
                    format!(
                        "unknown VMA `{}` in process `{}`: its VMAs are {}",
                        addr.vma.text,
                        p.name,
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })?;
        let size = p.vmas[vma].pages;
        let pages = match &addr.pages {
            None => 0..size,
            Some(r) if r.end <= size => r.clone(),
            Some(r) => {
                let last = if r.len() == 1 {
                    format!("page {}", r.start)
                } else {
                    format!("pages {}..{}", r.start, r.end)
                };
                return Err(self.err_op(
                    line,
                    &addr.pages_at,
                    format!(
                        "{last} is past the end of `{}:{}`, which has {size} pages (0..{size})",
                        p.name, addr.vma.text
                    ),
                ));
            }
        };
        Ok(UserRange { task, vma, pages })
    }
}

/// Resolves ops once every handle's binding is known.
struct Resolver<'a> {
    c: &'a Compiler<'a>,
    lists: &'a [OpList<'a>],
    handles: &'a [HandleDef],
    bindings: &'a [Binding],
}

impl Resolver<'_> {
    fn op(&self, line: &OpLine, actor: ActorId, index: usize) -> Result<CompiledOp, ScenarioError> {
        let (c, lists, handles, bindings) = (self.c, self.lists, self.handles, self.bindings);
        let role = lists[actor].role;
        let mut waits_for = None;
        let mut handle = |name: &Name| -> Result<HandleId, ScenarioError> {
            let id = handles.iter().position(|h| h.name == name.text).ok_or_else(|| {
                c.err_op(line, &name.at, format!("unknown handle `{}`: no op binds it (bind one with `get ... as {0}` or `pin ... as {0}`)", name.text))
            })?;
            let b = &bindings[id];
            let binder = &lists[b.actor];
            if b.actor == actor {
                if b.op >= index {
                    return Err(c.err_op(
                        line,
                        &name.at,
                        format!("handle `{}` is used before the op that binds it", name.text),
                    ));
                }
            } else if role == Role::Prologue {
                return Err(c.err_op(line, &name.at, format!("the prologue runs first and alone: it cannot use handle `{}`, which {} binds", name.text, binder.who())));
            } else if binder.role == Role::Epilogue {
                return Err(c.err_op(
                    line,
                    &name.at,
                    format!(
                        "handle `{}` is bound by the epilogue, which runs after every actor",
                        name.text
                    ),
                ));
            } else if role == Role::Actor && binder.role == Role::Actor {
                waits_for = Some(id);
            }
            Ok(id)
        };
        let cmd = match &line.op {
            Op::Store(a, v) => Cmd::Store(c.range(line, a)?, *v),
            Op::Load(a, v) => Cmd::Load(c.range(line, a)?, *v),
            Op::Exit(p) => Cmd::Exit(c.task(line, p)?),
            Op::Munmap(a) => {
                let r = c.range(line, a)?;
                Cmd::Munmap(r.task, r.vma)
            }
            Op::Mprotect(a, prot) => {
                let r = c.range(line, a)?;
                Cmd::Mprotect(r.task, r.vma, *prot)
            }
            Op::Gup {
                kind,
                addr,
                write,
                longterm,
                fast,
                times,
                handle: h,
            } => Cmd::Gup {
                kind: *kind,
                range: c.range(line, addr)?,
                write: *write,
                longterm: *longterm,
                fast: *fast,
                times: *times,
                handle: handles
                    .iter()
                    .position(|d| d.name == h.text)
                    .expect("bound in pass 1"),
            },
            Op::Release(kind, h, dirty) => Cmd::Release(*kind, handle(h)?, *dirty),
            Op::DmaWrite(h, v) => {
                let id = handle(h)?;
                if !handles[id].write {
                    return Err(c.err_op(line, &h.at, format!("handle `{}` was taken without `write`: a device writes only through pages taken with FOLL_WRITE (add `write` to its get or pin)", h.text)));
                }
                Cmd::DmaWrite(id, *v)
            }
            Op::DmaRead(h, v) => Cmd::DmaRead(handle(h)?, *v),
            Op::Assert(a) => Cmd::Assert(match a {
                Assertion::Refcount(a, n) => Check::Refcount(c.range(line, a)?, *n),
                Assertion::Pincount(a, n) => {
                    let r = c.range(line, a)?;
                    let v = &c.s.processes[r.task].vmas[r.vma];
                    if !v.huge {
                        return Err(c.err_op(line, &a.vma.at, format!("`_pincount` exists only for large folios and `{}:{}` is not huge: use `assert pinned` or `assert refcount`", a.task.text, a.vma.text)));
                    }
                    Check::Pincount(r, *n)
                }
                Assertion::Pinned(a, yes) => Check::Pinned(c.range(line, a)?, *yes),
                Assertion::Zone(a, z) => Check::Zone(c.range(line, a)?, *z),
                Assertion::SameFrame(h, a) => {
                    let id = handle(h)?;
                    let r = c.range(line, a)?;
                    if r.pages.len() != handles[id].pages as usize {
                        return Err(c.err_op(
                            line,
                            &a.pages_at,
                            format!(
                                "handle `{}` holds {} pages but the address covers {}",
                                h.text,
                                handles[id].pages,
                                r.pages.len()
                            ),
                        ));
                    }
                    Check::SameFrame(id, r)
                }
            }),
        };
        Ok(CompiledOp {
            cmd,
            expect: line.expect,
            text: line.text.clone(),
            waits_for,
        })
    }
}
