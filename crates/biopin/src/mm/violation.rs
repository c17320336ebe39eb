//! The invariants of docs/design.md, Invariants and the record of their violations, which every layer raises
//! and which lives outside the hashed world.

use std::fmt;

use super::page::Pfn;

/// An invariant, by its stable ID (docs/design.md, Invariants). The IDs are a contract: reports, scenario
/// expectations and the code use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// `use-after-free`: a freed frame is read or written by a device, a PTE, a handle or a bio;
    /// or a handle is used after it was released.
    UseAfterFree,
    /// `bad-release`: a put or unpin drops a count below zero, unpins a folio that is not
    /// pinned, releases with the wrong primitive, releases a handle twice, or (under
    /// `all-pins`) a non-pin is added to a bio.
    BadRelease,
    /// `refcount-overflow`: an increment of `_refcount` or `_pincount` whose unsigned 32-bit
    /// result is below its operand.
    RefcountOverflow,
    /// `leak`: at the end, a folio holds more references than its owners account for, a bound
    /// handle was never released, or the vmstat pin counters disagree with no pins outstanding.
    Leak,
    /// `dirty-without-buffers`: a file folio on a filesystem with private state is dirty while
    /// it has none.
    DirtyWithoutBuffers,
    /// `unstable-page-write`: a page's content changes between the submission of its write and
    /// the transfer, on a file that requires stable writes.
    UnstablePageWrite,
    /// `lost-write`: after the final sync a page-cache page differs from its disk block.
    LostWrite,
    /// `pin-unreliable`: a pin targets a frame other than the one its process now reaches at
    /// that address, while the mapping still exists.
    PinUnreliable,
    /// `leak-parent-to-child`: after fork the child observes a value the parent wrote after
    /// the fork.
    LeakParentToChild,
    /// `leak-child-to-parent`: the same in the other direction.
    LeakChildToParent,
    /// `deadlock`: no step is enabled, some actor has not finished, and nothing is pending.
    Deadlock,
    /// `expect-failed`: a scenario's own check (`== V`, `expect ERRNO`, `assert`) fails.
    ExpectFailed,
}

impl Invariant {
    /// Every invariant, in the table's order.
    pub const ALL: [Invariant; 12] = [
        Invariant::UseAfterFree,
        Invariant::BadRelease,
        Invariant::RefcountOverflow,
        Invariant::Leak,
        Invariant::DirtyWithoutBuffers,
        Invariant::UnstablePageWrite,
        Invariant::LostWrite,
        Invariant::PinUnreliable,
        Invariant::LeakParentToChild,
        Invariant::LeakChildToParent,
        Invariant::Deadlock,
        Invariant::ExpectFailed,
    ];

    /// The stable ID.
    pub fn id(self) -> &'static str {
        match self {
            Invariant::UseAfterFree => "use-after-free",
            Invariant::BadRelease => "bad-release",
            Invariant::RefcountOverflow => "refcount-overflow",
            Invariant::Leak => "leak",
            Invariant::DirtyWithoutBuffers => "dirty-without-buffers",
            Invariant::UnstablePageWrite => "unstable-page-write",
            Invariant::LostWrite => "lost-write",
            Invariant::PinUnreliable => "pin-unreliable",
            Invariant::LeakParentToChild => "leak-parent-to-child",
            Invariant::LeakChildToParent => "leak-child-to-parent",
            Invariant::Deadlock => "deadlock",
            Invariant::ExpectFailed => "expect-failed",
        }
    }

    /// What a violation means, in one sentence a reader of a trace needs.
    pub fn meaning(self) -> &'static str {
        match self {
            Invariant::UseAfterFree => {
                "a frame went back to the allocator while something still used it: a device, a PTE, a handle or a bio reads or writes memory that may now belong to someone else"
            }
            Invariant::BadRelease => {
                "a reference was dropped that was not held, or with the wrong primitive (put_page on a pin, unpin_user_page on a plain reference), so the counts no longer say who holds the page"
            }
            Invariant::RefcountOverflow => {
                "an increment wrapped the 32-bit _refcount or _pincount, so a later put can free a page that is still in use (CVE-2019-11487)"
            }
            Invariant::Leak => {
                "at the end a folio's count disagrees with its owners — more references than they hold, or a count a put too many drove below zero — a handle was never released, or the pin counters disagree: the page can never be freed, or the accounting is lost"
            }
            Invariant::DirtyWithoutBuffers => {
                "a file folio was dirtied after the filesystem released its buffers, so writeback finds no block mapping for it (the ext4 BUG_ON of 2018)"
            }
            Invariant::UnstablePageWrite => {
                "a page changed between the submission of its write and the transfer, on a device that needs stable pages (checksums, RAID parity)"
            }
            Invariant::LostWrite => {
                "after the final sync a page-cache page differs from its disk block: data written to the page never reached the disk"
            }
            Invariant::PinUnreliable => {
                "a pin holds a frame other than the one its process now reaches at that address: the device and the process no longer share the memory"
            }
            Invariant::LeakParentToChild => {
                "after fork the child saw a value the parent wrote after the fork: memory leaked across the process boundary"
            }
            Invariant::LeakChildToParent => {
                "after fork the parent saw a value the child wrote: the child changed the parent's memory"
            }
            Invariant::Deadlock => {
                "no step can run, some actor has not finished and no I/O is pending: the scenario hangs"
            }
            Invariant::ExpectFailed => {
                "one of the scenario's own checks (`== V`, `expect ERRNO`, `assert`) did not hold"
            }
        }
    }

    /// Looks an invariant up by its ID.
    pub fn from_id(id: &str) -> Option<Invariant> {
        Invariant::ALL.into_iter().find(|i| i.id() == id)
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What one step raised and did, recorded outside the world.
///
/// The explorer runs steps with a quiet record (IDs only); replay runs them with a detailed one,
/// which also formats each violation's explanation and notes on what the step did.
#[derive(Debug, Default)]
pub struct Events {
    detailed: bool,
    /// Violations raised, in order, with their explanation (empty when not detailed).
    pub raised: Vec<(Invariant, String)>,
    /// What the step did that the world's difference does not show (empty when not detailed).
    pub notes: Vec<String>,
    /// Ops that failed with an errno their scenario did not expect, or were skipped because a
    /// handle they name was never bound: no violation, but a scenario whose checks then never
    /// run reads `ok` for a reason its author may not mean (empty when not detailed).
    pub failures: Vec<String>,
    /// Folios freed during the step (head, order): the step's owner must mark references to
    /// them dangling before the step ends.
    pub freed: Vec<(Pfn, u8)>,
    /// The step works on behalf of I/O (`dio-*`, `rdma-*`, a device): its updates of
    /// `_refcount` and `_pincount` count in [`Events::ref_ops`].
    pub io: bool,
    /// Atomic updates of `_refcount` and `_pincount` made on behalf of I/O.
    pub ref_ops: u64,
    /// Pages of I/O done: pages a transfer moved, pages an RDMA registration took.
    pub io_pages: u64,
}

impl Events {
    /// A record that keeps IDs only (for exploring).
    pub fn quiet() -> Events {
        Events::default()
    }

    /// A record that also keeps explanations and notes (for replay and traces).
    pub fn detailed() -> Events {
        Events {
            detailed: true,
            ..Events::default()
        }
    }

    /// Raises a violation of `id`; `why` is called only for a detailed record.
    pub fn raise(&mut self, id: Invariant, why: impl FnOnce() -> String) {
        let why = if self.detailed { why() } else { String::new() };
        self.raised.push((id, why));
    }

    /// Records an op's unexpected failure or skip (also as a note); `what` is called only for
    /// a detailed record.
    pub fn failure(&mut self, what: impl FnOnce() -> String) {
        if self.detailed {
            let what = what();
            self.notes.push(what.clone());
            self.failures.push(what);
        }
    }

    /// Notes what a step did; `what` is called only for a detailed record.
    pub fn note(&mut self, what: impl FnOnce() -> String) {
        if self.detailed {
            self.notes.push(what());
        }
    }

    /// Counts `n` atomic updates of `_refcount` or `_pincount`, if made on behalf of I/O.
    #[inline]
    pub fn count_ref_ops(&mut self, n: u64) {
        if self.io {
            self.ref_ops += n;
        }
    }

    /// Whether `id` was raised during this record.
    pub fn has(&self, id: Invariant) -> bool {
        self.raised.iter().any(|(i, _)| *i == id)
    }
}
