//! Direct I/O in flight, as world tables: per `dio-*` op its state, its bios, their bvecs, the
//! requests they were split into, and the pages it took. Each op has fixed room, sized when
//! the scenario is compiled ([`crate::program::IoDef`]); unused room holds default records,
//! which cost nothing in the fingerprint.

use biopin_explore::{Record, Table, journaled};

use crate::block::{Bio, BioFlags, BioVec, HeldBio, Piece, Taken};
use crate::errno::Errno;
use crate::mm::{PageContent, Pfn};
use crate::program::{IoDef, IoId, Program};
use crate::state::TableId;

/// Where a direct-I/O op is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IoStage {
    /// Not submitted (or failed before any bio was).
    #[default]
    Idle,
    /// Bios submitted; the caller sleeps until the last completes.
    InFlight,
    /// The caller was woken: the op returned; bios may still hold pages.
    Woken,
}

/// A direct-I/O op's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoState {
    /// Where it is.
    pub stage: IoStage,
    /// Bios built.
    pub bios: u32,
    /// Bios whose completion ran (`dio->ref` counts the others).
    pub ended: u32,
    /// Pages, bvecs and requests used, in all.
    pub pages: u32,
    /// Bvecs used.
    pub vecs: u32,
    /// Requests used.
    pub pieces: u32,
    /// The error the op returns when woken (an extraction that failed after some bios were
    /// built: the I/O of those still happens).
    pub err: Option<Errno>,
}

impl Record for IoState {
    fn pack(self) -> u128 {
        let stage = match self.stage {
            IoStage::Idle => 0u128,
            IoStage::InFlight => 1,
            IoStage::Woken => 2,
        };
        let err = self.err.map_or(0, |e| e.value() as u128 + 1);
        stage
            | u128::from(self.bios) << 2
            | u128::from(self.ended) << 24
            | u128::from(self.pages) << 46
            | u128::from(self.vecs) << 68
            | u128::from(self.pieces) << 90
            | err << 120
    }
}

/// Where a bio is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BioStage {
    /// Not built.
    #[default]
    Unused,
    /// Submitted: some requests have not transferred, or its completion has not run.
    InFlight,
    /// Its completion ran; its release (`bio_check_pages_dirty` or `bio_release_pages`) has
    /// not.
    Ended,
    /// Queued on `bio_dirty_work`.
    DirtyWork,
    /// Released and put.
    Released,
}

/// One bio's state and where its parts are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BioState {
    /// Where it is.
    pub stage: BioStage,
    /// `bi_flags`.
    pub flags: BioFlags,
    /// `bi_max_vecs`.
    pub max_vecs: u16,
    /// `bi_iter.bi_size`.
    pub size: u32,
    /// Its first byte, from the op's first.
    pub start: u32,
}

impl Record for BioState {
    fn pack(self) -> u128 {
        let stage = match self.stage {
            BioStage::Unused => 0u128,
            BioStage::InFlight => 1,
            BioStage::Ended => 2,
            BioStage::DirtyWork => 3,
            BioStage::Released => 4,
        };
        stage
            | u128::from(self.flags.bits()) << 3
            | u128::from(self.max_vecs) << 19
            | u128::from(self.size) << 35
            | u128::from(self.start) << 67
    }
}

/// Where a bio's bvecs, requests and pages start among its op's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BioParts {
    /// Its first bvec.
    pub vec: u32,
    /// Its first request.
    pub piece: u32,
    /// Its first page.
    pub page: u32,
}

impl Record for BioParts {
    fn pack(self) -> u128 {
        u128::from(self.vec) | u128::from(self.piece) << 32 | u128::from(self.page) << 64
    }
}

impl Record for BioVec {
    fn pack(self) -> u128 {
        u128::from(self.page.0)
            | u128::from(self.len) << 32
            | u128::from(self.offset) << 64
            | u128::from(self.gup) << 96
    }
}

/// One request a bio was split into, and whether its transfer ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PieceState {
    /// Where it is in the bio, and its size.
    pub start: u32,
    /// Bytes.
    pub len: u32,
    /// A split clone (`BIO_CLONED`) rather than the bio itself.
    pub clone: bool,
    /// Its transfer ran.
    pub done: bool,
}

impl Record for PieceState {
    fn pack(self) -> u128 {
        u128::from(self.start)
            | u128::from(self.len) << 32
            | u128::from(self.clone) << 64
            | u128::from(self.done) << 65
    }
}

/// One page an op took, in address order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoPage {
    /// The frame.
    pub pfn: Pfn,
    /// What it holds for the bio.
    pub taken: Taken,
    /// Its folio was freed under the bio (only a broken count can do that).
    pub dangling: bool,
    /// A transfer reached it.
    pub transferred: bool,
    /// Found to be no longer what its address maps (`pin-unreliable`), reported once.
    pub unreliable: bool,
    /// For a write to a file that needs stable writes: its content when submitted.
    pub submitted: PageContent,
}

impl Record for IoPage {
    fn pack(self) -> u128 {
        let taken = match self.taken {
            Taken::Nothing => 0u128,
            Taken::Get => 1,
            Taken::Pin => 2,
        };
        u128::from(self.pfn.0)
            | taken << 32
            | u128::from(self.dangling) << 34
            | u128::from(self.transferred) << 35
            | u128::from(self.unreliable) << 36
            | self.submitted.pack() << 40
    }
}

/// Every direct-I/O op's state in the world.
///
/// # Invariants
///
/// Op `o` has `ios[o]` and, from the bases below, `max_bios` bios (with their parts), and as
/// many bvecs, requests and pages as its [`IoDef`] makes room for; only its first
/// `IoState::bios` bios, `vecs` bvecs, `pieces` requests and `pages` pages are not default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ios {
    state: Table<IoState>,
    bios: Table<BioState>,
    parts: Table<BioParts>,
    vecs: Table<BioVec>,
    pieces: Table<PieceState>,
    pages: Table<IoPage>,
    bio_base: Vec<u32>,
    vec_base: Vec<u32>,
    piece_base: Vec<u32>,
    page_base: Vec<u32>,
}

journaled!(Ios {
    state,
    bios,
    parts,
    vecs,
    pieces,
    pages
});

/// Running offsets.
fn offsets(sizes: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut out = vec![0];
    for n in sizes {
        out.push(out.last().unwrap() + n);
    }
    out
}

impl Ios {
    /// Room for every direct-I/O op of `program`, all idle.
    pub fn new(program: &Program) -> Ios {
        let ios = &program.ios;
        let pages = |d: &IoDef| d.range.pages.len() as u32;
        let bio_base = offsets(ios.iter().map(|d| d.max_bios));
        let vec_base = offsets(ios.iter().map(pages));
        let piece_base = offsets(ios.iter().map(|d| d.max_pieces));
        let page_base = offsets(ios.iter().map(pages));
        let total = |b: &Vec<u32>| *b.last().unwrap() as usize;
        Ios {
            state: Table::new(TableId::Ios.id(), ios.len()),
            bios: Table::new(TableId::Bios.id(), total(&bio_base)),
            parts: Table::new(TableId::BioParts.id(), total(&bio_base)),
            vecs: Table::new(TableId::BioVecs.id(), total(&vec_base)),
            pieces: Table::new(TableId::Pieces.id(), total(&piece_base)),
            pages: Table::new(TableId::IoPages.id(), total(&page_base)),
            bio_base,
            vec_base,
            piece_base,
            page_base,
        }
    }

    /// The number of direct-I/O ops.
    pub fn len(&self) -> usize {
        self.state.len()
    }

    /// Whether the program has none.
    pub fn is_empty(&self) -> bool {
        self.state.len() == 0
    }

    /// An op's state.
    #[inline]
    pub fn io(&self, o: IoId) -> IoState {
        self.state.get(o)
    }

    pub(crate) fn set_io(&mut self, o: IoId, s: IoState) {
        self.state.set(o, s);
    }

    /// Bio `b` of op `o`.
    pub fn bio(&self, o: IoId, b: u32) -> BioState {
        self.bios.get((self.bio_base[o] + b) as usize)
    }

    pub(crate) fn set_bio(&mut self, o: IoId, b: u32, s: BioState) {
        self.bios.set((self.bio_base[o] + b) as usize, s);
    }

    /// Where bio `b`'s parts start; its counts run to the next bio's (or the op's totals).
    fn parts_of(&self, o: IoId, b: u32) -> (BioParts, BioParts) {
        let io = self.io(o);
        let first = self.parts.get((self.bio_base[o] + b) as usize);
        let end = if b + 1 < io.bios {
            self.parts.get((self.bio_base[o] + b + 1) as usize)
        } else {
            BioParts {
                vec: io.vecs,
                piece: io.pieces,
                page: io.pages,
            }
        };
        (first, end)
    }

    /// Bio `b`'s requests: (slot among the op's, state).
    pub fn pieces(&self, o: IoId, b: u32) -> impl Iterator<Item = (u32, PieceState)> + '_ {
        let (first, end) = self.parts_of(o, b);
        (first.piece..end.piece).map(move |p| (p, self.piece(o, p)))
    }

    /// Request `p` of op `o`.
    pub fn piece(&self, o: IoId, p: u32) -> PieceState {
        self.pieces.get((self.piece_base[o] + p) as usize)
    }

    pub(crate) fn set_piece(&mut self, o: IoId, p: u32, s: PieceState) {
        self.pieces.set((self.piece_base[o] + p) as usize, s);
    }

    /// The bio that request `p` of op `o` belongs to.
    pub fn bio_of_piece(&self, o: IoId, p: u32) -> u32 {
        let io = self.io(o);
        (0..io.bios)
            .rev()
            .find(|&b| self.parts.get((self.bio_base[o] + b) as usize).piece <= p)
            .unwrap_or(0)
    }

    /// Bio `b`'s pages: (slot among the op's, page).
    pub fn bio_pages(&self, o: IoId, b: u32) -> impl Iterator<Item = (u32, IoPage)> + '_ {
        let (first, end) = self.parts_of(o, b);
        (first.page..end.page).map(move |i| (i, self.page(o, i)))
    }

    /// Page `i` of op `o`.
    pub fn page(&self, o: IoId, i: u32) -> IoPage {
        self.pages.get((self.page_base[o] + i) as usize)
    }

    pub(crate) fn set_page(&mut self, o: IoId, i: u32, p: IoPage) {
        self.pages.set((self.page_base[o] + i) as usize, p);
    }

    /// Every page of op `o` taken so far.
    pub fn pages(&self, o: IoId) -> impl Iterator<Item = (u32, IoPage)> + '_ {
        (0..self.io(o).pages).map(move |i| (i, self.page(o, i)))
    }

    /// Bio `b` of op `o` as the block layer sees it.
    pub fn held_bio(&self, o: IoId, b: u32) -> HeldBio {
        let s = self.bio(o, b);
        let (first, end) = self.parts_of(o, b);
        HeldBio {
            bio: Bio {
                flags: s.flags,
                vecs: (first.vec..end.vec)
                    .map(|v| self.vecs.get((self.vec_base[o] + v) as usize))
                    .collect(),
                max_vecs: s.max_vecs,
                size: s.size,
                sector: 0,
                // Only adding pages looks at it; this bio is complete.
                single_page_bvecs: false,
            },
            held: (first.page..end.page)
                .map(|i| {
                    let p = self.page(o, i);
                    (p.pfn, p.taken)
                })
                .collect(),
        }
    }

    /// Records a built bio of op `o`: its bvecs, the requests it was split into, and the pages
    /// it holds (with their content when submitted, for stable writes).
    pub(crate) fn push_bio(
        &mut self,
        o: IoId,
        b: &HeldBio,
        start: u32,
        pieces: &[Piece],
        submitted: &[PageContent],
    ) {
        let mut io = self.io(o);
        let n = io.bios;
        self.parts.set(
            (self.bio_base[o] + n) as usize,
            BioParts {
                vec: io.vecs,
                piece: io.pieces,
                page: io.pages,
            },
        );
        self.set_bio(
            o,
            n,
            BioState {
                stage: BioStage::InFlight,
                flags: b.bio.flags,
                max_vecs: b.bio.max_vecs,
                size: b.bio.size,
                start,
            },
        );
        for bv in &b.bio.vecs {
            self.vecs.set((self.vec_base[o] + io.vecs) as usize, *bv);
            io.vecs += 1;
        }
        for p in pieces {
            self.set_piece(
                o,
                io.pieces,
                PieceState {
                    start: p.start,
                    len: p.len,
                    clone: p.clone,
                    done: false,
                },
            );
            io.pieces += 1;
        }
        for (i, &(pfn, taken)) in b.held.iter().enumerate() {
            self.set_page(
                o,
                io.pages,
                IoPage {
                    pfn,
                    taken,
                    submitted: submitted.get(i).copied().unwrap_or_default(),
                    ..IoPage::default()
                },
            );
            io.pages += 1;
        }
        io.bios += 1;
        self.set_io(o, io);
    }

    /// The bios changed since the latest checkpoint: (op, bio, old state), in order.
    pub fn bios_changed_since_checkpoint(&self) -> Vec<(IoId, u32, BioState)> {
        let mut out: Vec<(IoId, u32, BioState)> = self
            .bios
            .changed()
            .into_iter()
            .map(|(slot, old)| {
                let o = self.bio_base.partition_point(|&b| b as usize <= slot) - 1;
                (o, slot as u32 - self.bio_base[o], old)
            })
            .collect();
        out.sort_by_key(|&(o, b, _)| (o, b));
        out
    }

    /// Marks every page in `freed` that an op holds dangling.
    pub(crate) fn mark_dangling(&mut self, freed: &std::ops::Range<u32>) {
        for o in 0..self.len() {
            if self.io(o).stage == IoStage::Idle {
                continue;
            }
            for i in 0..self.io(o).pages {
                let p = self.page(o, i);
                if freed.contains(&p.pfn.0) && !p.dangling {
                    self.set_page(
                        o,
                        i,
                        IoPage {
                            dangling: true,
                            ..p
                        },
                    );
                }
            }
        }
    }
}
