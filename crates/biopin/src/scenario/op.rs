//! The op grammar of scenario files (docs/scenarios.md): one op per string, words separated by
//! spaces, an optional `expect ERRNO` at the end.

use std::fmt;
use std::ops::Range;

use crate::errno::Errno;
use crate::mm::Zone;
use crate::vm::Prot;

/// The most calls `times N` may ask for (2^40).
pub const MAX_TIMES: u64 = 1 << 40;

/// A name as written, with where it was written (byte offsets into the op text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    /// The name.
    pub text: String,
    /// Where, in the op text.
    pub at: Range<usize>,
}

/// An address: `PROC:VMA`, `PROC:VMA[i]` or `PROC:VMA[a..b]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    /// The process.
    pub task: Name,
    /// The VMA.
    pub vma: Name,
    /// The pages, first to last + 1; `None` for the whole VMA.
    pub pages: Option<Range<u32>>,
    /// Where the page index or range was written.
    pub pages_at: Range<usize>,
}

/// A page of a file: `FILE[i]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePage {
    /// The file.
    pub file: Name,
    /// The page.
    pub page: u32,
    /// Where `[i]` was written.
    pub page_at: Range<usize>,
}

/// Pages of a file: `FILE`, `FILE[i]` or `FILE[a..b]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRange {
    /// The file.
    pub file: Name,
    /// The pages, first to last + 1; `None` for the whole file.
    pub pages: Option<Range<u32>>,
    /// Where the page index or range was written.
    pub pages_at: Range<usize>,
}

/// Whether a GUP op takes references or pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GupKind {
    /// `get`: `get_user_pages` (FOLL_GET).
    Get,
    /// `pin`: `pin_user_pages` (FOLL_PIN).
    Pin,
}

/// How a release op releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReleaseKind {
    /// `put`: `put_page`.
    Put,
    /// `unpin`: `unpin_user_pages`.
    Unpin,
}

/// A scenario's own observation of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assertion {
    /// `assert refcount A == N`: `folio_ref_count` of each page's folio.
    Refcount(Addr, i64),
    /// `assert pincount A == N`: `_pincount` of each page's (large) folio.
    Pincount(Addr, i64),
    /// `assert pinned A` (true) / `assert not-pinned A` (false): `folio_maybe_dma_pinned`.
    Pinned(Addr, bool),
    /// `assert zone A normal|movable`.
    Zone(Addr, Zone),
    /// `assert same-frame H A`: H holds the frames A maps now.
    SameFrame(Name, Addr),
}

/// One op, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `store A V`.
    Store(Addr, u8),
    /// `load A [== V]`.
    Load(Addr, Option<u8>),
    /// `exit P`.
    Exit(Name),
    /// `fork P as C`.
    Fork(Name, Name),
    /// `munmap P:VMA` / `munmap P:VMA[a..b]`.
    Munmap(Addr),
    /// `mprotect P:VMA r|rw`.
    Mprotect(Addr, Prot),
    /// `get A [write] [fast] [times N] as H` / `pin A [write] [longterm] [fast] [times N] as H`.
    Gup {
        /// get or pin.
        kind: GupKind,
        /// The pages.
        addr: Addr,
        /// FOLL_WRITE.
        write: bool,
        /// FOLL_LONGTERM.
        longterm: bool,
        /// The `_fast` variant.
        fast: bool,
        /// How many calls.
        times: u64,
        /// The handle bound to what the calls take.
        handle: Name,
    },
    /// `put H [dirty]` / `unpin H [dirty]`.
    Release(ReleaseKind, Name, bool),
    /// `dma-write H V`.
    DmaWrite(Name, u8),
    /// `dma-read H [== V]`.
    DmaRead(Name, Option<u8>),
    /// `vmsplice A as H`.
    Vmsplice(Addr, Name),
    /// `pipe-read H [== V]`.
    PipeRead(Name, Option<u8>),
    /// `dio-read A[+OFF] FILE[i] [len L]` / `dio-write ...`: O_DIRECT.
    Dio {
        /// `dio-write` (the device reads the memory) rather than `dio-read`.
        write: bool,
        /// The user memory.
        addr: Addr,
        /// `+OFF`: bytes into it (0 if not given).
        off: u64,
        /// Where `+OFF` was written (the address's end if it was not).
        off_at: Range<usize>,
        /// The file.
        file: Name,
        /// Its page the transfer starts at.
        file_page: u32,
        /// Where `[i]` was written.
        file_page_at: Range<usize>,
        /// `len L`, if given.
        len: Option<u64>,
        /// Where `L` was written.
        len_at: Range<usize>,
    },
    /// `write FILE[i] V`: buffered write(2) of a whole page.
    Write(FilePage, u8),
    /// `read FILE[i] [== V]`: buffered read(2) of a whole page.
    Read(FilePage, Option<u8>),
    /// `writeback FILE` (background) / `fsync FILE` (integrity, waits).
    Writeback(Name, bool),
    /// `truncate FILE N`: to N pages.
    Truncate(Name, u32, Range<usize>),
    /// `reclaim`: one pass over every page-cache folio.
    Reclaim,
    /// `migrate A`: try to migrate the folio behind each page of A.
    Migrate(Addr),
    /// `rdma-reg A as H`.
    RdmaReg(Addr, Name),
    /// `rdma-reg-fd FILE[a..b] as H`.
    RdmaRegFd(FileRange, Name),
    /// `rdma-dereg H`.
    RdmaDereg(Name),
    /// `assert ...`.
    Assert(Assertion),
}

/// An op with its trailing `expect ERRNO`, its text and where that text came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpLine {
    /// The op.
    pub op: Op,
    /// `expect ERRNO`: the op must fail with it.
    pub expect: Option<Errno>,
    /// The op as written.
    pub text: String,
    /// Byte offset of the text in its file, if it came from one.
    pub origin: Option<usize>,
}

/// A syntax error in an op: what and where (byte offsets into the op text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    /// Where.
    pub at: Range<usize>,
    /// What was wrong and what would be right.
    pub message: String,
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The ops of the format that a later layer will model: recognised, and refused as not
/// supported yet.
pub const NOT_YET: &[(&str, &str)] = &[];

/// The ops this version models, for error messages.
pub const MODELLED: &str = "store, load, fork, exit, munmap, mprotect, get, pin, put, unpin, \
     dma-write, dma-read, vmsplice, pipe-read, dio-read, dio-write, rdma-reg, rdma-reg-fd, \
     rdma-dereg, write, read, writeback, fsync, truncate, reclaim, migrate, assert";

#[derive(Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    at: usize,
}

impl Word<'_> {
    fn span(&self) -> Range<usize> {
        self.at..self.at + self.text.len()
    }
}

struct Words<'a> {
    words: Vec<Word<'a>>,
    next: usize,
    end: usize,
}

fn err(at: Range<usize>, message: impl Into<String>) -> OpError {
    OpError {
        at,
        message: message.into(),
    }
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Self {
        let mut words = Vec::new();
        let mut start = None;
        for (i, c) in text
            .char_indices()
            .chain(std::iter::once((text.len(), ' ')))
        {
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    words.push(Word {
                        text: &text[s..i],
                        at: s,
                    });
                    start = None;
                }
                _ => {}
            }
        }
        Words {
            words,
            next: 0,
            end: text.len(),
        }
    }

    fn peek(&self) -> Option<Word<'a>> {
        self.words.get(self.next).copied()
    }

    fn take(&mut self, what: &str) -> Result<Word<'a>, OpError> {
        let word = self
            .peek()
            .ok_or_else(|| err(self.end..self.end, format!("missing {what}")))?;
        self.next += 1;
        Ok(word)
    }

    fn take_if(&mut self, text: &str) -> Option<Word<'a>> {
        let word = self.peek().filter(|w| w.text == text)?;
        self.next += 1;
        Some(word)
    }

    fn expect(&mut self, text: &str, what: &str) -> Result<Word<'a>, OpError> {
        let word = self.take(what)?;
        if word.text != text {
            return Err(err(
                word.span(),
                format!("expected {what}, found `{}`", word.text),
            ));
        }
        Ok(word)
    }

    fn done(&self) -> Result<(), OpError> {
        match self.peek() {
            None => Ok(()),
            Some(w) => Err(err(
                w.span(),
                format!("unexpected `{}` after the op", w.text),
            )),
        }
    }
}

pub(crate) fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn name(word: Word<'_>, what: &str) -> Result<Name, OpError> {
    if !is_name(word.text) {
        return Err(err(
            word.span(),
            format!(
                "`{}` is not a {what} name (letters, digits, `_`, `-`, `.`; starting with a letter)",
                word.text
            ),
        ));
    }
    Ok(Name {
        text: word.text.into(),
        at: word.span(),
    })
}

/// Parses an unsigned number, decimal or `0x` hex, with optional `_` separators.
fn number(text: &str) -> Option<u128> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || text.starts_with('_') {
        return None;
    }
    match clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        Some(hex) => u128::from_str_radix(hex, 16).ok(),
        None => clean.parse().ok(),
    }
}

fn value(word: Word<'_>) -> Result<u8, OpError> {
    let n = number(word.text).ok_or_else(|| {
        err(
            word.span(),
            format!("`{}` is not a byte value (write 0xab or 171)", word.text),
        )
    })?;
    u8::try_from(n).map_err(|_| {
        err(
            word.span(),
            format!(
                "value {} is more than a byte: page values are 0..=0xff",
                word.text
            ),
        )
    })
}

fn signed(word: Word<'_>) -> Result<i64, OpError> {
    let (neg, digits) = match word.text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, word.text),
    };
    let n = number(digits)
        .ok_or_else(|| err(word.span(), format!("`{}` is not a number", word.text)))?;
    let v = if neg { -(n as i128) } else { n as i128 };
    if !(-(1i128 << 31)..(1i128 << 32)).contains(&v) {
        return Err(err(
            word.span(),
            format!("{} is not a 32-bit count (-2^31..2^32)", word.text),
        ));
    }
    Ok(v as i64)
}

fn addr(word: Word<'_>) -> Result<Addr, OpError> {
    let Some((task, rest)) = word.text.split_once(':') else {
        return Err(err(
            word.span(),
            format!(
                "`{}` is not an address: write PROC:VMA[i] or PROC:VMA[a..b]",
                word.text
            ),
        ));
    };
    let at = word.at;
    let task = name(Word { text: task, at }, "process")?;
    let vma_at = at + task.text.len() + 1;
    let (vma_text, index) = match rest.split_once('[') {
        Some((v, idx)) => (v, Some(idx)),
        None => (rest, None),
    };
    let vma = name(
        Word {
            text: vma_text,
            at: vma_at,
        },
        "VMA",
    )?;
    let idx_at = vma_at + vma_text.len();
    let pages_at = idx_at..word.at + word.text.len();
    let pages = match index {
        None => None,
        Some(idx) => Some(bracketed_pages(idx, &pages_at)?),
    };
    Ok(Addr {
        task,
        vma,
        pages,
        pages_at,
    })
}

/// `i]` or `a..b]` (what follows `[`): pages a..b-1, not empty.
fn bracketed_pages(idx: &str, pages_at: &Range<usize>) -> Result<Range<u32>, OpError> {
    let inner = idx
        .strip_suffix(']')
        .ok_or_else(|| err(pages_at.clone(), "unclosed `[`: write [i] or [a..b]"))?;
    let bad = || {
        err(
            pages_at.clone(),
            format!("`[{inner}]` is not a page index: write [i] or [a..b]"),
        )
    };
    let page = |t: &str| {
        let n = number(t).ok_or_else(bad)?;
        u32::try_from(n).ok().filter(|&p| p <= crate::mm::MAX_FRAMES).ok_or_else(|| {
            err(
                pages_at.clone(),
                format!(
                    "page {n} is out of range: a VMA has at most {} pages, so a page index is 0..={} (and below the VMA's `pages`)",
                    crate::mm::MAX_FRAMES,
                    crate::mm::MAX_FRAMES - 1
                ),
            )
        })
    };
    let range = match inner.split_once("..") {
        Some((a, b)) => page(a)?..page(b)?,
        None => {
            let i = page(inner)?;
            i..i.checked_add(1).ok_or_else(bad)?
        }
    };
    if range.is_empty() {
        return Err(err(
            pages_at.clone(),
            format!("empty page range [{inner}]: a..b needs a < b"),
        ));
    }
    Ok(range)
}

/// Parses one op.
pub fn parse_op(text: &str) -> Result<(Op, Option<Errno>), OpError> {
    let mut w = Words::new(text);
    let verb = w.take("an op")?;
    // `expect ERRNO` ends any op: split it off first.
    let mut expect = None;
    if w.words.len() >= 3 && w.words[w.words.len() - 2].text == "expect" {
        let e = w.words[w.words.len() - 1];
        expect = Some(Errno::from_name(e.text).ok_or_else(|| {
            let names: Vec<_> = Errno::ALL.iter().map(|e| e.name()).collect();
            err(
                e.span(),
                format!("unknown errno `{}`: one of {}", e.text, names.join(", ")),
            )
        })?);
        w.words.truncate(w.words.len() - 2);
        w.end = w
            .words
            .last()
            .map_or(verb.at + verb.text.len(), |x| x.at + x.text.len());
    }
    let op = match verb.text {
        "store" => {
            let a = addr(w.take("an address")?)?;
            Op::Store(a, value(w.take("a value")?)?)
        }
        "load" => {
            let a = addr(w.take("an address")?)?;
            Op::Load(a, check(&mut w)?)
        }
        "exit" => Op::Exit(name(w.take("a process")?, "process")?),
        "fork" => {
            let parent = name(w.take("a process")?, "process")?;
            w.expect("as", "`as CHILD`")?;
            Op::Fork(
                parent,
                name(w.take("a child's name after `as`")?, "process")?,
            )
        }
        "vmsplice" => {
            let a = addr(w.take("an address")?)?;
            w.expect("as", "`as HANDLE`")?;
            Op::Vmsplice(a, name(w.take("a handle name after `as`")?, "handle")?)
        }
        "pipe-read" => {
            let h = name(w.take("a handle")?, "handle")?;
            Op::PipeRead(h, check(&mut w)?)
        }
        "munmap" => Op::Munmap(addr(w.take("PROC:VMA")?)?),
        "mprotect" => {
            let word = w.take("PROC:VMA")?;
            let a = addr(word)?;
            if a.pages.is_some() {
                return Err(err(
                    a.pages_at,
                    format!("{} takes a whole VMA: write PROC:VMA", verb.text),
                ));
            }
            let p = w.take("a protection (r or rw)")?;
            let prot = match p.text {
                "r" => Prot::R,
                "rw" => Prot::Rw,
                other => {
                    return Err(err(
                        p.span(),
                        format!("`{other}` is not a protection: r or rw"),
                    ));
                }
            };
            Op::Mprotect(a, prot)
        }
        "get" | "pin" => gup(&mut w, verb)?,
        "put" | "unpin" => {
            let h = name(w.take("a handle")?, "handle")?;
            let dirty = w.take_if("dirty").is_some();
            let kind = if verb.text == "put" {
                ReleaseKind::Put
            } else {
                ReleaseKind::Unpin
            };
            Op::Release(kind, h, dirty)
        }
        "dma-write" => {
            let h = name(w.take("a handle")?, "handle")?;
            Op::DmaWrite(h, value(w.take("a value")?)?)
        }
        "dma-read" => {
            let h = name(w.take("a handle")?, "handle")?;
            Op::DmaRead(h, check(&mut w)?)
        }
        "dio-read" | "dio-write" => dio(&mut w, verb)?,
        "rdma-reg" => {
            let a = addr(w.take("an address")?)?;
            w.expect("as", "`as HANDLE`")?;
            Op::RdmaReg(a, name(w.take("a handle name after `as`")?, "handle")?)
        }
        "rdma-dereg" => Op::RdmaDereg(name(w.take("a handle")?, "handle")?),
        "rdma-reg-fd" => {
            let f = file_range(w.take("file pages (FILE[a..b])")?)?;
            w.expect("as", "`as HANDLE`")?;
            Op::RdmaRegFd(f, name(w.take("a handle name after `as`")?, "handle")?)
        }
        "writeback" | "fsync" => {
            Op::Writeback(name(w.take("a file")?, "file")?, verb.text == "fsync")
        }
        "reclaim" => Op::Reclaim,
        "truncate" => {
            let f = name(w.take("a file")?, "file")?;
            let n = w.take("a size in pages")?;
            let pages = number(n.text)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| {
                    err(
                        n.span(),
                        format!("`{}` is not a size in pages: write 0, 1, …", n.text),
                    )
                })?;
            Op::Truncate(f, pages, n.span())
        }
        "migrate" => Op::Migrate(addr(w.take("an address")?)?),
        "write" => {
            let f = file_page(w.take("a file page (FILE[i])")?)?;
            Op::Write(f, value(w.take("a value")?)?)
        }
        "read" => {
            let f = file_page(w.take("a file page (FILE[i])")?)?;
            Op::Read(f, check(&mut w)?)
        }
        "assert" => Op::Assert(assertion(&mut w)?),
        other => {
            if let Some((_, layer)) = NOT_YET.iter().find(|(v, _)| *v == other) {
                return Err(err(
                    verb.span(),
                    format!(
                        "op `{other}` is not supported yet: it arrives with {layer}; this version models {MODELLED}"
                    ),
                ));
            }
            return Err(err(
                verb.span(),
                format!("unknown op `{other}`: the ops are {MODELLED}"),
            ));
        }
    };
    w.done()?;
    Ok((op, expect))
}

/// `FILE`, `FILE[i]` or `FILE[a..b]`: pages of a file.
fn file_range(word: Word<'_>) -> Result<FileRange, OpError> {
    let (f_text, index) = match word.text.split_once('[') {
        Some((f, idx)) => (f, Some(idx)),
        None => (word.text, None),
    };
    let file = name(
        Word {
            text: f_text,
            at: word.at,
        },
        "file",
    )?;
    let pages_at = word.at + f_text.len()..word.at + word.text.len();
    let pages = match index {
        None => None,
        Some(idx) => Some(bracketed_pages(idx, &pages_at)?),
    };
    Ok(FileRange {
        file,
        pages,
        pages_at,
    })
}

/// `FILE[i]`: one page of a file.
fn file_page(fw: Word<'_>) -> Result<FilePage, OpError> {
    let bad_file = || {
        err(
            fw.span(),
            format!("`{}` is not a file page: write FILE[i]", fw.text),
        )
    };
    let (f_text, idx) = fw.text.split_once('[').ok_or_else(bad_file)?;
    let file = name(
        Word {
            text: f_text,
            at: fw.at,
        },
        "file",
    )?;
    let page_at = fw.at + f_text.len()..fw.at + fw.text.len();
    let page = idx
        .strip_suffix(']')
        .and_then(number)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            err(
                page_at.clone(),
                format!("`[{idx}` is not one page index: write FILE[i]"),
            )
        })?;
    Ok(FilePage {
        file,
        page,
        page_at,
    })
}

/// `dio-read A[+OFF] FILE[i] [len L]` and `dio-write ...`.
fn dio(w: &mut Words<'_>, verb: Word<'_>) -> Result<Op, OpError> {
    let word = w.take("an address")?;
    let (a_text, off) = match word.text.rfind('+') {
        Some(plus) if plus > word.text.rfind(']').unwrap_or(0) => {
            (&word.text[..plus], Some(&word.text[plus + 1..]))
        }
        _ => (word.text, None),
    };
    let addr = addr(Word {
        text: a_text,
        at: word.at,
    })?;
    let off_at = word.at + a_text.len()..word.at + word.text.len();
    let off = match off {
        None => 0,
        Some(t) => number(t)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| {
                err(
                    off_at.clone(),
                    format!("`+{t}` is not a byte offset: write +512 or +0x200"),
                )
            })?,
    };
    let FilePage {
        file,
        page: file_page,
        page_at: file_page_at,
    } = self::file_page(w.take("a file page (FILE[i])")?)?;
    let (len, len_at) = match w.take_if("len") {
        None => (None, w.end..w.end),
        Some(_) => {
            let l = w.take("a length after `len`")?;
            let n = number(l.text)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| {
                    err(
                        l.span(),
                        format!(
                            "`{}` is not a length in bytes: write 4096 or 0x1000",
                            l.text
                        ),
                    )
                })?;
            (Some(n), l.span())
        }
    };
    Ok(Op::Dio {
        write: verb.text == "dio-write",
        addr,
        off,
        off_at,
        file,
        file_page,
        file_page_at,
        len,
        len_at,
    })
}

fn check(w: &mut Words<'_>) -> Result<Option<u8>, OpError> {
    match w.take_if("==") {
        Some(_) => Ok(Some(value(w.take("a value after ==")?)?)),
        None => Ok(None),
    }
}

fn gup(w: &mut Words<'_>, verb: Word<'_>) -> Result<Op, OpError> {
    let kind = if verb.text == "get" {
        GupKind::Get
    } else {
        GupKind::Pin
    };
    let a = addr(w.take("an address")?)?;
    let (mut write, mut longterm, mut fast, mut times) = (None, None, None, None);
    loop {
        let word = w.take("`as HANDLE`")?;
        let slot = match word.text {
            "as" => break,
            "write" => &mut write,
            "longterm" => &mut longterm,
            "fast" => &mut fast,
            "times" => {
                if times.is_some() {
                    return Err(err(word.span(), "`times` given twice"));
                }
                let n = w.take("a count after times")?;
                let count = number(n.text)
                    .ok_or_else(|| err(n.span(), format!("`{}` is not a count", n.text)))?;
                if count == 0 || count > u128::from(MAX_TIMES) {
                    return Err(err(
                        n.span(),
                        format!("times {} is out of range: 1..=2^40 (1099511627776)", n.text),
                    ));
                }
                times = Some(count as u64);
                continue;
            }
            other => {
                return Err(err(
                    word.span(),
                    format!(
                        "unexpected `{other}`: {} takes write, longterm, fast, times N, then `as HANDLE`",
                        verb.text
                    ),
                ));
            }
        };
        if slot.replace(word.text).is_some() {
            return Err(err(word.span(), format!("`{}` given twice", word.text)));
        }
    }
    let handle = name(w.take("a handle name after `as`")?, "handle")?;
    Ok(Op::Gup {
        kind,
        addr: a,
        write: write.is_some(),
        longterm: longterm.is_some(),
        fast: fast.is_some(),
        times: times.unwrap_or(1),
        handle,
    })
}

fn assertion(w: &mut Words<'_>) -> Result<Assertion, OpError> {
    let what = w.take("what to assert")?;
    let count = |w: &mut Words<'_>| -> Result<i64, OpError> {
        w.expect("==", "`==`")?;
        signed(w.take("a count")?)
    };
    Ok(match what.text {
        "refcount" => {
            let a = addr(w.take("an address")?)?;
            Assertion::Refcount(a, count(w)?)
        }
        "pincount" => {
            let a = addr(w.take("an address")?)?;
            Assertion::Pincount(a, count(w)?)
        }
        "pinned" => Assertion::Pinned(addr(w.take("an address")?)?, true),
        "not-pinned" => Assertion::Pinned(addr(w.take("an address")?)?, false),
        "zone" => {
            let a = addr(w.take("an address")?)?;
            let z = w.take("a zone (normal or movable)")?;
            let zone = match z.text {
                "normal" => Zone::Normal,
                "movable" => Zone::Movable,
                other => {
                    return Err(err(
                        z.span(),
                        format!("`{other}` is not a zone: normal or movable"),
                    ));
                }
            };
            Assertion::Zone(a, zone)
        }
        "same-frame" => {
            let h = name(w.take("a handle")?, "handle")?;
            Assertion::SameFrame(h, addr(w.take("an address")?)?)
        }
        other => {
            return Err(err(
                what.span(),
                format!(
                    "unknown assertion `{other}`: refcount, pincount, pinned, not-pinned, zone, same-frame"
                ),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (Op, Option<Errno>) {
        parse_op(text).unwrap_or_else(|e| panic!("{text}: {}", e.message))
    }

    fn bad(text: &str) -> OpError {
        parse_op(text).expect_err(text)
    }

    #[test]
    fn gup_ops_take_their_flags_in_any_order() {
        let (op, expect) =
            ok("pin app:buf[1..3] fast times 5_000 longterm write as h expect ENOMEM");
        assert_eq!(expect, Some(Errno::ENOMEM));
        let Op::Gup {
            kind,
            addr,
            write,
            longterm,
            fast,
            times,
            handle,
        } = op
        else {
            panic!()
        };
        assert_eq!(
            (kind, write, longterm, fast, times),
            (GupKind::Pin, true, true, true, 5000)
        );
        assert_eq!(addr.pages, Some(1..3));
        assert_eq!(
            (
                addr.task.text.as_str(),
                addr.vma.text.as_str(),
                handle.text.as_str()
            ),
            ("app", "buf", "h")
        );
        assert_eq!(addr.vma.at, 8..11);
    }

    #[test]
    fn values_and_counts() {
        assert_eq!(
            ok("store a:b[0] 0xab").0,
            Op::Store(addr_of(6, "a", "b", Some(0..1)), 0xab)
        );
        assert_eq!(
            ok("load a:b == 171").0,
            Op::Load(addr_of(5, "a", "b", None), Some(171))
        );
        assert!(matches!(
            ok("assert refcount a:b[0] == -5").0,
            Op::Assert(Assertion::Refcount(_, -5))
        ));
        assert!(matches!(
            ok("pin a:b[0] times 0x10000000000 as h").0,
            Op::Gup {
                times: MAX_TIMES,
                ..
            }
        ));
    }

    /// The address `t:v` (with `[i]` if `pages`) written at byte `o` of an op.
    fn addr_of(o: usize, t: &str, v: &str, pages: Option<Range<u32>>) -> Addr {
        let at = t.len() + 1 + v.len();
        let end = at + pages.as_ref().map_or(0, |_| 3);
        Addr {
            task: Name {
                text: t.into(),
                at: o..o + t.len(),
            },
            vma: Name {
                text: v.into(),
                at: o + 1 + t.len()..o + 1 + t.len() + v.len(),
            },
            pages,
            pages_at: o + at..o + end,
        }
    }

    #[test]
    fn fork_vmsplice_pipe_read_and_partial_munmap_parse() {
        let (op, _) = ok("fork app as child");
        assert!(matches!(op, Op::Fork(p, c) if p.text == "app" && c.text == "child"));
        let (op, _) = ok("vmsplice app:buf[0..2] as p");
        assert!(matches!(op, Op::Vmsplice(a, h) if a.pages == Some(0..2) && h.text == "p"));
        let (op, _) = ok("pipe-read p == 0x01");
        assert!(matches!(op, Op::PipeRead(h, Some(1)) if h.text == "p"));
        let (op, _) = ok("munmap app:buf[1..3]");
        assert!(matches!(op, Op::Munmap(a) if a.pages == Some(1..3)));
        let (op, _) = ok("get app:buf[0] longterm as h");
        assert!(matches!(
            op,
            Op::Gup {
                kind: GupKind::Get,
                longterm: true,
                ..
            }
        ));
    }

    #[test]
    fn errors_point_at_the_offending_word() {
        let e = bad("store app:buf[0] 0x1ff");
        assert_eq!(e.at, 17..22);
        assert!(e.message.contains("more than a byte"));
        let e = bad("pin app:buf[0] times 1099511627777 as h");
        assert_eq!(
            &"pin app:buf[0] times 1099511627777 as h"[e.at.clone()],
            "1099511627777"
        );
        let e = bad("frobnicate x");
        assert_eq!(e.at, 0..10);
        assert!(e.message.starts_with("unknown op `frobnicate`"));
        let e = bad("truncate f x");
        assert!(e.message.contains("not a size in pages"), "{}", e.message);
        let e = bad("get app:buf[0] longterm longterm as h");
        assert_eq!(e.at, 24..32);
        let e = bad("pin app:buf[0] write write as h");
        assert!(e.message.contains("given twice"));
        let e = bad("pin app:buf[2..2] as h");
        assert!(e.message.contains("empty page range"));
        let e = bad("pin app:buf[0]");
        assert!(e.message.contains("missing `as HANDLE`"), "{}", e.message);
        let e = bad("put h expect ENOPE");
        assert_eq!(e.at, 13..18);
        let e = bad("mprotect app:buf[0] r");
        assert!(e.message.contains("whole VMA"));
        let e = bad("fork app child");
        assert!(e.message.contains("expected `as CHILD`"), "{}", e.message);
        let e = bad("vmsplice app:buf[0] as");
        assert!(e.message.contains("missing a handle name"), "{}", e.message);
        let e = bad("load app:buf[0] == 1 extra");
        assert_eq!(e.at, 21..26);
        let e = bad("store appbuf 1");
        assert!(e.message.contains("not an address"));
    }

    #[test]
    fn dio_ops_parse_offset_file_page_and_length() {
        let (op, expect) = ok("dio-read app:buf[1..3]+0x200 f[2] len 4096 expect EINVAL");
        assert_eq!(expect, Some(Errno::EINVAL));
        let Op::Dio {
            write,
            addr,
            off,
            file,
            file_page,
            len,
            ..
        } = op
        else {
            panic!("not a dio op: {op:?}");
        };
        assert!(!write);
        assert_eq!(addr.pages, Some(1..3));
        assert_eq!(
            (off, file.text.as_str(), file_page, len),
            (512, "f", 2, Some(4096))
        );
        let (op, _) = ok("dio-write app:buf f[0]");
        assert!(matches!(
            op,
            Op::Dio {
                write: true,
                off: 0,
                len: None,
                ..
            }
        ));
        let text = "dio-read app:buf[0]+x f[0]";
        assert_eq!(&text[bad(text).at], "+x");
        let text = "dio-read app:buf[0] f0";
        assert!(bad(text).message.contains("not a file page"));
        let text = "dio-read app:buf[0] f[0..2]";
        assert_eq!(&text[bad(text).at], "[0..2]");
        let text = "dio-read app:buf[0] f[0] len";
        assert!(bad(text).message.contains("missing a length"));
        let text = "dio-read app:buf[0] f[0] size 4";
        assert_eq!(&text[bad(text).at], "size");
        let (op, _) = ok("rdma-reg app:buf as mr");
        assert!(matches!(op, Op::RdmaReg(_, h) if h.text == "mr"));
        let (op, _) = ok("rdma-dereg mr");
        assert!(matches!(op, Op::RdmaDereg(h) if h.text == "mr"));
    }
}
