//! A compiled scenario: names resolved to indices, every op checked and expanded into its
//! steps (docs/design.md). Immutable and shared by every state the explorer visits.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::block::{MAX_RW_COUNT, PAGE_SIZE, QueueLimits};
use crate::design::{Design, Gup};
use crate::errno::Errno;
use crate::gup::UserRange;
use crate::mm::Zone;
use crate::scenario::op::{Addr, Assertion, GupKind, Name, Op, ReleaseKind};
use crate::scenario::{
    FileSpec, Machine, OpLine, ProcessSpec, Scenario, ScenarioError, Source, Verdict, VmaSpec,
};
use crate::vm::{Prot, TaskId, VmaId};

/// The version of the step table below: part of every replay token, bumped whenever an op's
/// split into steps changes, so that an old token is refused rather than replayed as a
/// different schedule.
pub const STEP_TABLE_VERSION: u32 = 1;

/// A handle's index.
pub type HandleId = usize;
/// The index of a direct-I/O op ([`IoDef`]).
pub type IoId = usize;
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
    /// `fork`: two steps (decide and copy, then write-protect and share).
    Fork {
        /// The task that forks.
        parent: TaskId,
        /// The child it creates.
        child: TaskId,
    },
    /// `munmap` of the pages of a VMA.
    Munmap(UserRange),
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
    /// `vmsplice`: read-only FOLL_GET references taken into a pipe.
    Vmsplice(UserRange, HandleId),
    /// `pipe-read`.
    PipeRead(HandleId, Option<u8>),
    /// `dio-read` / `dio-write`: the I/O is `program.ios[io]`, into or from `task`'s memory.
    Dio {
        /// The I/O.
        io: IoId,
        /// The task whose memory it uses.
        task: TaskId,
    },
    /// `write FILE[i] V`: buffered write(2) of a whole page.
    Write {
        /// The file.
        file: usize,
        /// Its page.
        index: u32,
        /// The byte written.
        value: u8,
    },
    /// `read FILE[i] [== V]`: buffered read(2) of a whole page.
    Read {
        /// The file.
        file: usize,
        /// Its page.
        index: u32,
        /// The byte expected.
        want: Option<u8>,
    },
    /// `writeback FILE` (`sync`: `fsync FILE`): a folio a step, then (fsync) wait for the
    /// file's writeback to end. The step counter is the next file page to look at, or the
    /// file's page count while fsync waits.
    Writeback {
        /// The file.
        file: usize,
        /// An integrity sync (`WB_SYNC_ALL`), which waits.
        sync: bool,
    },
    /// `truncate FILE N`.
    Truncate {
        /// The file.
        file: usize,
        /// Its new size, in pages.
        pages: u32,
    },
    /// `reclaim`: a page-cache folio a step, over every file's pages in order. The step
    /// counter is the next page to look at, among every file's.
    Reclaim,
    /// `migrate A`.
    Migrate(UserRange),
    /// `rdma-reg`: a long-term writable GUP, as the design's `gup` says.
    RdmaReg(UserRange, HandleId),
    /// `rdma-reg-fd`: page-cache pages taken without GUP (the handle names them).
    RdmaRegFd(HandleId),
    /// `rdma-dereg`: release, dirtying.
    RdmaDereg(HandleId),
    /// `assert`.
    Assert(Check),
}

impl Cmd {
    /// The op's steps, in order (docs/design.md, Steps): what `biopin explain` prints.
    pub fn steps(&self) -> &'static [&'static str] {
        match self {
            Cmd::Store(..) => &[
                "fault (do_anonymous_page / do_cow_fault / do_wp_page; through a shared mapping do_shared_fault or wp_page_shared, which call page_mkwrite) and store",
            ],
            Cmd::Load(..) => &["fault (zero page or page cache) and load"],
            Cmd::Exit(..) => &["exit_mmap: zap every PTE"],
            Cmd::Fork { .. } => &[
                "fork: write_protect_seq odd; per page decide copy (copy it now) or share",
                "fork: write-protect and share what was decided shared; write_protect_seq even",
            ],
            Cmd::Munmap(..) => &["munmap: zap every PTE of the range"],
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
            Cmd::Vmsplice(..) => &[
                "vmsplice: iter_to_pipe → iov_iter_get_pages → get_user_pages_fast (FOLL_GET, read-only), into a pipe; one step here, which waits for fork's mmap_lock as GUP-fast's slow-path fallback would",
            ],
            Cmd::PipeRead(..) => &["read the pipe's pages, then put_page each"],
            Cmd::Dio { .. } => &[
                "O_DIRECT: extract the pages (iov_iter_extract_pages, or iov_iter_get_pages2 where gup = get), build the bios (bio_iov_iter_get_pages), bio_set_pages_dirty for a read (not under bio_refs = ref), split at the queue limits and submit; sleep until woken",
                "dev: each request's transfer (per split piece)",
                "dev: bio_endio: the last bio's completion wakes the caller (iomap_dio_done), and under bio_refs = ref releases the pages first (dio_bio_complete)",
                "dev: bio_check_pages_dirty (read) or bio_release_pages, then bio_put",
                "dev: bio_dirty_work, if a page was cleaned during the read",
            ],
            Cmd::Writeback { sync: false, .. } => &[
                "writeback, a dirty folio a step: lock, the writeback knob's pin test, folio_clear_dirty_for_io (whose folio_mkclean write-protects the mappings), set writeback, unlock, submit a bio (ext4 skips a folio without buffers)",
                "dev: the transfer to the disk",
                "dev: folio_end_writeback (and bio_put)",
            ],
            Cmd::Writeback { sync: true, .. } => &[
                "fsync, a dirty folio a step (waiting for one under writeback): lock, the writeback knob's pin test, folio_clear_dirty_for_io (whose folio_mkclean write-protects the mappings), set writeback, unlock, submit a bio",
                "dev: the transfer to the disk",
                "dev: folio_end_writeback (and bio_put)",
                "fsync: wait for the file's writeback to end (filemap_fdatawait)",
            ],
            Cmd::Reclaim => &[
                "shrink_folio_list, a page-cache folio a step: skip one under writeback; lock, try_to_unmap, (keep-pinned: keep a maybe-DMA-pinned one), pageout if dirty and held by the page cache alone, else release the buffers of a clean one and __remove_mapping if its count allows; unlock",
                "dev: pageout's transfer to the disk",
                "dev: folio_end_writeback",
            ],
            Cmd::Truncate { .. } => &[
                "truncate: wait for the writeback and the direct I/O of what it drops (folio_wait_writeback, inode_dio_wait); truncate_pagecache: zap every mapping past the end (private copies too), drop the pages' buffers, dirty bits and page-cache slots; free the blocks",
            ],
            Cmd::Migrate(..) => &[
                "migrate_pages of the folio behind each page: fails with EBUSY on an extra reference",
            ],
            Cmd::Write { .. } => &[
                "write(2): generic_perform_write (write_begin: the page-cache folio, folio_wait_stable, ext4 buffers; the copy; write_end: dirty)",
            ],
            Cmd::Read { .. } => {
                &["read(2): filemap_read (the page-cache folio, read in if absent)"]
            }
            Cmd::RdmaReg(..) => &[
                "ib_umem_get: FOLL_LONGTERM | FOLL_WRITE GUP with mmap_lock held (pin, or get where gup = get)",
            ],
            Cmd::RdmaRegFd(..) => &[
                "a registration of page-cache pages by file: read_cache_folio each (read in if absent), then a plain reference (get_page), or under bio_refs = all-pins a pin (get_gup_pin)",
            ],
            Cmd::RdmaDereg(..) => &[
                "ib_umem_release: unpin_user_page_range_dirty_lock over each folio run (or set_page_dirty_lock and put_page each page where gup = get)",
            ],
            Cmd::Assert(..) => &["observe the model"],
        }
    }

    /// Step `step` of the op as `design` runs it: the kernel functions that design's era calls,
    /// where they differ from [`Cmd::steps`]'s design-neutral text. What a trace prints (for
    /// `writeback`, `fsync` and `reclaim`, what is done to one folio).
    pub fn step_text(&self, step: usize, design: &Design) -> String {
        use crate::design::{BioRefs, LongtermMigrate, Reclaim, Writeback};
        let neutral = || self.steps()[step].to_owned();
        let pin = design.gup == Gup::Pin;
        match (self, step) {
            (
                Cmd::Gup {
                    kind: GupKind::Pin,
                    longterm: true,
                    fast: false,
                    ..
                },
                0,
            ) => match design.longterm_migrate {
                LongtermMigrate::Movable => "pin_user_pages(FOLL_LONGTERM) with mmap_lock held: fault and pin; a pinned folio in ZONE_MOVABLE is unpinned, migrated to a normal frame and the pin retried (__gup_longterm_locked → check_and_migrate_movable_pages; longterm_migrate = movable)".into(),
                LongtermMigrate::None => "pin_user_pages(FOLL_LONGTERM) with mmap_lock held: fault and grab, in place (longterm_migrate = none: before 5.13 nothing migrates a folio out of ZONE_MOVABLE)".into(),
            },
            (
                Cmd::Gup {
                    kind: GupKind::Get,
                    longterm: true,
                    fast: false,
                    ..
                },
                0,
            ) if pin => "get_user_pages(FOLL_LONGTERM): EINVAL from is_valid_gup_args, which allows FOLL_LONGTERM only with FOLL_PIN".into(),
            (Cmd::Dio { .. }, 0) => {
                use crate::design::Preset;
                // ext4 did direct I/O through fs/direct-io.c until 5.5, through iomap since.
                let old = design.preset() == Preset::Linux5_0;
                let extract = match (design.preset(), pin) {
                    (Preset::Linux5_0, false) => "iov_iter_get_pages (FOLL_GET)",
                    (Preset::Linux6_5 | Preset::Kara2023, false) => {
                        "iov_iter_get_pages2 (FOLL_GET)"
                    }
                    (Preset::Linux6_5 | Preset::Kara2023, true) => {
                        "iov_iter_extract_pages (FOLL_PIN)"
                    }
                    (_, true) => {
                        "FOLL_PIN GUP of the pages, as the design proposes (upstream's iov_iter_extract_pages came in 6.3)"
                    }
                    (_, false) => "iov_iter_get_pages (FOLL_GET)",
                };
                let build = if old && design.bio_refs == BioRefs::Ref {
                    "fs/direct-io.c: dio_refill_pages, then dio_bio_add_page → bio_add_page"
                } else {
                    "bio_iov_iter_get_pages"
                };
                format!(
                    "O_DIRECT: {extract}, build the bios ({build}{}), {}split at the queue limits and submit; sleep until woken",
                    match design.bio_refs {
                        BioRefs::Ref => "; the bio holds plain references",
                        BioRefs::VecFlag => "; each bvec records whether its page came from GUP",
                        BioRefs::AllPins => "; bio_add_page asserts every page is pinned",
                        BioRefs::PinnedFlag => "; BIO_PAGE_PINNED set for a pinned extraction",
                    },
                    if design.bio_refs == BioRefs::Ref {
                        "no bio_set_pages_dirty for a read (the completion dirties), "
                    } else {
                        "bio_set_pages_dirty for a read, "
                    }
                )
            }
            (Cmd::Gup { fast: true, .. }, 0)
                if design.gup_fast_fork == crate::design::GupFastFork::Racy =>
            {
                "gup-fast: read the PTEs, grab the folios (no write_protect_seq before 5.11: gup_fast_fork = racy)".into()
            }
            (Cmd::Gup { fast: true, .. }, 1)
                if design.gup_fast_fork == crate::design::GupFastFork::Racy =>
            {
                "gup-fast: recheck the PTEs (not fork's sequence); keep, or drop and take the slow path".into()
            }
            (Cmd::Fork { .. }, 0) if design.gup_fast_fork == crate::design::GupFastFork::Racy => {
                "fork (copy_page_range): per page decide copy (copy it now) or share; no write_protect_seq before 5.11".into()
            }
            (Cmd::Fork { .. }, 1) if design.gup_fast_fork == crate::design::GupFastFork::Racy => {
                "fork: write-protect and share what was decided shared".into()
            }
            (Cmd::Dio { .. }, 2) if design.bio_refs != BioRefs::Ref => {
                "dev: bio_endio → iomap_dio_bio_end_io: the last bio's completion wakes the caller (iomap_dio_done)".into()
            }
            (Cmd::Dio { .. }, 2) => "dev: the bio completes: fs/direct-io.c's dio_bio_complete releases the pages (set_page_dirty_lock for a read, put_page; the kernel runs it in the woken caller, the model at completion) and the last bio wakes the caller".into(),
            (Cmd::Writeback { sync, .. }, 0) => format!(
                "{}lock; {}: folio_clear_dirty_for_io (whose folio_mkclean write-protects the mappings), set PG_writeback; unlock, submit a bio (ext4 skips a folio without buffers)",
                if *sync { "(waiting while it is under writeback) " } else { "" },
                match (design.writeback, sync) {
                    (Writeback::Ignore, _) => "no test for pins (writeback = ignore)",
                    (Writeback::Skip, false) => "a folio_maybe_dma_pinned folio is left dirty and unwritten (writeback = skip, background); any other",
                    (Writeback::Skip, true) => "a folio_maybe_dma_pinned folio on a stable-writes file is written from a bounce copy (writeback = skip, integrity sync); any other",
                    (Writeback::Bounce, _) => "a folio_maybe_dma_pinned folio is written from a bounce copy and stays dirty, not under writeback (writeback = bounce); any other",
                }
            ),
            (Cmd::Reclaim, 0) => format!(
                "skip it under writeback; lock, try_to_unmap, {}, pageout if dirty and held by the page cache alone, else release the buffers of a clean one and __remove_mapping if its count allows; unlock",
                match design.reclaim {
                    Reclaim::Strip => "no test for pins (reclaim = strip)",
                    Reclaim::KeepPinned => "activate and keep a folio_maybe_dma_pinned one (reclaim = keep-pinned, d824ec2a1546)",
                }
            ),
            (Cmd::RdmaReg(..), 0) => {
                if pin {
                    "ib_umem_get: pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE), no mmap_lock held by the caller".into()
                } else {
                    "ib_umem_get: get_user_pages_longterm(FOLL_WRITE) under mmap_sem (FOLL_LONGTERM became a flag in 5.2)".into()
                }
            }
            (Cmd::RdmaRegFd(..), 0) => format!(
                "a registration of page-cache pages by file: read_cache_folio each (read in if absent), then {}",
                if design.bio_refs == BioRefs::AllPins {
                    "a pin (get_gup_pin, bio_refs = all-pins)"
                } else {
                    "a plain reference (get_page)"
                }
            ),
            (Cmd::RdmaDereg(..), 0) => {
                if pin {
                    "ib_umem_release: unpin_user_page_range_dirty_lock over each scatterlist entry".into()
                } else {
                    "ib_umem_release: set_page_dirty_lock and put_page each page".into()
                }
            }
            _ => neutral(),
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
            Cmd::Release(_, h, _)
            | Cmd::DmaWrite(h, _)
            | Cmd::DmaRead(h, _)
            | Cmd::PipeRead(h, _)
            | Cmd::RdmaDereg(h) => Some(*h),
            Cmd::RdmaRegFd(..) => None,
            Cmd::Assert(Check::SameFrame(h, _)) => Some(*h),
            _ => None,
        }
    }

    /// The tasks whose address space the op acts on.
    pub fn tasks(&self) -> Vec<TaskId> {
        let check_task = |c: &Check| match c {
            Check::Refcount(r, _)
            | Check::Pincount(r, _)
            | Check::Pinned(r, _)
            | Check::Zone(r, _)
            | Check::SameFrame(_, r) => r.task,
        };
        match self {
            Cmd::Store(r, _)
            | Cmd::Load(r, _)
            | Cmd::Munmap(r)
            | Cmd::Vmsplice(r, _)
            | Cmd::RdmaReg(r, _) => vec![r.task],
            Cmd::Gup { range, .. } => vec![range.task],
            Cmd::Dio { task, .. } => vec![*task],
            Cmd::Exit(t) | Cmd::Mprotect(t, ..) => vec![*t],
            Cmd::Fork { parent, child } => vec![*parent, *child],
            Cmd::Assert(c) => vec![check_task(c)],
            Cmd::Release(..)
            | Cmd::DmaWrite(..)
            | Cmd::DmaRead(..)
            | Cmd::PipeRead(..)
            | Cmd::RdmaDereg(..)
            | Cmd::Write { .. }
            | Cmd::Read { .. }
            | Cmd::RdmaRegFd(..)
            | Cmd::Truncate { .. }
            | Cmd::Reclaim => Vec::new(),
            Cmd::Migrate(r) => vec![r.task],
            // Writeback write-protects the PTEs of every mapping of the file; it names no task.
            Cmd::Writeback { .. } => Vec::new(),
        }
    }

    /// The task whose `mmap_lock` step `step` of the op takes, if any: every step that walks
    /// or changes page tables, faults included, so that between fork's two steps (fork holds
    /// the parent's `mmap_lock` for write) only GUP-fast and device steps run on the parent.
    /// GUP-fast takes it only when its second step falls back to the slow path, which the
    /// caller decides.
    pub fn mmap_lock(&self, step: u32) -> Option<TaskId> {
        match self {
            Cmd::Store(r, _)
            | Cmd::Load(r, _)
            | Cmd::Munmap(r)
            | Cmd::Vmsplice(r, _)
            | Cmd::RdmaReg(r, _) => Some(r.task),
            // The extraction may fault (the slow path takes mmap_lock); waiting for the I/O
            // takes nothing.
            Cmd::Dio { task, .. } if step == 0 => Some(*task),
            Cmd::Gup {
                fast: false, range, ..
            } => Some(range.task),
            Cmd::Gup { fast: true, .. } => None,
            Cmd::Exit(t) | Cmd::Mprotect(t, ..) => Some(*t),
            Cmd::Fork { parent, .. } if step == 0 => Some(*parent),
            Cmd::Fork { .. }
            | Cmd::Dio { .. }
            | Cmd::Assert(..)
            | Cmd::Release(..)
            | Cmd::DmaWrite(..)
            | Cmd::DmaRead(..)
            | Cmd::PipeRead(..)
            | Cmd::RdmaDereg(..)
            | Cmd::Write { .. }
            | Cmd::Read { .. }
            | Cmd::Writeback { .. }
            | Cmd::RdmaRegFd(..)
            | Cmd::Truncate { .. }
            | Cmd::Reclaim => None,
            Cmd::Migrate(r) => Some(r.task),
        }
    }
}

/// Parts of the world a step may touch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Address spaces (VMAs and page tables), by task.
    pub mms: Vec<TaskId>,
    /// Handles.
    pub handles: Vec<HandleId>,
    /// Files (their page cache, and for direct I/O their disk blocks).
    pub files: Vec<usize>,
    /// Direct I/O in flight: its bios and requests.
    pub ios: Vec<IoId>,
    /// Frames: counts, flags, contents, or the allocator.
    pub frames: bool,
}

/// What one step may read and write, declared as data: what `biopin explain` shows, and what
/// the explorer's partial-order reduction will use to know which steps commute. Each step
/// also moves its own actor's place, which is left out. Declared per op and step, so it is an
/// over-approximation of what one run of the step touches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// What it reads.
    pub reads: Resources,
    /// What it writes.
    pub writes: Resources,
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
    /// The task it waits for: a child another actor's fork creates.
    pub waits_for_task: Option<TaskId>,
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
    /// get (or vmsplice) or pin.
    pub kind: GupKind,
    /// The addresses it covers: `range.task` owns it (a device writing through it writes on
    /// that task's behalf). `None` for a registration by file descriptor.
    pub range: Option<UserRange>,
    /// For `rdma-reg-fd`: the file and its pages it covers.
    pub file: Option<(usize, Range<u32>)>,
    /// How many pages it covers.
    pub pages: u32,
    /// Taken with FOLL_WRITE: a device may write through it.
    pub write: bool,
    /// Bound by `vmsplice`: a pipe holds it.
    pub pipe: bool,
    /// Bound by `rdma-reg` or `rdma-reg-fd`: what it holds is the design's (`gup` for a
    /// registration by address; for one by file descriptor a plain reference, or a pin under
    /// `bio_refs = all-pins`).
    pub rdma: bool,
    /// The actor whose op binds it.
    pub binder: ActorId,
}

impl HandleDef {
    /// What the handle holds under `design`: its op's kind, or for `rdma-reg` what the
    /// design's `gup` takes.
    pub fn takes(&self, design: &Design) -> GupKind {
        match (self.rdma, &self.file, design.gup) {
            (false, ..) => self.kind,
            (true, Some(_), _) if design.bio_refs == crate::design::BioRefs::AllPins => {
                GupKind::Pin
            }
            (true, Some(_), _) => GupKind::Get,
            (true, None, Gup::Get) => GupKind::Get,
            (true, None, Gup::Pin) => GupKind::Pin,
        }
    }
}

/// A direct-I/O op (`dio-read`, `dio-write`): what it transfers, and the room its bios and
/// requests take in the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoDef {
    /// The actor whose op it is.
    pub actor: ActorId,
    /// `dio-write` (the device reads the memory) rather than `dio-read`.
    pub write: bool,
    /// The user pages the transfer touches.
    pub range: UserRange,
    /// Its first byte, from the start of the VMA.
    pub start: u64,
    /// Bytes (at most `MAX_RW_COUNT`, as `rw_verify_area` clamps a read or write).
    pub len: u64,
    /// The file.
    pub file: usize,
    /// The file page the transfer starts at.
    pub file_page: u32,
    /// The most bios the transfer can take (each holds up to `BIO_MAX_VECS` bvecs).
    pub max_bios: u32,
    /// The most requests its bios can be split into, in all.
    pub max_pieces: u32,
    /// Its first device id: requests `first_device + piece`, then three per bio
    /// (completion, release, deferred release).
    pub first_device: u32,
}

impl IoDef {
    /// The device ids it can ever have pending.
    pub fn devices(&self) -> u32 {
        self.max_pieces + 3 * self.max_bios
    }
}

/// What a device id names ([`Program::device_step`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStep {
    /// A step of direct-I/O op `io`.
    Dio {
        /// The op.
        io: IoId,
        /// Its step.
        step: crate::io::DevStep,
    },
    /// The transfer of the writeback of page `slot` of every file's.
    WbTransfer(u32),
    /// `folio_end_writeback` of page `slot` of every file's.
    WbEnd(u32),
}

/// A compiled scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// `name`.
    pub name: String,
    /// `summary`.
    pub summary: String,
    /// `selftest`: the kernel selftest cases it ports (their `# [RUN] …` lines).
    pub selftest: Vec<String>,
    /// Where it came from.
    pub source: Source,
    /// `[machine]`.
    pub machine: Machine,
    /// `[device]`.
    pub device: QueueLimits,
    /// `[[file]]`.
    pub files: Vec<FileSpec>,
    /// `[[process]]`, then every child a `fork` creates (with its parent's VMAs).
    pub processes: Vec<ProcessSpec>,
    /// For each process, the task that forks it (`None` for those the scenario declares).
    pub parents: Vec<Option<TaskId>>,
    /// Every handle.
    pub handles: Vec<HandleDef>,
    /// Every direct-I/O op, in the order of the actors and their ops.
    pub ios: Vec<IoDef>,
    /// The first device id of page-cache writeback: page `s` of every file's (in file order)
    /// has the transfer `first_wb_device + 2s` and `folio_end_writeback` `+ 2s + 1`.
    pub first_wb_device: u32,
    /// Some op submits writeback bios that devices complete later (`writeback`, `fsync`,
    /// `reclaim`'s pageout): without one, no state has writeback device steps to look for.
    pub writes_back: bool,
    /// The prologue, the actors, the epilogue.
    pub actors: Vec<ActorDef>,
    /// The designs checked by default: the file's `designs`, else every preset.
    pub designs: Vec<Design>,
    /// `[expect]`.
    pub expect: BTreeMap<Design, Verdict>,
}

impl Program {
    /// The files a fault in task `task`'s VMAs may read into the page cache.
    fn files_of(&self, task: TaskId, vma: Option<VmaId>) -> Vec<usize> {
        let mut files: Vec<usize> = self.processes[task]
            .vmas
            .iter()
            .enumerate()
            .filter(|(v, _)| vma.is_none_or(|w| w == *v))
            .filter_map(|(_, spec)| spec.file.as_ref())
            .filter_map(|name| self.files.iter().position(|f| f.name == *name))
            .collect();
        files.sort_unstable();
        files.dedup();
        files
    }

    /// The tasks with a VMA mapping `file`.
    fn tasks_mapping(&self, file: usize) -> Vec<TaskId> {
        let name = &self.files[file].name;
        (0..self.processes.len())
            .filter(|&t| {
                self.processes[t]
                    .vmas
                    .iter()
                    .any(|v| v.file.as_ref() == Some(name))
            })
            .collect()
    }

    /// The footprint of step `step` of `cmd` (see [`Footprint`]).
    pub fn footprint(&self, cmd: &Cmd, step: u32) -> Footprint {
        let mut f = Footprint::default();
        let (r, w) = (&mut f.reads, &mut f.writes);
        match cmd {
            Cmd::Store(u, _) | Cmd::Munmap(u) => {
                w.mms.push(u.task);
                w.files = self.files_of(u.task, Some(u.vma));
                w.frames = true;
            }
            Cmd::Load(u, _) => {
                w.mms.push(u.task);
                w.files = self.files_of(u.task, Some(u.vma));
                w.frames = true;
                r.frames = true;
            }
            Cmd::Exit(t) | Cmd::Mprotect(t, ..) => {
                w.mms.push(*t);
                w.frames = true;
            }
            Cmd::Fork { parent, child } => {
                r.mms.push(*parent);
                w.mms = vec![*parent, *child];
                w.frames = true;
                r.frames = step == 0;
            }
            Cmd::Gup {
                range,
                handle,
                fast,
                ..
            } => {
                r.mms.push(range.task);
                if !*fast || step == 1 {
                    w.mms.push(range.task);
                    w.files = self.files_of(range.task, Some(range.vma));
                    w.handles.push(*handle);
                }
                w.frames = true;
            }
            Cmd::Vmsplice(range, handle) => {
                w.mms.push(range.task);
                w.files = self.files_of(range.task, Some(range.vma));
                w.handles.push(*handle);
                w.frames = true;
            }
            Cmd::Release(_, h, _) | Cmd::DmaWrite(h, _) | Cmd::PipeRead(h, _) => {
                w.handles.push(*h);
                w.frames = true;
            }
            Cmd::DmaRead(h, _) => {
                r.handles.push(*h);
                r.frames = true;
            }
            Cmd::Dio { io, .. } => {
                let d = &self.ios[*io];
                w.ios.push(*io);
                match step {
                    0 => {
                        w.mms.push(d.range.task);
                        w.files = self.files_of(d.range.task, Some(d.range.vma));
                        w.frames = true;
                        r.frames = true;
                    }
                    // The transfer: the pages and the file's disk blocks.
                    1 => {
                        r.frames = true;
                        r.files.push(d.file);
                        if d.write {
                            w.files.push(d.file);
                        } else {
                            w.frames = true;
                        }
                    }
                    // Completion (wakes the caller; under `ref` it also releases), release,
                    // deferred release: the pages' counts and flags.
                    _ => w.frames = true,
                }
            }
            Cmd::Writeback { file, .. } => {
                // The rmap walk of page_mkclean reaches every task mapping the file.
                w.mms = self.tasks_mapping(*file);
                w.files.push(*file);
                w.frames = true;
                r.frames = true;
            }
            Cmd::Truncate { file, .. } => {
                w.mms = self.tasks_mapping(*file);
                w.files.push(*file);
                w.frames = true;
                r.ios = (0..self.ios.len())
                    .filter(|&o| self.ios[o].file == *file)
                    .collect();
            }
            Cmd::Reclaim => {
                w.mms = (0..self.processes.len()).collect();
                w.files = (0..self.files.len()).collect();
                w.frames = true;
                r.frames = true;
            }
            Cmd::Migrate(u) => {
                w.mms = (0..self.processes.len()).collect();
                w.files = (0..self.files.len()).collect();
                w.frames = true;
                r.mms.push(u.task);
            }
            Cmd::Write { file, .. } | Cmd::Read { file, .. } => {
                w.files.push(*file);
                w.frames = true;
                r.frames = true;
            }
            Cmd::RdmaReg(range, handle) => {
                r.mms.push(range.task);
                w.mms.push(range.task);
                w.files = self.files_of(range.task, Some(range.vma));
                w.handles.push(*handle);
                w.frames = true;
            }
            Cmd::RdmaDereg(h) => {
                w.handles.push(*h);
                w.frames = true;
            }
            Cmd::RdmaRegFd(h) => {
                w.handles.push(*h);
                if let Some((f, _)) = &self.handles[*h].file {
                    w.files.push(*f);
                }
                w.frames = true;
            }
            Cmd::Assert(c) => {
                let range = match c {
                    Check::Refcount(r, _)
                    | Check::Pincount(r, _)
                    | Check::Pinned(r, _)
                    | Check::Zone(r, _)
                    | Check::SameFrame(_, r) => r,
                };
                r.mms.push(range.task);
                r.frames = true;
                if let Check::SameFrame(h, _) = c {
                    r.handles.push(*h);
                }
            }
        }
        f
    }

    /// The step device id `id` names: direct-I/O ops own the first ids, each its range; then
    /// two per page of every file, for its writeback.
    pub fn device_step(&self, id: u32) -> DeviceStep {
        if id >= self.first_wb_device {
            let local = id - self.first_wb_device;
            return if local % 2 == 0 {
                DeviceStep::WbTransfer(local / 2)
            } else {
                DeviceStep::WbEnd(local / 2)
            };
        }
        let io = self.ios.partition_point(|d| d.first_device <= id) - 1;
        DeviceStep::Dio {
            io,
            step: crate::io::DevStep::from_id(&self.ios[io], id),
        }
    }

    /// The device id of the writeback of page `slot` of every file's: its transfer, or (with
    /// `end`) its `folio_end_writeback`.
    pub fn wb_device(&self, slot: u32, end: bool) -> u32 {
        self.first_wb_device + 2 * slot + u32::from(end)
    }

    /// APIs the scenario calls that `design`'s kernel predates, each in a sentence: the op
    /// still runs, with the semantics of the release that brought it, and a reader must not
    /// take it for the older kernel's behaviour. Only `linux-5.0` (and its overrides) predates
    /// an op: `pin_user_pages()` and `FOLL_PIN` came in 5.6, counted with
    /// `GUP_PIN_COUNTING_BIAS` from 5.7 (docs/kernel.md, Timeline).
    pub fn anachronisms(&self, design: &Design) -> Vec<String> {
        let mut out = Vec::new();
        if design.preset() != crate::design::Preset::Linux5_0 {
            return out;
        }
        let mut pins: Vec<&str> = Vec::new();
        for op in self.actors.iter().flat_map(|a| &a.ops) {
            let verb = match op.cmd {
                Cmd::Gup {
                    kind: GupKind::Pin,
                    fast: false,
                    ..
                } => "pin",
                Cmd::Gup {
                    kind: GupKind::Pin,
                    fast: true,
                    ..
                } => "pin … fast",
                Cmd::Release(ReleaseKind::Unpin, ..) => "unpin",
                _ => continue,
            };
            if !pins.contains(&verb) {
                pins.push(verb);
            }
        }
        if !pins.is_empty() {
            out.push(format!(
                "`{}` {} with v5.7+ semantics (pin_user_pages, FOLL_PIN, GUP_PIN_COUNTING_BIAS): {} predates them",
                pins.join("`, `"),
                if pins.len() == 1 { "runs" } else { "run" },
                design.canonical()
            ));
        }
        out
    }

    /// The verdict expected under `design`: its `[expect]` entry, else `ok`.
    pub fn expected(&self, design: &Design) -> Verdict {
        self.expect.get(design).cloned().unwrap_or_default()
    }

    /// Whether `[expect]` names `design` (a design it does not name is expected `ok`).
    pub fn expects(&self, design: &Design) -> bool {
        self.expect.contains_key(design)
    }

    /// Resolves names and checks every op of `scenario`.
    pub fn compile(scenario: &Scenario) -> Result<Program, ScenarioError> {
        Compiler {
            s: scenario,
            processes: scenario.processes.clone(),
            parents: vec![None; scenario.processes.len()],
            forks: vec![None; scenario.processes.len()],
        }
        .compile()
    }
}

struct Compiler<'a> {
    s: &'a Scenario,
    /// The declared processes, then the children forks create.
    processes: Vec<ProcessSpec>,
    /// For each process, its parent.
    parents: Vec<Option<TaskId>>,
    /// For each process, the fork op that creates it.
    forks: Vec<Option<Binding>>,
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

/// Where a handle is bound, or a child forked.
#[derive(Clone, Copy)]
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

    fn compile(mut self) -> Result<Program, ScenarioError> {
        let s = self.s;
        crate::scenario::builder::check_machine(&s.machine).map_err(|(_, m)| self.err(None, m))?;
        let mut total_pages = 0u64;
        for (i, f) in s.files.iter().enumerate() {
            if !crate::scenario::op::is_name(&f.name) {
                return Err(self.err_spec(&f.at, format!("`{}` is not a usable file name (letters, digits, `_`, `-`, `.`; starting with a letter)", f.name)));
            }
            if s.files[..i].iter().any(|g| g.name == f.name) {
                return Err(self.err_spec(&f.at, format!("file `{}` is defined twice", f.name)));
            }
            if s.processes.iter().any(|p| p.name == f.name) {
                return Err(self.err_spec(
                    &f.at,
                    format!(
                        "`{}` names both a file and a process: names are distinct",
                        f.name
                    ),
                ));
            }
        }
        for case in &s.selftest {
            crate::scenario::builder::check_selftest(case).map_err(|m| self.err(None, m))?;
        }
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
                crate::scenario::builder::check_vma(i128::from(v.pages), v.huge)
                    .map_err(|m| self.err_spec(&v.at, m))?;
                self.check_file_vma(p, v)?;
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

        // Pass 0: every child a fork creates, with its parent's VMAs.
        self.add_children(&lists)?;

        // Pass 1: every handle and where it is bound.
        let mut handles: Vec<HandleDef> = Vec::new();
        let mut bindings: Vec<Binding> = Vec::new();
        for (a, list) in lists.iter().enumerate() {
            for (i, line) in list.ops.iter().enumerate() {
                let (kind, addr, write, handle, pipe) = match &line.op {
                    Op::Gup {
                        kind,
                        addr,
                        write,
                        handle,
                        ..
                    } => (*kind, Some(addr), *write, handle, false),
                    Op::Vmsplice(addr, handle) => (GupKind::Get, Some(addr), false, handle, true),
                    // What it holds depends on the design (HandleDef::takes).
                    Op::RdmaReg(addr, handle) => (GupKind::Pin, Some(addr), true, handle, false),
                    Op::RdmaRegFd(_, handle) => (GupKind::Get, None, true, handle, false),
                    _ => continue,
                };
                if let Some(first) = handles.iter().position(|h| h.name == handle.text) {
                    let by = lists[handles[first].binder].who();
                    return Err(self.err_op(line, &handle.at, format!("handle `{}` is bound twice (first by {by}): a name is bound once per scenario", handle.text)));
                }
                if self.processes.iter().any(|p| p.name == handle.text)
                    || self.s.files.iter().any(|f| f.name == handle.text)
                {
                    return Err(self.err_op(line, &handle.at, format!("`{}` names a process or a file: process, file and handle names are distinct", handle.text)));
                }
                let range = addr.map(|addr| self.range(line, addr)).transpose()?;
                let file = match &line.op {
                    Op::RdmaRegFd(fr, _) => Some(self.file_range(line, fr)?),
                    _ => None,
                };
                let pages = match (&range, &file) {
                    (Some(r), _) => r.pages.len() as u32,
                    (None, Some((_, pages))) => pages.len() as u32,
                    (None, None) => 0,
                };
                handles.push(HandleDef {
                    name: handle.text.clone(),
                    kind,
                    pages,
                    range,
                    file,
                    write,
                    pipe,
                    rdma: matches!(line.op, Op::RdmaReg(..) | Op::RdmaRegFd(..)),
                    binder: a,
                });
                bindings.push(Binding { actor: a, op: i });
            }
        }

        // Pass 2: resolve every op.
        let resolver = Resolver {
            c: &self,
            lists: &lists,
            handles: &handles,
            bindings: &bindings,
        };
        let mut actors = Vec::new();
        let mut ios: Vec<IoDef> = Vec::new();
        let mut next_device = 0u32;
        for (a, list) in lists.iter().enumerate() {
            let mut compiled = Vec::new();
            for (i, line) in list.ops.iter().enumerate() {
                let (op, io) = resolver.op(line, a, i, ios.len(), next_device)?;
                if let Some(io) = io {
                    next_device = next_device.checked_add(io.devices()).ok_or_else(|| {
                        self.err_op(
                            line,
                            &(0..line.text.len()),
                            "the scenario's direct I/O is too large to track: make it smaller",
                        )
                    })?;
                    ios.push(io);
                }
                compiled.push(op);
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
            selftest: s.selftest.clone(),
            source: s.source.clone(),
            machine: s.machine,
            device: s.device,
            files: s.files.clone(),
            processes: self.processes,
            parents: self.parents,
            handles,
            ios,
            first_wb_device: next_device,
            writes_back: actors
                .iter()
                .flat_map(|a| &a.ops)
                .any(|op| matches!(op.cmd, Cmd::Writeback { .. } | Cmd::Reclaim)),
            actors,
            designs,
            expect,
        })
    }

    /// A `shared` or `private` VMA maps an existing file, within it, with small folios.
    fn check_file_vma(&self, p: &ProcessSpec, v: &VmaSpec) -> Result<(), ScenarioError> {
        let Some(name) = &v.file else { return Ok(()) };
        let Some(f) = self.s.files.iter().find(|f| f.name == *name) else {
            return Err(self.err_spec(
                &v.at,
                format!(
                    "VMA `{}` of process `{}` maps unknown file `{name}`: {}",
                    v.name,
                    p.name,
                    self.known_files()
                ),
            ));
        };
        if v.huge {
            return Err(self.err_spec(&v.at, format!("VMA `{}`: huge = true is for anon VMAs only (file folios are not modelled large)", v.name)));
        }
        if u64::from(v.offset) + u64::from(v.pages) > u64::from(f.pages) {
            return Err(self.err_spec(
                &v.at,
                format!(
                    "VMA `{}` maps pages {}..{} of file `{}`, which has {} pages",
                    v.name,
                    v.offset,
                    u64::from(v.offset) + u64::from(v.pages),
                    f.name,
                    f.pages
                ),
            ));
        }
        Ok(())
    }

    /// Adds a process for every child a `fork` creates, after the declared ones, in the order
    /// the forks are written; each gets its parent's VMAs (a child may fork in turn).
    fn add_children(&mut self, lists: &[OpList<'_>]) -> Result<(), ScenarioError> {
        let mut pending = Vec::new();
        for (a, list) in lists.iter().enumerate() {
            for (i, line) in list.ops.iter().enumerate() {
                let Op::Fork(parent, child) = &line.op else {
                    continue;
                };
                if let Some(p) = self.processes.iter().position(|p| p.name == child.text) {
                    let what = if self.parents[p].is_some() {
                        "is forked twice: a name is created once per scenario"
                    } else {
                        "already names a declared process: give the child a name of its own"
                    };
                    return Err(self.err_op(line, &child.at, format!("`{}` {what}", child.text)));
                }
                if self.s.files.iter().any(|f| f.name == child.text) {
                    return Err(self.err_op(
                        line,
                        &child.at,
                        format!(
                            "`{}` names a file: process and file names are distinct",
                            child.text
                        ),
                    ));
                }
                if list.role == Role::Epilogue {
                    return Err(self.err_op(line, &child.at, "the epilogue runs last and alone: a child it forks could do nothing (fork in the prologue or an actor)"));
                }
                self.processes.push(ProcessSpec {
                    name: child.text.clone(),
                    vmas: Vec::new(),
                    at: None,
                });
                self.parents.push(None);
                self.forks.push(Some(Binding { actor: a, op: i }));
                pending.push((line, parent, self.processes.len() - 1));
            }
        }
        // Parents may be children forked later in the text: resolve until nothing moves.
        let mut resolved: Vec<bool> = self.forks.iter().map(Option::is_none).collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for (line, parent, child) in pending {
                let found = self.processes.iter().position(|p| p.name == parent.text);
                match found {
                    Some(p) if resolved[p] => {
                        self.processes[child].vmas = self.processes[p].vmas.clone();
                        self.parents[child] = Some(p);
                        resolved[child] = true;
                    }
                    Some(_) => rest.push((line, parent, child)),
                    None => {
                        self.task(line, parent)?;
                    }
                }
            }
            if rest.len() == before {
                let (line, parent, _) = rest[0];
                return Err(self.err_op(
                    line,
                    &parent.at,
                    format!(
                        "`{}` is forked by one of its own descendants: no fork can come first",
                        parent.text
                    ),
                ));
            }
            pending = rest;
        }
        Ok(())
    }

    /// Checks a `dio-read` / `dio-write` and sizes its room in the world. Transfers that leave
    /// the memory or the file are load errors; misalignment fails at run time (EINVAL).
    fn dio(
        &self,
        line: &OpLine,
        actor: ActorId,
        first_device: u32,
    ) -> Result<IoDef, ScenarioError> {
        let Op::Dio {
            write,
            addr,
            off,
            off_at,
            file,
            file_page,
            file_page_at,
            len,
            len_at,
        } = &line.op
        else {
            unreachable!("called for dio ops")
        };
        let r = self.range(line, addr)?;
        let ps = u64::from(PAGE_SIZE);
        let a_bytes = r.pages.len() as u64 * ps;
        if *off >= a_bytes {
            return Err(self.err_op(
                line,
                off_at,
                format!(
                    "+{off} is past the end of `{}:{}{}`, which has {a_bytes} bytes",
                    addr.task.text,
                    addr.vma.text,
                    if addr.pages.is_some() { " [..]" } else { "" }
                ),
            ));
        }
        let given = len.is_some();
        let len = len.unwrap_or(a_bytes - off);
        if len == 0 {
            return Err(self.err_op(
                line,
                len_at,
                "len 0 transfers nothing: give a length of at least one block",
            ));
        }
        if off + len > a_bytes {
            return Err(self.err_op(line, len_at, format!("{len} bytes from +{off} leave the {a_bytes} bytes of the address: shorten len or widen the address")));
        }
        let (f, _) = self.file_page(
            line,
            &crate::scenario::op::FilePage {
                file: file.clone(),
                page: *file_page,
                page_at: file_page_at.clone(),
            },
        )?;
        let spec = &self.s.files[f];
        if u64::from(*file_page) * ps + len > u64::from(spec.pages) * ps {
            let at = if given { len_at } else { file_page_at };
            return Err(self.err_op(
                line,
                at,
                format!(
                    "{len} bytes from page {file_page} leave file `{}`, which has {} pages",
                    spec.name, spec.pages
                ),
            ));
        }
        if spec.fs != crate::pagecache::Fs::Ext4 {
            return Err(self.err_op(
                line,
                &file.at,
                format!(
                    "file `{}` is on shmem, which has no block device: O_DIRECT needs an ext4 file",
                    spec.name
                ),
            ));
        }
        let len = len.min(MAX_RW_COUNT);
        let start = u64::from(r.pages.start) * ps + off;
        let first = (start / ps) as u32;
        let last = ((start + len - 1) / ps) as u32;
        let pages = last - first + 1;
        let max_bios = pages.div_ceil(u32::from(crate::block::BIO_MAX_VECS)) + 1;
        Ok(IoDef {
            actor,
            write: *write,
            range: UserRange {
                task: r.task,
                vma: r.vma,
                pages: first..last + 1,
            },
            start,
            len,
            file: f,
            file_page: *file_page,
            max_bios,
            max_pieces: 2 * pages + max_bios + 1,
            first_device,
        })
    }

    /// Resolves `FILE[i]`: a known file, a page within it.
    fn file_page(
        &self,
        line: &OpLine,
        fp: &crate::scenario::op::FilePage,
    ) -> Result<(usize, u32), ScenarioError> {
        let f = self.file(line, &fp.file)?;
        let spec = &self.s.files[f];
        if fp.page >= spec.pages {
            return Err(self.err_op(
                line,
                &fp.page_at,
                format!(
                    "page {} is past the end of file `{}`, which has {} pages",
                    fp.page, spec.name, spec.pages
                ),
            ));
        }
        Ok((f, fp.page))
    }

    /// Resolves `FILE[a..b]` (or `FILE[i]`, or `FILE`: every page).
    fn file_range(
        &self,
        line: &OpLine,
        fr: &crate::scenario::op::FileRange,
    ) -> Result<(usize, Range<u32>), ScenarioError> {
        let f = self.file(line, &fr.file)?;
        let spec = &self.s.files[f];
        let pages = fr.pages.clone().unwrap_or(0..spec.pages);
        if pages.end > spec.pages {
            return Err(self.err_op(
                line,
                &fr.pages_at,
                format!(
                    "pages {}..{} leave file `{}`, which has {} pages",
                    pages.start, pages.end, spec.name, spec.pages
                ),
            ));
        }
        Ok((f, pages))
    }

    /// Resolves a file's name.
    fn file(&self, line: &OpLine, file: &Name) -> Result<usize, ScenarioError> {
        self.s
            .files
            .iter()
            .position(|f| f.name == file.text)
            .ok_or_else(|| {
                self.err_op(
                    line,
                    &file.at,
                    format!("unknown file `{}`: {}", file.text, self.known_files()),
                )
            })
    }

    /// The declared files, for an error naming an unknown one.
    fn known_files(&self) -> String {
        let known: Vec<String> = self
            .s
            .files
            .iter()
            .map(|f| format!("`{}`", f.name))
            .collect();
        if known.is_empty() {
            "none is declared (add a [[file]])".into()
        } else {
            format!("the files are {}", known.join(", "))
        }
    }

    fn task(&self, line: &OpLine, name: &Name) -> Result<TaskId, ScenarioError> {
        self.processes
            .iter()
            .position(|p| p.name == name.text)
            .ok_or_else(|| {
                let known: Vec<_> = self
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
        let p = &self.processes[task];
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
    fn op(
        &self,
        line: &OpLine,
        actor: ActorId,
        index: usize,
        next_io: IoId,
        next_device: u32,
    ) -> Result<(CompiledOp, Option<IoDef>), ScenarioError> {
        let (c, lists, handles, bindings) = (self.c, self.lists, self.handles, self.bindings);
        let mut io = None;
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
            Op::Fork(p, child) => Cmd::Fork {
                parent: c.task(line, p)?,
                child: c.task(line, child)?,
            },
            Op::Munmap(a) => Cmd::Munmap(c.range(line, a)?),
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
            Op::Vmsplice(a, h) => Cmd::Vmsplice(
                c.range(line, a)?,
                handles
                    .iter()
                    .position(|d| d.name == h.text)
                    .expect("bound in pass 1"),
            ),
            Op::PipeRead(h, v) => {
                let id = handle(h)?;
                if !handles[id].pipe {
                    return Err(c.err_op(line, &h.at, format!("handle `{}` is not a pipe: pipe-read reads what `vmsplice ... as {0}` put in one (release a get with put, a pin with unpin)", h.text)));
                }
                Cmd::PipeRead(id, *v)
            }
            Op::Dio { .. } => {
                let def = c.dio(line, actor, next_device)?;
                let task = def.range.task;
                io = Some(def);
                Cmd::Dio { io: next_io, task }
            }
            Op::Writeback(f, sync) => {
                let file = c.file(line, f)?;
                Cmd::Writeback { file, sync: *sync }
            }
            Op::Reclaim => Cmd::Reclaim,
            Op::Truncate(f, pages, at) => {
                let file = c.file(line, f)?;
                let declared = c.s.files[file].pages;
                if *pages > declared {
                    return Err(c.err_op(line, at, format!("file `{}` is declared with {declared} pages: truncate can shrink it, or grow it back up to that", f.text)));
                }
                Cmd::Truncate {
                    file,
                    pages: *pages,
                }
            }
            Op::Migrate(a) => Cmd::Migrate(c.range(line, a)?),
            Op::Write(f, value) => {
                let (file, index) = c.file_page(line, f)?;
                Cmd::Write {
                    file,
                    index,
                    value: *value,
                }
            }
            Op::Read(f, want) => {
                let (file, index) = c.file_page(line, f)?;
                Cmd::Read {
                    file,
                    index,
                    want: *want,
                }
            }
            Op::RdmaReg(a, h) => {
                let r = c.range(line, a)?;
                Cmd::RdmaReg(
                    r,
                    handles
                        .iter()
                        .position(|d| d.name == h.text)
                        .expect("bound in pass 1"),
                )
            }
            Op::RdmaRegFd(_, h) => Cmd::RdmaRegFd(
                handles
                    .iter()
                    .position(|d| d.name == h.text)
                    .expect("bound in pass 1"),
            ),
            Op::RdmaDereg(h) => {
                let id = handle(h)?;
                if !handles[id].rdma {
                    return Err(c.err_op(line, &h.at, format!("handle `{}` is not an RDMA registration: rdma-dereg releases what `rdma-reg ... as {0}` registered (release a get with put, a pin with unpin)", h.text)));
                }
                Cmd::RdmaDereg(id)
            }
            Op::Assert(a) => Cmd::Assert(match a {
                Assertion::Refcount(a, n) => Check::Refcount(c.range(line, a)?, *n),
                Assertion::Pincount(a, n) => {
                    let r = c.range(line, a)?;
                    let v = &c.processes[r.task].vmas[r.vma];
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
        let mut waits_for_task = None;
        for t in cmd.tasks() {
            if matches!(cmd, Cmd::Fork { child, .. } if child == t) {
                continue;
            }
            let Some(b) = c.forks[t] else { continue };
            let name = &c.processes[t].name;
            let whole = 0..line.text.len();
            let forker = &lists[b.actor];
            if b.actor == actor {
                if b.op >= index {
                    return Err(c.err_op(
                        line,
                        &whole,
                        format!("process `{name}` is used before the fork that creates it"),
                    ));
                }
            } else if role == Role::Prologue {
                return Err(c.err_op(line, &whole, format!("the prologue runs first and alone: it cannot use process `{name}`, which {} forks", forker.who())));
            } else if role == Role::Actor && forker.role == Role::Actor {
                waits_for_task = Some(t);
            }
        }
        Ok((
            CompiledOp {
                cmd,
                expect: line.expect,
                text: line.text.clone(),
                waits_for,
                waits_for_task,
            },
            io,
        ))
    }
}
