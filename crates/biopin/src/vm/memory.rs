//! Faults, copy-on-write and teardown of anonymous memory (mm/memory.c, mm/mmap.c,
//! mm/mprotect.c).

use super::task::{Kernel, Life, Prot, Pte, TaskId, Vma, VmaId, VmaKind};
use crate::design::Cow;
use crate::errno::Errno;
use crate::mm::{Gfp, Invariant, PageContent, PageFlags, Pfn, Writer};
use crate::pagecache::FileId;

impl Kernel<'_> {
    /// The frame a PTE maps, if present and still allocated; a PTE whose folio was freed
    /// raises `use-after-free` (the access reaches a freed frame) and gives `Err`.
    pub fn present_page(
        &mut self,
        task: TaskId,
        vma: VmaId,
        page: u32,
        what: &str,
    ) -> Result<Option<(Pfn, bool)>, Errno> {
        match self.pte(task, vma, page) {
            Pte::None => Ok(None),
            Pte::Unmapped => Err(Errno::EFAULT),
            Pte::Present { pfn, write } if self.mem.in_use(pfn) => Ok(Some((pfn, write))),
            Pte::Present { pfn, .. } | Pte::Dangling { pfn } => {
                self.ev.raise(Invariant::UseAfterFree, || {
                    format!("{what} through the PTE of page {page} reaches {pfn}, which was freed")
                });
                Err(Errno::EFAULT)
            }
        }
    }

    /// `handle_mm_fault` for page `page` of a VMA: a fault on a missing PTE
    /// (`do_anonymous_page`; for a file mapping `do_read_fault`, or `do_cow_fault` for a write
    /// to a private one), or a write fault on a write-protected one (`do_wp_page`). `gfp` is
    /// where a new page may come from (normal only under `memalloc_pin_save()`). Errors: EFAULT
    /// for no VMA or no permission (the kernel's SIGSEGV), ENOMEM when no frame is free. A
    /// write fault through a shared file mapping is `do_shared_fault` (missing PTE) or
    /// `wp_page_shared` (write-protected PTE), each calling `->page_mkwrite`.
    pub fn handle_mm_fault(
        &mut self,
        task: TaskId,
        vma: VmaId,
        page: u32,
        write: bool,
        gfp: Gfp,
    ) -> Result<(), Errno> {
        let Some(v) = self.vma(task, vma) else {
            return Err(Errno::EFAULT);
        };
        if write && v.prot != Prot::Rw {
            return Err(Errno::EFAULT);
        }
        let shared = v.kind == VmaKind::Shared;
        match (self.present_page(task, vma, page, "fault")?, v.file) {
            (None, None) => self.do_anonymous_page(task, vma, page, write, gfp),
            (None, Some((file, offset))) if write && shared => {
                self.do_shared_fault(task, vma, page, file, offset + page, gfp)
            }
            (Some((pfn, false)), Some((file, _))) if write && shared => {
                self.wp_page_shared(task, vma, page, file, pfn)
            }
            (None, Some((file, offset))) if write => {
                self.do_cow_fault(task, vma, page, file, offset + page, gfp)
            }
            (None, Some((file, offset))) => {
                self.do_read_fault(task, vma, page, file, offset + page, gfp)
            }
            (Some((_, false)), _) if write => self.do_wp_page(task, vma, page, gfp, false),
            (Some(_), _) => Ok(()),
        }
    }

    /// `filemap_fault` / `shmem_fault` through the kernel: the cached page, or a page read in
    /// from the disk by a read bio, which costs its I/O (`bio_refs = all-pins`: the bio pins the
    /// page for the read, `get_gup_pin`, and unpins it at `bio_put`; the read ends in the same
    /// step, so the counts end where they began).
    /// A page at or past `i_size` (after a truncate) is SIGBUS: EFAULT.
    pub fn filemap_fault(&mut self, file: FileId, index: u32, gfp: Gfp) -> Result<Pfn, Errno> {
        if index >= self.cache.i_size(file) {
            return Err(Errno::EFAULT);
        }
        let cached = self.cache.is_cached(file, index);
        let pfn = self
            .cache
            .filemap_fault(self.mem, file, index, gfp, self.ev)
            .ok_or(Errno::ENOMEM)?;
        if !cached && self.cache.file(file).fs.has_buffers() {
            self.page_cache_bio();
        }
        Ok(pfn)
    }

    /// The I/O cost of a page-cache bio of one small page (a read in, a writeback): a page of
    /// I/O, and under `bio_refs = all-pins` a pin taken and dropped.
    pub fn page_cache_bio(&mut self) {
        self.as_io(|k| {
            if k.design.bio_refs == crate::design::BioRefs::AllPins {
                k.ev.count_ref_ops(2);
            }
            k.ev.io_pages += 1;
        });
    }

    /// Runs `f` on behalf of I/O, whatever the step is: the counts it changes are I/O's cost
    /// ([`crate::mm::Events::count_ref_ops`]). For the bios of the page cache, which any step
    /// (a fault, reclaim, a direct I/O's flush) may issue.
    pub(crate) fn as_io<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let io = std::mem::replace(&mut self.ev.io, true);
        let out = f(self);
        self.ev.io = io;
        out
    }

    /// `do_shared_fault` (mm/memory.c): the page-cache page (read in if needed), made ready to
    /// be written by `->page_mkwrite` (ext4 attaches its buffers and dirties the folio), mapped
    /// writable.
    fn do_shared_fault(
        &mut self,
        task: TaskId,
        vma: VmaId,
        page: u32,
        file: FileId,
        index: u32,
        gfp: Gfp,
    ) -> Result<(), Errno> {
        let pfn = self.filemap_fault(file, index, gfp)?;
        self.cache.page_mkwrite(self.mem, file, pfn, self.ev);
        self.mem.folio_ref_add(pfn, 1, 1, self.ev);
        self.mem.page_mapcount_add(pfn, 1);
        self.set_pte(task, vma, page, Pte::Present { pfn, write: true });
        self.ev
            .note(|| format!("do_shared_fault → page_mkwrite: page {page} maps {pfn} writable"));
        Ok(())
    }

    /// `wp_page_shared` (mm/memory.c): a write fault on a write-protected PTE of a shared
    /// mapping (writeback's `page_mkclean` made it so): `->page_mkwrite` again, and the same
    /// page mapped writable.
    fn wp_page_shared(
        &mut self,
        task: TaskId,
        vma: VmaId,
        page: u32,
        file: FileId,
        pfn: Pfn,
    ) -> Result<(), Errno> {
        self.cache.page_mkwrite(self.mem, file, pfn, self.ev);
        self.set_pte(task, vma, page, Pte::Present { pfn, write: true });
        self.ev
            .note(|| format!("wp_page_shared → page_mkwrite: {pfn} made writable again"));
        Ok(())
    }

    /// `do_read_fault` (mm/memory.c): maps the page-cache page of the file page (read in if
    /// needed, `filemap_fault`), with a reference and a mapcount for the PTE: read-only, except
    /// in a writable shared mapping of shmem, which wants no write notification
    /// (`vma_wants_writenotify`: no `page_mkwrite`, no writeback) and is mapped writable.
    fn do_read_fault(
        &mut self,
        task: TaskId,
        vma: VmaId,
        page: u32,
        file: FileId,
        index: u32,
        gfp: Gfp,
    ) -> Result<(), Errno> {
        let pfn = self.filemap_fault(file, index, gfp)?;
        self.mem.folio_ref_add(pfn, 1, 1, self.ev);
        self.mem.page_mapcount_add(pfn, 1);
        let v = self.vma(task, vma).expect("checked by the caller");
        let write = v.kind == VmaKind::Shared
            && v.prot == Prot::Rw
            && !self.cache.file(file).fs.has_buffers();
        self.set_pte(task, vma, page, Pte::Present { pfn, write });
        let handler = if self.cache.file(file).fs.has_buffers() {
            "filemap_fault"
        } else {
            "shmem_fault"
        };
        self.ev.note(|| {
            format!("do_read_fault ({handler}): page {page} maps the page-cache page {pfn}")
        });
        Ok(())
    }

    /// `do_cow_fault` (mm/memory.c): a write fault on a missing PTE of a private file mapping
    /// copies the page-cache page (read in if needed) into a new exclusive anon page, mapped
    /// writable; the page cache keeps its page untouched.
    fn do_cow_fault(
        &mut self,
        task: TaskId,
        vma: VmaId,
        page: u32,
        file: FileId,
        index: u32,
        gfp: Gfp,
    ) -> Result<(), Errno> {
        let src = self.filemap_fault(file, index, gfp)?;
        let new = self.mem.alloc_folio(0, gfp).ok_or(Errno::ENOMEM)?;
        self.mem.set_content(new, self.mem.content(src));
        self.mem
            .set_page_flag(new, PageFlags::ANON | PageFlags::ANON_EXCLUSIVE, true);
        self.mem.page_mapcount_add(new, 1);
        self.set_pte(
            task,
            vma,
            page,
            Pte::Present {
                pfn: new,
                write: true,
            },
        );
        self.ev.note(|| {
            format!("do_cow_fault: the page-cache page {src} copied to a new anon page {new}")
        });
        Ok(())
    }

    /// `do_anonymous_page` (mm/memory.c): a read fault maps the shared zero page read-only, as
    /// a special PTE that takes no reference; a write fault maps a new zeroed page, exclusive
    /// (`folio_add_new_anon_rmap(..., RMAP_EXCLUSIVE)`). In a huge VMA the first touch
    /// allocates the whole large folio and maps every PTE, each holding one folio reference
    /// (`folio_ref_add(folio, nr_pages - 1)`). Simplification: the huge zero page is not
    /// modelled, so a read fault on a huge VMA allocates too (as with
    /// `transparent_hugepage/use_zero_page = 0`).
    fn do_anonymous_page(
        &mut self,
        task: TaskId,
        vma: VmaId,
        page: u32,
        write: bool,
        gfp: Gfp,
    ) -> Result<(), Errno> {
        let v = self.vma(task, vma).expect("checked by the caller");
        let (order, writable) = (v.order, v.prot == Prot::Rw);
        if order == 0 && !write {
            let zero = self.mem.zero_pfn();
            self.set_pte(
                task,
                vma,
                page,
                Pte::Present {
                    pfn: zero,
                    write: false,
                },
            );
            self.ev
                .note(|| format!("do_anonymous_page (read): page {page} maps the zero page"));
            return Ok(());
        }
        let head = self.mem.alloc_folio(order, gfp).ok_or(Errno::ENOMEM)?;
        let nr = 1u32 << order;
        if nr > 1 {
            self.mem.folio_ref_add(head, 1, u64::from(nr - 1), self.ev);
        }
        self.mem.set_page_flag(head, PageFlags::ANON, true);
        let first = page & !(nr - 1);
        for i in 0..nr {
            let pfn = Pfn(head.0 + i);
            self.mem.set_content(pfn, PageContent::ZERO);
            self.mem.set_page_flag(pfn, PageFlags::ANON_EXCLUSIVE, true);
            self.mem.page_mapcount_add(pfn, 1);
            self.set_pte(
                task,
                vma,
                first + i,
                Pte::Present {
                    pfn,
                    write: writable,
                },
            );
        }
        self.ev.note(|| {
            format!(
                "do_anonymous_page ({}): new anon folio at {head} (order {order}, {} zone)",
                if write { "write" } else { "read" },
                self.mem.zone(head).name()
            )
        });
        Ok(())
    }

    /// `do_wp_page` (mm/memory.c): a write fault (or, with `unshare`, a `FAULT_FLAG_UNSHARE`
    /// fault from GUP) on a write-protected PTE of a private mapping. Only an anonymous page
    /// can be reused in place (the zero page and page-cache pages are always copied); whether
    /// it is, is the `cow` knob:
    /// - `mapcount` (before 5.8): reuse if the folio is mapped once (`reuse_swap_page`: the
    ///   largest mapcount over the folio's pages, so a PTE-mapped large folio counts whole);
    /// - `refcount` (5.9–5.18, 09854ba94c6a): reuse only a small folio whose refcount is 1;
    /// - `pae-anon-only`, `anon-exclusive` (5.19+): reuse a PageAnonExclusive page; otherwise
    ///   reuse a small folio whose refcount is 1 and mark it exclusive
    ///   (`wp_can_reuse_anon_folio`).
    ///
    /// A page of a PMD-mapped THP goes through [`Kernel::do_huge_pmd_wp_page`] first.
    ///
    /// An unshare leaves the PTE read-only. Simplification: no swap cache, KSM or LRU
    /// draining.
    pub(crate) fn do_wp_page(
        &mut self,
        task: TaskId,
        vma: VmaId,
        page: u32,
        gfp: Gfp,
        unshare: bool,
    ) -> Result<(), Errno> {
        let (pfn, _) = self
            .present_page(task, vma, page, "write fault")?
            .expect("present");
        if let Some((first, head)) = self.pmd_mapped(task, vma, page)
            && self.do_huge_pmd_wp_page(task, vma, first, head, page, gfp, unshare)?
        {
            return Ok(());
        }
        if self.mem.folio_flags(pfn).contains(PageFlags::ANON) {
            let large = self.mem.folio_test_large(pfn);
            let refcount = self.mem.folio_ref_count(pfn);
            let exclusive = self
                .mem
                .frame(pfn)
                .flags
                .contains(PageFlags::ANON_EXCLUSIVE);
            let mapcount = match self.design.cow {
                Cow::Mapcount => self.folio_max_mapcount(pfn),
                _ => 0,
            };
            let reuse = match self.design.cow {
                Cow::Mapcount => mapcount == 1,
                Cow::Refcount => !large && refcount == 1,
                Cow::PaeAnonOnly | Cow::AnonExclusive => exclusive || (!large && refcount == 1),
            };
            if reuse {
                self.mem.set_page_flag(pfn, PageFlags::ANON_EXCLUSIVE, true);
                if !unshare {
                    self.set_pte(task, vma, page, Pte::Present { pfn, write: true });
                }
                let cow = self.design.cow;
                self.ev.note(|| {
                    let why = match cow {
                        Cow::Mapcount => "mapped once (cow = mapcount)".to_owned(),
                        Cow::Refcount => "_refcount 1 (cow = refcount)".to_owned(),
                        _ if exclusive => "PageAnonExclusive".to_owned(),
                        _ => "_refcount 1, so it is marked PageAnonExclusive".to_owned(),
                    };
                    format!(
                        "do_wp_page ({}): {pfn} reused in place: {why}",
                        if unshare { "unshare" } else { "write" }
                    )
                });
                return Ok(());
            }
            let cow = self.design.cow;
            self.ev.note(|| {
                let why = match cow {
                    Cow::Mapcount => format!("mapped {mapcount} times (cow = mapcount)"),
                    Cow::Refcount if large => "a large folio (cow = refcount)".to_owned(),
                    Cow::Refcount => format!("_refcount {refcount}, not 1 (cow = refcount)"),
                    _ if large => "not PageAnonExclusive, in a large folio".to_owned(),
                    _ => format!("not PageAnonExclusive, and _refcount {refcount}, not 1"),
                };
                format!("do_wp_page: {pfn} not reused: {why}")
            });
        } else {
            self.ev.note(|| {
                format!("do_wp_page: {pfn} is not anonymous (the zero page or a page-cache page): copied")
            });
        }
        self.wp_page_copy(task, vma, page, pfn, gfp, unshare)
    }

    /// Whether page `page` of a huge VMA is still PMD-mapped: the naturally aligned block of
    /// PTEs around it maps, in order, every page of one anon folio of the VMA's order, with the
    /// same permission. Returns the block's first page and the folio's head. (PTE-level
    /// changes — COW of one page, a partial munmap — leave the folio PTE-mapped.)
    fn pmd_mapped(&self, task: TaskId, vma: VmaId, page: u32) -> Option<(u32, Pfn)> {
        let order = self.vm.layout(task, vma).order;
        if order == 0 {
            return None;
        }
        let nr = 1u32 << order;
        let first = page & !(nr - 1);
        let Pte::Present { pfn: head, write } = self.pte(task, vma, first) else {
            return None;
        };
        let f = self.mem.frame(head);
        if !self.mem.in_use(head)
            || f.order != order
            || self.mem.folio(head) != head
            || !f.flags.contains(PageFlags::ANON)
        {
            return None;
        }
        (0..nr)
            .all(|i| {
                self.pte(task, vma, first + i)
                    == Pte::Present {
                        pfn: Pfn(head.0 + i),
                        write,
                    }
            })
            .then_some((first, head))
    }

    /// `do_huge_pmd_wp_page` (mm/huge_memory.c): a write (or unshare) fault on a PMD-mapped
    /// THP, by era (`cow`):
    /// - `mapcount` (5.0): reuse the whole THP if `reuse_swap_page` (the largest mapcount over
    ///   its pages is 1); otherwise copy it whole (`do_huge_pmd_wp_page_fallback` /
    ///   `copy_user_huge_page`), so a pin on any of its pages stops tracking what the process
    ///   maps;
    /// - `refcount` (5.9–5.17 for THP): reuse the whole THP by the same mapcount rule;
    ///   otherwise split the PMD and handle the page as a small one (one page copied);
    /// - `pae-anon-only`, `anon-exclusive` (5.19+): reuse the whole THP if its page is
    ///   PageAnonExclusive or the folio has no reference beyond this mapping (`folio_ref_count
    ///   == 1` for the PMD, here one per PTE); otherwise split the PMD and handle the page as a
    ///   small one.
    ///
    /// Returns false when the fault falls back to the PTE-level path.
    #[expect(
        clippy::too_many_arguments,
        reason = "the fault's address and the THP's placement"
    )]
    fn do_huge_pmd_wp_page(
        &mut self,
        task: TaskId,
        vma: VmaId,
        first: u32,
        head: Pfn,
        page: u32,
        gfp: Gfp,
        unshare: bool,
    ) -> Result<bool, Errno> {
        let nr = self.mem.folio_nr_pages(head);
        let whole_reuse = match self.design.cow {
            Cow::Mapcount | Cow::Refcount => self.folio_max_mapcount(head) == 1,
            Cow::PaeAnonOnly | Cow::AnonExclusive => {
                let pfn = Pfn(head.0 + page - first);
                self.mem
                    .frame(pfn)
                    .flags
                    .contains(PageFlags::ANON_EXCLUSIVE)
                    || i64::from(self.mem.folio_ref_count(head)) == i64::from(nr)
            }
        };
        if whole_reuse {
            for i in 0..nr {
                let pfn = Pfn(head.0 + i);
                self.mem.set_page_flag(pfn, PageFlags::ANON_EXCLUSIVE, true);
                if !unshare {
                    self.set_pte(task, vma, first + i, Pte::Present { pfn, write: true });
                }
            }
            self.ev
                .note(|| format!("do_huge_pmd_wp_page: {head} reused whole"));
            return Ok(true);
        }
        if self.design.cow != Cow::Mapcount {
            self.ev
                .note(|| format!("do_huge_pmd_wp_page: the PMD of {head} is split (__split_huge_pmd); page {page} is handled alone"));
            return Ok(false);
        }
        self.copy_huge_page(task, vma, first, head, gfp, unshare)?;
        Ok(true)
    }

    /// The 5.0 THP copy: the whole THP is copied (into a new THP, or failing that into small
    /// pages, as `do_huge_pmd_wp_page_fallback` did), every PTE of the block now maps the copy
    /// and the old folio loses this mapping's references. ENOMEM, changing nothing, if the
    /// copy finds no room.
    fn copy_huge_page(
        &mut self,
        task: TaskId,
        vma: VmaId,
        first: u32,
        head: Pfn,
        gfp: Gfp,
        unshare: bool,
    ) -> Result<(), Errno> {
        let order = self.mem.frame(head).order;
        let nr = 1u32 << order;
        let copies: Vec<Pfn> = match self.mem.alloc_folio(order, gfp) {
            Some(new) => {
                self.mem.folio_ref_add(new, 1, u64::from(nr - 1), self.ev);
                (0..nr).map(|i| Pfn(new.0 + i)).collect()
            }
            None => {
                let mut small = Vec::new();
                for _ in 0..nr {
                    match self.mem.alloc_folio(0, gfp) {
                        Some(p) => small.push(p),
                        None => {
                            for p in small {
                                self.mem
                                    .folio_put_refs(p, 1, 1, "free a failed copy", self.ev);
                            }
                            return Err(Errno::ENOMEM);
                        }
                    }
                }
                small
            }
        };
        self.mem.set_page_flag(copies[0], PageFlags::ANON, true);
        for (i, &new) in copies.iter().enumerate() {
            let old = Pfn(head.0 + i as u32);
            self.mem
                .set_page_flag(self.mem.folio(new), PageFlags::ANON, true);
            self.mem.set_content(new, self.mem.content(old));
            self.mem.set_page_flag(new, PageFlags::ANON_EXCLUSIVE, true);
            self.mem.page_mapcount_add(new, 1);
            self.set_pte(
                task,
                vma,
                first + i as u32,
                Pte::Present {
                    pfn: new,
                    write: !unshare,
                },
            );
            self.mem.page_mapcount_add(old, -1);
        }
        self.mem.folio_put_refs(
            head,
            1,
            u64::from(nr),
            "put_page of the copied THP",
            self.ev,
        );
        self.ev
            .note(|| format!("do_huge_pmd_wp_page: {head} copied whole to {}", copies[0]));
        Ok(())
    }

    /// `wp_page_copy` (mm/memory.c): copies the page into a new exclusive anon page, maps the
    /// copy (writable unless this is an unshare) and drops the old page's mapping and
    /// reference.
    fn wp_page_copy(
        &mut self,
        task: TaskId,
        vma: VmaId,
        page: u32,
        old: Pfn,
        gfp: Gfp,
        unshare: bool,
    ) -> Result<(), Errno> {
        let new = self.mem.alloc_folio(0, gfp).ok_or(Errno::ENOMEM)?;
        self.mem.set_content(new, self.mem.content(old));
        self.mem
            .set_page_flag(new, PageFlags::ANON | PageFlags::ANON_EXCLUSIVE, true);
        self.mem.page_mapcount_add(new, 1);
        self.set_pte(
            task,
            vma,
            page,
            Pte::Present {
                pfn: new,
                write: !unshare,
            },
        );
        self.ev.note(|| {
            format!(
                "wp_page_copy ({}): {old} copied to {new}",
                if unshare { "unshare" } else { "write" }
            )
        });
        if !self.mem.is_zero_page(old) {
            self.mem.page_mapcount_add(old, -1);
            self.mem
                .folio_put_refs(old, 1, 1, "put_page of the COW source", self.ev);
        }
        Ok(())
    }

    /// A user store of `value` to page `page` (a write through the page tables, faulting
    /// first as needed).
    pub fn store(&mut self, task: TaskId, vma: VmaId, page: u32, value: u8) -> Result<(), Errno> {
        self.handle_mm_fault(task, vma, page, true, Gfp::Movable)?;
        let (pfn, _) = self
            .present_page(task, vma, page, "store")?
            .expect("faulted in");
        let writer = Writer::Task(task as u16);
        let epoch = self.vm.task(task).epoch;
        self.mem.set_content(
            pfn,
            PageContent {
                value,
                writer,
                epoch,
            },
        );
        Ok(())
    }

    /// A user load from page `page` (a read fault first if nothing is mapped). What the task
    /// reads is checked against its lineage (`leak-parent-to-child`, `leak-child-to-parent`).
    pub fn load(&mut self, task: TaskId, vma: VmaId, page: u32) -> Result<PageContent, Errno> {
        if self.present_page(task, vma, page, "load")?.is_none() {
            self.handle_mm_fault(task, vma, page, false, Gfp::Movable)?;
        }
        let (pfn, _) = self
            .present_page(task, vma, page, "load")?
            .expect("faulted in");
        let content = self.mem.content(pfn);
        self.observe(task, content, || format!("a load of page {page}"));
        Ok(content)
    }

    /// `zap_pte_range` for one PTE: drops the page's mapping and the reference it held (none
    /// for the zero page). A PTE whose folio was already freed is a use-after-free: the put
    /// reaches a freed page, and nothing else is done.
    pub(crate) fn zap_pte(&mut self, task: TaskId, vma: VmaId, page: u32) {
        if self.pte(task, vma, page) == Pte::Unmapped {
            return;
        }
        if let Ok(Some((pfn, _))) = self.present_page(task, vma, page, "zap_pte_range")
            && !self.mem.is_zero_page(pfn)
        {
            self.mem.page_mapcount_add(pfn, -1);
            self.mem
                .folio_put_refs(pfn, 1, 1, "put_page of an unmapped PTE", self.ev);
        }
        self.set_pte(task, vma, page, Pte::None);
    }

    /// `munmap` of a whole VMA (`do_vmi_munmap`): zaps every PTE. Unmapping a VMA that is
    /// already gone succeeds and does nothing, as in the kernel.
    pub fn munmap(&mut self, task: TaskId, vma: VmaId) -> Result<(), Errno> {
        let pages = self.vm.layout(task, vma).pages;
        self.munmap_range(task, vma, 0..pages)
    }

    /// `munmap` of pages `pages` of a VMA (`do_vmi_munmap`, splitting the VMA): zaps their
    /// PTEs; what remains of the VMA stays mapped. Unmapping what is already gone succeeds
    /// and does nothing, as in the kernel. Simplification: a large folio partly unmapped stays
    /// whole (no deferred split).
    pub fn munmap_range(
        &mut self,
        task: TaskId,
        vma: VmaId,
        pages: std::ops::Range<u32>,
    ) -> Result<(), Errno> {
        if !self.vm.task(task).alive() {
            return Err(Errno::ESRCH);
        }
        let Some(v) = self.vma(task, vma) else {
            return Ok(());
        };
        if pages == (0..v.pages) {
            for page in 0..v.pages {
                self.zap_pte(task, vma, page);
            }
            self.vm.set_vma(
                task,
                vma,
                Vma {
                    mapped: false,
                    prot: v.prot,
                },
            );
            return Ok(());
        }
        for page in pages {
            self.zap_pte(task, vma, page);
            self.set_pte(task, vma, page, Pte::Unmapped);
        }
        if (0..v.pages).all(|p| self.pte(task, vma, p) == Pte::Unmapped) {
            self.vm.set_vma(
                task,
                vma,
                Vma {
                    mapped: false,
                    prot: v.prot,
                },
            );
        }
        Ok(())
    }

    /// The largest mapcount over the pages of the folio `pfn` belongs to: what
    /// `reuse_swap_page` (before 5.8) compared with 1.
    pub fn folio_max_mapcount(&self, pfn: Pfn) -> i32 {
        let head = self.mem.folio(pfn);
        (0..self.mem.folio_nr_pages(head))
            .map(|i| self.mem.frame(Pfn(head.0 + i)).mapcount)
            .max()
            .unwrap_or(0)
    }

    /// `do_exit` → `exit_mmap`: tears down every mapping of the task. Handles the task
    /// bound are not touched (they are the holders' to release).
    pub fn exit(&mut self, task: TaskId) -> Result<(), Errno> {
        if !self.vm.task(task).alive() {
            return Err(Errno::ESRCH);
        }
        for vma in 0..self.vm.nr_vmas(task) {
            self.munmap(task, vma)?;
        }
        let mut state = self.vm.task(task);
        state.life = Life::Exited;
        self.vm.set_task(task, state);
        Ok(())
    }

    /// `mprotect` of a whole VMA (mm/mprotect.c). The same protection again changes nothing
    /// (`mprotect_fixup` returns early). `r` write-protects every PTE. `rw` never makes a
    /// private PTE writable (the next write faults and `do_wp_page` decides), except that under
    /// `anon-exclusive` a PageAnonExclusive page is made writable at once
    /// (`can_change_pte_writable`). That arrived in 6.0 for dirty PTEs only (64fe24a3e05e) and
    /// for clean ones in 6.2; biopin keeps no PTE dirty bit, so `pae-anon-only` (5.19–6.1)
    /// never upgrades. ENOMEM if the VMA is gone, as for an unmapped range.
    pub fn mprotect(&mut self, task: TaskId, vma: VmaId, prot: Prot) -> Result<(), Errno> {
        if !self.vm.task(task).alive() {
            return Err(Errno::ESRCH);
        }
        let Some(v) = self.vma(task, vma) else {
            return Err(Errno::ENOMEM);
        };
        if v.prot == prot {
            return Ok(());
        }
        let upgrade = prot == Prot::Rw && self.design.cow == Cow::AnonExclusive;
        for page in 0..v.pages {
            if let Pte::Present { pfn, write } = self.pte(task, vma, page) {
                let exclusive = self.mem.in_use(pfn)
                    && self
                        .mem
                        .frame(pfn)
                        .flags
                        .contains(PageFlags::ANON_EXCLUSIVE);
                let write = match prot {
                    Prot::R => false,
                    Prot::Rw => write || (upgrade && exclusive && !self.mem.is_zero_page(pfn)),
                };
                self.set_pte(task, vma, page, Pte::Present { pfn, write });
            }
        }
        self.vm.set_vma(task, vma, Vma { mapped: true, prot });
        Ok(())
    }
}
