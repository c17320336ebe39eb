//! fork(2) for memory: `dup_mmap` → `copy_page_range` → `copy_present_pte` (kernel/fork.c,
//! mm/memory.c), and what a process may observe of its relatives' writes afterwards.
//!
//! Fork is two steps, because GUP-fast takes no lock against it (57efa1fe5957): the first
//! makes `write_protect_seq` odd and, page by page, decides whether the child gets a copy now
//! or shares the page (making the copies); the second write-protects and shares what was
//! decided shared, then makes the sequence even. Fork holds the parent's `mmap_lock` for write
//! throughout, so between the steps only GUP-fast and device steps run on the parent.

use super::task::{Kernel, Life, Pte, TaskId, Vma};
use crate::design::Cow;
use crate::errno::Errno;
use crate::mm::{Gfp, Invariant, PageContent, PageFlags, Pfn};

/// What the first step of fork decided for one present page.
enum Decision {
    /// The child gets a copy now (`copy_present_page`).
    Copy,
    /// The child shares the page; the second step maps it (`page_try_dup_anon_rmap`,
    /// `ptep_set_wrprotect`).
    Share,
}

impl Kernel<'_> {
    /// The first step of `fork P as C`: `write_protect_seq` becomes odd
    /// (`raw_write_seqcount_begin` in `copy_page_range`), the child gets the parent's VMAs
    /// (`dup_mmap`), and each present page of each mapped VMA is either copied for the child
    /// at once or left to be shared by [`Kernel::fork_share`], per [`Kernel::fork_decision`].
    /// A page decided shared that is anonymous and exclusive loses PageAnonExclusive now
    /// (`page_try_dup_anon_rmap` decides and clears at once). The parent's fork epoch moves
    /// on: what it writes from now on is after the fork.
    ///
    /// ESRCH if the parent is not alive; ENOMEM if a copy finds no free frame, and then the
    /// fork is undone (the child's copies freed) and the child never exists.
    pub fn fork_begin(&mut self, parent: TaskId, child: TaskId) -> Result<(), Errno> {
        let mut p = self.vm.task(parent);
        if !p.alive() {
            self.fork_failed(child);
            return Err(Errno::ESRCH);
        }
        p.write_protect_seq = p.write_protect_seq.wrapping_add(1);
        let forked_at = p.epoch;
        p.epoch = p.epoch.wrapping_add(1);
        self.vm.set_task(parent, p);
        let mut c = self.vm.task(child);
        c.forked_at = forked_at;
        self.vm.set_task(child, c);
        for vma in 0..self.vm.nr_vmas(parent) {
            let v = self.vm.vma(parent, vma);
            self.vm.set_vma(child, vma, v);
            if !v.mapped {
                continue;
            }
            let writable = v.prot == super::task::Prot::Rw;
            for page in 0..self.vm.layout(parent, vma).pages {
                let Pte::Present { pfn, .. } = self.pte(parent, vma, page) else {
                    if self.pte(parent, vma, page) == Pte::Unmapped {
                        self.vm.set_pte(child, vma, page, Pte::Unmapped);
                    }
                    continue;
                };
                if !self.mem.in_use(pfn) {
                    continue;
                }
                match self.fork_decision(parent, pfn) {
                    Decision::Copy => {
                        if let Err(e) = self.fork_copy(child, vma, page, pfn, writable) {
                            self.fork_undo(parent, child);
                            return Err(e);
                        }
                    }
                    Decision::Share => {
                        if self.mem.folio_flags(pfn).contains(PageFlags::ANON) {
                            self.mem
                                .set_page_flag(pfn, PageFlags::ANON_EXCLUSIVE, false);
                        }
                    }
                }
            }
        }
        let seq = self.design.gup_fast_fork == crate::design::GupFastFork::Seqcount;
        self.ev.note(|| {
            if seq {
                "fork: write_protect_seq is odd; pages decided".into()
            } else {
                "fork: pages decided".into()
            }
        });
        Ok(())
    }

    /// Whether fork copies a present page for the child or shares it, by era (`cow`):
    /// - `mapcount` (before 5.9): always share;
    /// - `refcount` (5.9–5.18, 70e806e4e645 `copy_present_page`): copy any normal page that
    ///   `folio_maybe_dma_pinned` says may be pinned, in a COW mapping, once the mm has pinned
    ///   (`MMF_HAS_PINNED`);
    /// - `pae-anon-only`, `anon-exclusive` (5.19+, `page_try_dup_anon_rmap`): a non-exclusive
    ///   anon page is shared whatever its count; an exclusive one is copied if
    ///   `folio_needs_cow_for_dma` (pinned, and the mm has pinned); other pages are shared.
    ///
    /// The zero page is always shared (a special PTE). Every VMA modelled so far is a COW
    /// mapping.
    fn fork_decision(&self, parent: TaskId, pfn: Pfn) -> Decision {
        if self.mem.is_zero_page(pfn) {
            return Decision::Share;
        }
        let needs_cow_for_dma =
            self.vm.task(parent).has_pinned && self.mem.folio_maybe_dma_pinned(pfn);
        let copy = match self.design.cow {
            Cow::Mapcount => false,
            Cow::Refcount => needs_cow_for_dma,
            Cow::PaeAnonOnly | Cow::AnonExclusive => {
                self.mem.folio_flags(pfn).contains(PageFlags::ANON)
                    && self
                        .mem
                        .frame(pfn)
                        .flags
                        .contains(PageFlags::ANON_EXCLUSIVE)
                    && needs_cow_for_dma
            }
        };
        if copy {
            Decision::Copy
        } else {
            Decision::Share
        }
    }

    /// `copy_present_page`: a new exclusive anon page for the child with the parent's content,
    /// mapped writable if the VMA is (`maybe_mkwrite`); the parent keeps its page as it is.
    fn fork_copy(
        &mut self,
        child: TaskId,
        vma: usize,
        page: u32,
        old: Pfn,
        writable: bool,
    ) -> Result<(), Errno> {
        let new = self.mem.alloc_folio(0, Gfp::Movable).ok_or(Errno::ENOMEM)?;
        self.mem.set_content(new, self.mem.content(old));
        self.mem
            .set_page_flag(new, PageFlags::ANON | PageFlags::ANON_EXCLUSIVE, true);
        self.mem.page_mapcount_add(new, 1);
        self.vm.set_pte(
            child,
            vma,
            page,
            Pte::Present {
                pfn: new,
                write: writable,
            },
        );
        self.ev
            .note(|| format!("fork: {old} may be pinned: copied to {new} for the child"));
        Ok(())
    }

    /// The second step of fork: every present page of the parent that the child did not get
    /// a copy of is shared, write-protected in both if the parent's PTE was writable
    /// (`ptep_set_wrprotect`), with one more reference and mapcount for the child's PTE (none
    /// for the zero page); `write_protect_seq` becomes even and the child exists.
    pub fn fork_share(&mut self, parent: TaskId, child: TaskId) -> Result<(), Errno> {
        for vma in 0..self.vm.nr_vmas(parent) {
            if !self.vm.vma(child, vma).mapped {
                continue;
            }
            for page in 0..self.vm.layout(parent, vma).pages {
                if self.pte(child, vma, page) != Pte::None {
                    continue;
                }
                let Ok(Some((pfn, write))) = self.present_page(parent, vma, page, "fork") else {
                    continue;
                };
                if write {
                    self.set_pte(parent, vma, page, Pte::Present { pfn, write: false });
                }
                if !self.mem.is_zero_page(pfn) {
                    self.mem.folio_ref_add(pfn, 1, 1, self.ev);
                    self.mem.page_mapcount_add(pfn, 1);
                }
                self.vm
                    .set_pte(child, vma, page, Pte::Present { pfn, write: false });
            }
        }
        let mut p = self.vm.task(parent);
        p.write_protect_seq = p.write_protect_seq.wrapping_add(1);
        self.vm.set_task(parent, p);
        let mut c = self.vm.task(child);
        c.life = Life::Alive;
        self.vm.set_task(child, c);
        let seq = self.design.gup_fast_fork == crate::design::GupFastFork::Seqcount;
        self.ev.note(|| {
            if seq {
                "fork: shared pages write-protected; write_protect_seq is even; the child runs"
                    .into()
            } else {
                "fork: shared pages write-protected; the child runs".into()
            }
        });
        Ok(())
    }

    /// A fork that failed in its first step: the copies made for the child are freed, the
    /// parent's sequence is even again, and the child never exists.
    fn fork_undo(&mut self, parent: TaskId, child: TaskId) {
        for vma in 0..self.vm.nr_vmas(child) {
            for page in 0..self.vm.layout(child, vma).pages {
                if let Pte::Present { pfn, .. } = self.pte(child, vma, page) {
                    self.mem.page_mapcount_add(pfn, -1);
                    self.mem
                        .folio_put_refs(pfn, 1, 1, "put_page of a failed fork's copy", self.ev);
                }
                self.vm.set_pte(child, vma, page, Pte::None);
            }
            self.vm.set_vma(child, vma, Vma::default());
        }
        let mut p = self.vm.task(parent);
        p.write_protect_seq = p.write_protect_seq.wrapping_add(1);
        self.vm.set_task(parent, p);
        self.fork_failed(child);
    }

    fn fork_failed(&mut self, child: TaskId) {
        let mut c = self.vm.task(child);
        c.life = Life::Failed;
        self.vm.set_task(child, c);
    }

    /// What `observer` reads (`how`, for the report) of a page whose content is `c`, checked
    /// against its lineage through private memory: a value its parent (or an earlier ancestor)
    /// wrote after the fork that separated them is `leak-parent-to-child`; a value one of its
    /// descendants wrote is `leak-child-to-parent`. A device's write counts as the write of the
    /// task whose handle it went through. Simplification: processes related otherwise
    /// (siblings) are not compared.
    pub fn observe(&mut self, observer: TaskId, c: PageContent, how: impl FnOnce() -> String) {
        let Some(writer) = c.writer.task() else {
            return;
        };
        if writer == observer {
            return;
        }
        // Ancestors of the observer.
        let mut t = observer;
        while let Some(p) = self.vm.parent(t) {
            if p == writer {
                let forked_at = self.vm.task(t).forked_at;
                if c.epoch > forked_at {
                    let (o, w) = (self.vm.name(observer), self.vm.name(writer));
                    self.ev.raise(Invariant::LeakParentToChild, || {
                        format!(
                            "{} by `{o}` returns {:#04x}, which `{w}` wrote after forking it (in epoch {}; the fork was in {forked_at})",
                            how(),
                            c.value,
                            c.epoch
                        )
                    });
                }
                return;
            }
            t = p;
        }
        // Descendants of the observer.
        let mut t = writer;
        while let Some(p) = self.vm.parent(t) {
            if p == observer {
                let (o, w) = (self.vm.name(observer), self.vm.name(writer));
                self.ev.raise(Invariant::LeakChildToParent, || {
                    format!(
                        "{} by `{o}` returns {:#04x}, which `{w}`, forked from it, wrote",
                        how(),
                        c.value
                    )
                });
                return;
            }
            t = p;
        }
    }
}
