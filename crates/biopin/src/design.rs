//! Designs: the knobs that say how the kernel tracks I/O page references, and the named presets
//! (docs/design.md, Designs).
//!
//! A design is a preset plus overrides: `PRESET ('+' KNOB '=' VALUE)*`, each knob at most once.
//! Its canonical form lists the overrides in the knob table's order and drops values equal to
//! the preset's, so `linux-6.5+cow=refcount` names 5.9's COW on today's block layer and
//! `linux-6.5+cow=anon-exclusive` is just `linux-6.5`.

use std::fmt;

use thiserror::Error;

macro_rules! knob {
    (
        $(#[doc = $doc:literal])*
        $ty:ident = $key:literal {
            $($(#[doc = $vdoc:literal])* $variant:ident = $text:literal,)*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $ty {
            $($(#[doc = $vdoc])* $variant,)*
        }

        impl $ty {
            /// The knob's name in design strings.
            pub const KEY: &'static str = $key;
            /// Every value, in the table's order.
            pub const VALUES: &'static [$ty] = &[$($ty::$variant,)*];
            /// What the knob decides: its documentation.
            pub const ABOUT: &'static str = concat!($($doc),*);

            /// What the value means: its documentation.
            pub fn about(self) -> &'static str {
                match self { $($ty::$variant => concat!($($vdoc),*),)* }
            }

            /// The value's name in design strings.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text,)* }
            }

            /// Looks a value up by name.
            pub fn parse(text: &str) -> Option<Self> {
                Self::VALUES.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

knob! {
    /// What the kernel's own I/O paths (direct I/O extraction, `rdma-reg`) take from user
    /// memory. The `get` and `pin` ops always call the API they name.
    Gup = "gup" {
        /// A FOLL_GET reference: +1 on `_refcount`.
        Get = "get",
        /// A FOLL_PIN pin: +`GUP_PIN_COUNTING_BIAS` on a small folio, +1 and `_pincount`+1 on
        /// a large one.
        Pin = "pin",
    }
}

knob! {
    /// How bios hold page references.
    BioRefs = "bio_refs" {
        /// v5.0–6.4: direct-I/O pages hold plain references released with `put_page`
        /// (io_uring's bvecs exempt from 5.1: `BIO_NO_PAGE_REF`).
        Ref = "ref",
        /// Glisse 2019: each bvec records whether its page came from GUP; release picks unpin
        /// or put.
        VecFlag = "vec-flag",
        /// Kara 2019: every page in every bio holds a pin, asserted in `bio_add_page`, always
        /// unpinned at release (withdrawn by its author three days later).
        AllPins = "all-pins",
        /// Upstream since 6.5: `BIO_PAGE_PINNED` iff the pages came from a user-backed
        /// extraction.
        PinnedFlag = "pinned-flag",
    }
}

knob! {
    /// What writeback does with a maybe-DMA-pinned dirty folio.
    Writeback = "writeback" {
        /// Nothing special (upstream today).
        Ignore = "ignore",
        /// Kara's 2023 RFC: background writeback leaves it dirty; an integrity sync writes it
        /// as any other folio, bounced only where the device needs stable writes.
        Skip = "skip",
        /// Always write a bounce copy; the folio stays dirty.
        Bounce = "bounce",
    }
}

knob! {
    /// What reclaim does with a maybe-DMA-pinned folio.
    Reclaim = "reclaim" {
        /// Like any other folio: pageout if dirty, release private state if clean.
        Strip = "strip",
        /// d824ec2a1546 (2023): after unmapping, activate it and keep it as it is.
        KeepPinned = "keep-pinned",
    }
}

knob! {
    /// Anonymous write-fault reuse (`do_wp_page`) and fork's treatment of pinned pages.
    Cow = "cow" {
        /// Before 5.9: reuse a page mapped once (5.8 kept this rule but also broke COW in
        /// GUP itself, 17839856fd58, which is not modelled).
        Mapcount = "mapcount",
        /// 5.9–5.18: reuse only if the refcount is 1; fork copies maybe-pinned pages at once.
        Refcount = "refcount",
        /// 5.19–6.1: PageAnonExclusive; R/O pins of shared anon pages unshare first.
        PaeAnonOnly = "pae-anon-only",
        /// 6.2+: as `pae-anon-only`, and R/O long-term pins unshare in every COW mapping, the
        /// zero page included.
        AnonExclusive = "anon-exclusive",
    }
}

knob! {
    /// Whether GUP-fast rechecks `write_protect_seq` against fork (57efa1fe5957, 5.11).
    GupFastFork = "gup_fast_fork" {
        /// No recheck of the sequence (the PTE itself is still rechecked).
        Racy = "racy",
        /// Recheck; an odd or changed sequence drops what was grabbed and falls back.
        Seqcount = "seqcount",
    }
}

knob! {
    /// Whether a FOLL_LONGTERM pin first migrates folios out of `ZONE_MOVABLE` (5.13).
    LongtermMigrate = "longterm_migrate" {
        /// Pin in place, wherever the folio is.
        None = "none",
        /// Migrate movable-zone folios to a normal frame, or fail holding nothing.
        Movable = "movable",
    }
}

knob! {
    /// Whether FOLL_LONGTERM|FOLL_WRITE may pin a file mapping that needs dirty tracking.
    LongtermFileWrite = "longterm_file_write" {
        /// Allowed (before 6.5).
        Allow = "allow",
        /// EFAULT (6.5+); shmem is allowed.
        Refuse = "refuse",
    }
}

knob! {
    /// Whether FOLL_GET and pipe references may wrap the 32-bit refcount. Pins never may: they
    /// came (5.6) after the fix, and `try_grab_page` checked the count from its first version.
    RefOverflow = "ref_overflow" {
        /// Before 5.1: they may (CVE-2019-11487).
        Wrap = "wrap",
        /// 5.1+: refused with ENOMEM once the refcount is not positive.
        Refuse = "refuse",
    }
}

knob! {
    /// Whether pinning the zero page changes its counts.
    ZeroPagePin = "zero_page_pin" {
        /// Pinned like any small folio (+1024 a pin).
        Count = "count",
        /// 6.5+ (c8070b787519): pins and unpins of the zero page change nothing.
        Skip = "skip",
    }
}

/// A knob, in the table's order (which is the canonical order of overrides).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Knob {
    /// [`Gup`].
    Gup,
    /// [`BioRefs`].
    BioRefs,
    /// [`Writeback`].
    Writeback,
    /// [`Reclaim`].
    Reclaim,
    /// [`Cow`].
    Cow,
    /// [`GupFastFork`].
    GupFastFork,
    /// [`LongtermMigrate`].
    LongtermMigrate,
    /// [`LongtermFileWrite`].
    LongtermFileWrite,
    /// [`RefOverflow`].
    RefOverflow,
    /// [`ZeroPagePin`].
    ZeroPagePin,
}

impl Knob {
    /// Every knob, in the table's order.
    pub const ALL: [Knob; 10] = [
        Knob::Gup,
        Knob::BioRefs,
        Knob::Writeback,
        Knob::Reclaim,
        Knob::Cow,
        Knob::GupFastFork,
        Knob::LongtermMigrate,
        Knob::LongtermFileWrite,
        Knob::RefOverflow,
        Knob::ZeroPagePin,
    ];

    /// The knob's name in design strings.
    pub fn key(self) -> &'static str {
        match self {
            Knob::Gup => Gup::KEY,
            Knob::BioRefs => BioRefs::KEY,
            Knob::Writeback => Writeback::KEY,
            Knob::Reclaim => Reclaim::KEY,
            Knob::Cow => Cow::KEY,
            Knob::GupFastFork => GupFastFork::KEY,
            Knob::LongtermMigrate => LongtermMigrate::KEY,
            Knob::LongtermFileWrite => LongtermFileWrite::KEY,
            Knob::RefOverflow => RefOverflow::KEY,
            Knob::ZeroPagePin => ZeroPagePin::KEY,
        }
    }

    /// Looks a knob up by name.
    pub fn parse(key: &str) -> Option<Knob> {
        Knob::ALL.into_iter().find(|k| k.key() == key)
    }

    /// The names of the knob's values.
    pub fn values(self) -> Vec<&'static str> {
        self.about().1.into_iter().map(|(value, _)| value).collect()
    }

    /// What the knob decides, and each value with what it means (from their documentation),
    /// each as one line of text.
    pub fn about(self) -> (String, Vec<(&'static str, String)>) {
        fn line(doc: &str) -> String {
            doc.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace('`', "")
        }
        fn each<T: Copy>(
            values: &[T],
            name: fn(T) -> &'static str,
            about: fn(T) -> &'static str,
        ) -> Vec<(&'static str, String)> {
            values.iter().map(|&v| (name(v), line(about(v)))).collect()
        }
        let (doc, values) = match self {
            Knob::Gup => (Gup::ABOUT, each(Gup::VALUES, Gup::as_str, Gup::about)),
            Knob::BioRefs => (
                BioRefs::ABOUT,
                each(BioRefs::VALUES, BioRefs::as_str, BioRefs::about),
            ),
            Knob::Writeback => (
                Writeback::ABOUT,
                each(Writeback::VALUES, Writeback::as_str, Writeback::about),
            ),
            Knob::Reclaim => (
                Reclaim::ABOUT,
                each(Reclaim::VALUES, Reclaim::as_str, Reclaim::about),
            ),
            Knob::Cow => (Cow::ABOUT, each(Cow::VALUES, Cow::as_str, Cow::about)),
            Knob::GupFastFork => (
                GupFastFork::ABOUT,
                each(GupFastFork::VALUES, GupFastFork::as_str, GupFastFork::about),
            ),
            Knob::LongtermMigrate => (
                LongtermMigrate::ABOUT,
                each(
                    LongtermMigrate::VALUES,
                    LongtermMigrate::as_str,
                    LongtermMigrate::about,
                ),
            ),
            Knob::LongtermFileWrite => (
                LongtermFileWrite::ABOUT,
                each(
                    LongtermFileWrite::VALUES,
                    LongtermFileWrite::as_str,
                    LongtermFileWrite::about,
                ),
            ),
            Knob::RefOverflow => (
                RefOverflow::ABOUT,
                each(RefOverflow::VALUES, RefOverflow::as_str, RefOverflow::about),
            ),
            Knob::ZeroPagePin => (
                ZeroPagePin::ABOUT,
                each(ZeroPagePin::VALUES, ZeroPagePin::as_str, ZeroPagePin::about),
            ),
        };
        (line(doc), values)
    }

    /// How much of what the knob decides this version of biopin models.
    pub fn modelled(self) -> &'static str {
        match self {
            Knob::Gup => {
                "modelled: what direct I/O extraction and rdma-reg take, and `get ... longterm` (allowed under get, EINVAL under pin)"
            }
            Knob::BioRefs => {
                "modelled: direct I/O (extraction, same-page merges, release, bio_put of split clones), page-cache bios (all-pins pins what writeback and reads carry), rdma-reg-fd"
            }
            Knob::Writeback => {
                "modelled: writeback's test of maybe-DMA-pinned folios (skip in the background, bounce copies)"
            }
            Knob::Reclaim => {
                "modelled: shrink_folio_list keeps maybe-DMA-pinned folios (no pageout, no buffer release)"
            }
            Knob::Cow => {
                "modelled: fork's copy-or-share decision, write faults (PMD-mapped THPs included) and the unshare of R/O pins"
            }
            Knob::GupFastFork => "modelled: fork's write_protect_seq against GUP-fast",
            Knob::LongtermMigrate => {
                "modelled: FOLL_LONGTERM pins of movable-zone folios (migrated first, or EBUSY / ENOMEM when they cannot be)"
            }
            Knob::LongtermFileWrite => {
                "modelled: writable long-term pins of shared ext4 mappings (GUP and GUP-fast)"
            }
            Knob::RefOverflow => {
                "modelled: GUP, pin and pipe references near the 32-bit limit (times N)"
            }
            Knob::ZeroPagePin => "modelled: pins and unpins of the shared zero page",
        }
    }
}

/// A named set of knob values (docs/design.md, Designs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Preset {
    /// The block layer of v5.0: GUP references, `put_page` at bio release.
    Linux5_0,
    /// Jérôme Glisse's April 2019 series: a GUP flag on each bvec.
    Glisse2019,
    /// Jan Kara's April 2019 counter-proposal: every bio page reference is a pin.
    Kara2019,
    /// Upstream since 6.5: `iov_iter_extract_pages` and `BIO_PAGE_PINNED`.
    Linux6_5,
    /// 6.5 plus Kara's 2023 RFC on writeback of pinned pages.
    Kara2023,
}

impl Preset {
    /// Every preset, in the table's order.
    pub const ALL: [Preset; 5] = [
        Preset::Linux5_0,
        Preset::Glisse2019,
        Preset::Kara2019,
        Preset::Linux6_5,
        Preset::Kara2023,
    ];

    /// The preset's name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Linux5_0 => "linux-5.0",
            Preset::Glisse2019 => "glisse-2019",
            Preset::Kara2019 => "kara-2019",
            Preset::Linux6_5 => "linux-6.5",
            Preset::Kara2023 => "kara-2023",
        }
    }

    /// What the preset stands for, in a sentence, with where it comes from.
    pub fn summary(self) -> &'static str {
        match self {
            Preset::Linux5_0 => {
                "Linux 5.0 (2019-03): direct I/O takes get_user_pages references and bios drop them with put_page; copy-on-write decides by mapcount; refcounts may wrap; writeback and reclaim ignore pins."
            }
            Preset::Glisse2019 => {
                "Jérôme Glisse, \"Keep track of GUPed pages in fs and block\" (2019-04-11): each bio_add_page caller says whether the page came from GUP, the bvec records it, release unpins or puts."
            }
            Preset::Kara2019 => {
                "Jan Kara's reply in the same thread: every page reference a bio holds is a pin, asserted in bio_add_page and dropped unconditionally at bio_put (withdrawn by him on 2019-04-18)."
            }
            Preset::Linux6_5 => {
                "Linux 6.5 (2023-08): pin_user_pages with GUP_PIN_COUNTING_BIAS, iov_iter_extract_pages and BIO_PAGE_PINNED; PageAnonExclusive; long-term pins leave ZONE_MOVABLE; reclaim keeps pinned folios."
            }
            Preset::Kara2023 => {
                "Linux 6.5 plus Jan Kara's 2023 RFC: background writeback skips a maybe-DMA-pinned folio; an integrity sync writes it, bounced only where the device needs stable pages."
            }
        }
    }

    /// Whether direct I/O checks a buffer's address against the queue's `dma_alignment`
    /// (6.0+, b1a000d3b8ec) rather than the logical block size: the presets of 6.0 or later.
    /// No knob chooses it: no design argued about it.
    pub fn dio_checks_dma_alignment(self) -> bool {
        matches!(self, Preset::Linux6_5 | Preset::Kara2023)
    }

    /// Looks a preset up by name.
    pub fn parse(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The preset's knob values.
    pub fn design(self) -> Design {
        use Preset::*;
        let (gup, bio_refs, writeback, reclaim, cow, fast, migrate, file_write, overflow, zero) =
            match self {
                Linux5_0 => (
                    Gup::Get,
                    BioRefs::Ref,
                    Writeback::Ignore,
                    Reclaim::Strip,
                    Cow::Mapcount,
                    GupFastFork::Racy,
                    LongtermMigrate::None,
                    LongtermFileWrite::Allow,
                    RefOverflow::Wrap,
                    ZeroPagePin::Count,
                ),
                Glisse2019 | Kara2019 => (
                    Gup::Pin,
                    if self == Glisse2019 {
                        BioRefs::VecFlag
                    } else {
                        BioRefs::AllPins
                    },
                    Writeback::Bounce,
                    Reclaim::KeepPinned,
                    Cow::Mapcount,
                    GupFastFork::Racy,
                    LongtermMigrate::None,
                    LongtermFileWrite::Allow,
                    RefOverflow::Refuse,
                    ZeroPagePin::Count,
                ),
                Linux6_5 | Kara2023 => (
                    Gup::Pin,
                    BioRefs::PinnedFlag,
                    if self == Linux6_5 {
                        Writeback::Ignore
                    } else {
                        Writeback::Skip
                    },
                    Reclaim::KeepPinned,
                    Cow::AnonExclusive,
                    GupFastFork::Seqcount,
                    LongtermMigrate::Movable,
                    LongtermFileWrite::Refuse,
                    RefOverflow::Refuse,
                    ZeroPagePin::Skip,
                ),
            };
        Design {
            preset: self,
            gup,
            bio_refs,
            writeback,
            reclaim,
            cow,
            gup_fast_fork: fast,
            longterm_migrate: migrate,
            longterm_file_write: file_write,
            ref_overflow: overflow,
            zero_page_pin: zero,
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A design: a preset and the knob values that override it.
///
/// # Invariants
///
/// `preset` is the preset the design was written from; the knob fields hold the effective
/// values (the preset's, where not overridden).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Design {
    preset: Preset,
    /// See [`Gup`].
    pub gup: Gup,
    /// See [`BioRefs`].
    pub bio_refs: BioRefs,
    /// See [`Writeback`].
    pub writeback: Writeback,
    /// See [`Reclaim`].
    pub reclaim: Reclaim,
    /// See [`Cow`].
    pub cow: Cow,
    /// See [`GupFastFork`].
    pub gup_fast_fork: GupFastFork,
    /// See [`LongtermMigrate`].
    pub longterm_migrate: LongtermMigrate,
    /// See [`LongtermFileWrite`].
    pub longterm_file_write: LongtermFileWrite,
    /// See [`RefOverflow`].
    pub ref_overflow: RefOverflow,
    /// See [`ZeroPagePin`].
    pub zero_page_pin: ZeroPagePin,
}

/// Why a design string was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DesignError {
    /// Nothing was given.
    #[error("empty design: name a preset ({})", preset_list())]
    Empty,
    /// The preset is unknown.
    #[error("unknown preset `{name}`: the presets are {list}, or `all`", name = .0, list = preset_list())]
    UnknownPreset(String),
    /// An override is not `KNOB=VALUE`.
    #[error("override `{0}` is not KNOB=VALUE (for example `+cow=refcount`)")]
    Syntax(String),
    /// The knob is unknown.
    #[error("unknown knob `{name}`: the knobs are {list}", name = .0, list = knob_list())]
    UnknownKnob(String),
    /// The value is not one of the knob's.
    #[error("`{value}` is not a value of `{knob}`: it takes {}", .values.join(", "))]
    UnknownValue {
        /// The knob.
        knob: &'static str,
        /// The value given.
        value: String,
        /// The knob's values.
        values: Vec<&'static str>,
    },
    /// A knob was overridden twice.
    #[error("knob `{0}` is given twice: each knob at most once")]
    Repeated(&'static str),
    /// `all` with overrides.
    #[error("`all` means every preset and takes no overrides")]
    AllWithOverrides,
    /// A list with an empty item.
    #[error(
        "`{0}` has an empty item: write designs separated by single commas, e.g. `linux-5.0,linux-6.5`"
    )]
    EmptyItem(String),
}

fn preset_list() -> String {
    Preset::ALL
        .iter()
        .map(|p| format!("`{}`", p.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn knob_list() -> String {
    Knob::ALL
        .iter()
        .map(|k| format!("`{}`", k.key()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Design {
    /// The preset the design was written from.
    pub fn preset(&self) -> Preset {
        self.preset
    }

    /// Every preset's design, in the table's order (what `all` means).
    pub fn all() -> Vec<Design> {
        Preset::ALL.iter().map(|p| p.design()).collect()
    }

    /// Parses `PRESET(+KNOB=VALUE)*`.
    pub fn parse(text: &str) -> Result<Design, DesignError> {
        let mut parts = text.trim().split('+');
        let preset = parts.next().unwrap_or("").trim();
        if preset.is_empty() {
            return Err(DesignError::Empty);
        }
        if preset == "all" {
            return Err(DesignError::AllWithOverrides);
        }
        let mut design = Preset::parse(preset)
            .ok_or_else(|| DesignError::UnknownPreset(preset.into()))?
            .design();
        let mut seen = Vec::new();
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| DesignError::Syntax(part.into()))?;
            let knob = Knob::parse(key.trim())
                .ok_or_else(|| DesignError::UnknownKnob(key.trim().into()))?;
            if seen.contains(&knob) {
                return Err(DesignError::Repeated(knob.key()));
            }
            seen.push(knob);
            design.set(knob, value.trim())?;
        }
        Ok(design)
    }

    /// Parses a comma-separated list of design strings and `all`s into the designs they name,
    /// in order, each once (a design is the same whichever way it is written).
    pub fn parse_list(text: &str) -> Result<Vec<Design>, DesignError> {
        let mut out: Vec<Design> = Vec::new();
        for item in text.split(',') {
            let named = match item.trim() {
                "" => return Err(DesignError::EmptyItem(text.into())),
                "all" => Design::all(),
                t if t.starts_with("all+") => return Err(DesignError::AllWithOverrides),
                t => vec![Design::parse(t)?],
            };
            for d in named {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// The value of `knob`, by name.
    pub fn get(&self, knob: Knob) -> &'static str {
        match knob {
            Knob::Gup => self.gup.as_str(),
            Knob::BioRefs => self.bio_refs.as_str(),
            Knob::Writeback => self.writeback.as_str(),
            Knob::Reclaim => self.reclaim.as_str(),
            Knob::Cow => self.cow.as_str(),
            Knob::GupFastFork => self.gup_fast_fork.as_str(),
            Knob::LongtermMigrate => self.longterm_migrate.as_str(),
            Knob::LongtermFileWrite => self.longterm_file_write.as_str(),
            Knob::RefOverflow => self.ref_overflow.as_str(),
            Knob::ZeroPagePin => self.zero_page_pin.as_str(),
        }
    }

    /// Sets `knob` to the value named `value`.
    pub fn set(&mut self, knob: Knob, value: &str) -> Result<(), DesignError> {
        fn pick<T>(
            knob: Knob,
            value: &str,
            parse: fn(&str) -> Option<T>,
        ) -> Result<T, DesignError> {
            parse(value).ok_or_else(|| DesignError::UnknownValue {
                knob: knob.key(),
                value: value.into(),
                values: knob.values(),
            })
        }
        match knob {
            Knob::Gup => self.gup = pick(knob, value, Gup::parse)?,
            Knob::BioRefs => self.bio_refs = pick(knob, value, BioRefs::parse)?,
            Knob::Writeback => self.writeback = pick(knob, value, Writeback::parse)?,
            Knob::Reclaim => self.reclaim = pick(knob, value, Reclaim::parse)?,
            Knob::Cow => self.cow = pick(knob, value, Cow::parse)?,
            Knob::GupFastFork => self.gup_fast_fork = pick(knob, value, GupFastFork::parse)?,
            Knob::LongtermMigrate => {
                self.longterm_migrate = pick(knob, value, LongtermMigrate::parse)?
            }
            Knob::LongtermFileWrite => {
                self.longterm_file_write = pick(knob, value, LongtermFileWrite::parse)?
            }
            Knob::RefOverflow => self.ref_overflow = pick(knob, value, RefOverflow::parse)?,
            Knob::ZeroPagePin => self.zero_page_pin = pick(knob, value, ZeroPagePin::parse)?,
        }
        Ok(())
    }

    /// The canonical form: the preset, then each knob that differs from it, in table order.
    pub fn canonical(&self) -> String {
        let base = self.preset.design();
        let mut text = self.preset.name().to_owned();
        for knob in Knob::ALL {
            if self.get(knob) != base.get(knob) {
                text.push_str(&format!("+{}={}", knob.key(), self.get(knob)));
            }
        }
        text
    }
}

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_design_table() {
        let rows = [
            "linux-5.0 get ref ignore strip mapcount racy none allow wrap count",
            "glisse-2019 pin vec-flag bounce keep-pinned mapcount racy none allow refuse count",
            "kara-2019 pin all-pins bounce keep-pinned mapcount racy none allow refuse count",
            "linux-6.5 pin pinned-flag ignore keep-pinned anon-exclusive seqcount movable refuse refuse skip",
            "kara-2023 pin pinned-flag skip keep-pinned anon-exclusive seqcount movable refuse refuse skip",
        ];
        for (preset, row) in Preset::ALL.iter().zip(rows) {
            let d = preset.design();
            let mut cells = vec![preset.name()];
            cells.extend(Knob::ALL.iter().map(|&k| d.get(k)));
            assert_eq!(cells.join(" "), row);
        }
    }

    #[test]
    fn the_two_2019_presets_differ_only_in_bio_refs() {
        let (g, k) = (Preset::Glisse2019.design(), Preset::Kara2019.design());
        let differ: Vec<_> = Knob::ALL
            .into_iter()
            .filter(|&x| g.get(x) != k.get(x))
            .collect();
        assert_eq!(differ, vec![Knob::BioRefs]);
    }

    #[test]
    fn canonical_forms() {
        let d = Design::parse("linux-6.5+cow=refcount").unwrap();
        assert_eq!(d.cow, Cow::Refcount);
        assert_eq!(d.canonical(), "linux-6.5+cow=refcount");
        // Overrides come out in table order, values equal to the preset's are dropped.
        let d = Design::parse("linux-6.5+zero_page_pin=count+cow=anon-exclusive+gup=get").unwrap();
        assert_eq!(d.canonical(), "linux-6.5+gup=get+zero_page_pin=count");
        assert_eq!(
            Design::parse(" linux-5.0 ").unwrap().canonical(),
            "linux-5.0"
        );
        for d in Design::all() {
            assert_eq!(Design::parse(&d.canonical()).unwrap(), d);
        }
    }

    #[test]
    fn bad_designs_say_what_is_right() {
        use DesignError::*;
        assert_eq!(Design::parse(""), Err(Empty));
        assert_eq!(
            Design::parse("linux-9"),
            Err(UnknownPreset("linux-9".into()))
        );
        assert_eq!(Design::parse("linux-6.5+cow"), Err(Syntax("cow".into())));
        assert_eq!(
            Design::parse("linux-6.5+moo=1"),
            Err(UnknownKnob("moo".into()))
        );
        assert!(
            Design::parse("linux-6.5+cow=x+cow=y")
                .unwrap_err()
                .to_string()
                .contains("cow")
        );
        assert_eq!(
            Design::parse("linux-6.5+cow=refcount+cow=mapcount"),
            Err(Repeated("cow"))
        );
        assert_eq!(
            Design::parse_list("all+cow=refcount"),
            Err(AllWithOverrides)
        );
        assert_eq!(Design::parse_list("all").unwrap().len(), 5);
        let two = Design::parse_list("linux-5.0, linux-6.5+cow=refcount,linux-5.0").unwrap();
        assert_eq!(
            two.iter().map(Design::canonical).collect::<Vec<_>>(),
            ["linux-5.0", "linux-6.5+cow=refcount"]
        );
        assert_eq!(Design::parse_list("kara-2019,all").unwrap().len(), 5);
        assert!(Design::parse_list("linux-5.0,").is_err());
        assert!(Design::parse_list("linux-5.0,linux-9").is_err());
        let err = Design::parse("linux-6.5+cow=sometimes")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mapcount, refcount, pae-anon-only, anon-exclusive"),
            "{err}"
        );
        assert!(
            Design::parse("linux-6.6")
                .unwrap_err()
                .to_string()
                .contains("`linux-6.5`")
        );
    }
}
