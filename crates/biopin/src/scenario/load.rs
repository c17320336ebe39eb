//! The TOML scenario format (docs/scenarios.md): a thin layer over [`super::ScenarioBuilder`]'s
//! types that keeps every value's place in the file for error messages.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use xxhash_rust::xxh3::xxh3_64;

use super::builder::{check_device, check_device_range, check_machine, check_vma};
use super::op::{OpLine, parse_op};
use super::{
    ActorSpec, FileSpec, Machine, ProcessSpec, Scenario, ScenarioError, Source, Verdict, VmaSpec,
};
use crate::block::QueueLimits;
use crate::design::Design;
use crate::mm::Invariant;
use crate::pagecache::Fs;
use crate::program::Program;
use crate::vm::{Prot, VmaKind};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<Spanned<String>>,
    summary: Option<Spanned<String>>,
    designs: Option<Spanned<Vec<Spanned<String>>>>,
    selftest: Option<Vec<Spanned<String>>>,
    prologue: Option<Vec<Spanned<String>>>,
    epilogue: Option<Vec<Spanned<String>>>,
    machine: Option<RawMachine>,
    device: Option<RawDevice>,
    file: Option<Vec<RawFile>>,
    process: Option<Vec<RawProcess>>,
    actor: Option<Vec<RawActor>>,
    expect: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

impl RawScenario {
    /// No key at all (a file of comments).
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.summary.is_none()
            && self.designs.is_none()
            && self.selftest.is_none()
            && self.prologue.is_none()
            && self.epilogue.is_none()
            && self.machine.is_none()
            && self.device.is_none()
            && self.file.is_none()
            && self.process.is_none()
            && self.actor.is_none()
            && self.expect.is_none()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    frames: Option<Spanned<i128>>,
    movable: Option<Spanned<i128>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    max_segments: Option<Spanned<i128>>,
    max_sectors: Option<Spanned<i128>>,
    max_segment_size: Option<Spanned<i128>>,
    logical_block_size: Option<Spanned<i128>>,
    dma_alignment: Option<Spanned<i128>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Spanned<String>,
    pages: Spanned<i128>,
    fs: Option<Spanned<String>>,
    stable_writes: Option<Spanned<bool>>,
    init: Option<Spanned<i128>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    name: Spanned<String>,
    vma: Option<Vec<RawVma>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVma {
    name: Spanned<String>,
    kind: Spanned<String>,
    file: Option<Spanned<String>>,
    pages: Spanned<i128>,
    offset: Option<Spanned<i128>>,
    prot: Option<Spanned<String>>,
    huge: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    name: Spanned<String>,
    ops: Vec<Spanned<String>>,
}

/// Reads and compiles a scenario file.
pub fn load_file(path: &Path) -> Result<Program, ScenarioError> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(ScenarioError {
            path: Some(shown),
            line_col: None,
            message:
                "is a directory: name one scenario file (check and matrix also take directories)"
                    .into(),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| ScenarioError {
        path: Some(shown.clone()),
        line_col: None,
        message: format!("cannot read the scenario: {e}"),
    })?;
    load_bytes(&bytes, Some(&shown))
}

/// Compiles a scenario from its text (`path` names it in errors).
pub fn load_str(text: &str, path: Option<&str>) -> Result<Program, ScenarioError> {
    load_bytes(text.as_bytes(), path)
}

/// Parses a scenario's bytes into a [`Scenario`] without compiling it.
pub fn parse_bytes(bytes: &[u8], path: Option<&str>) -> Result<Scenario, ScenarioError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let good = std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid prefix");
            return Err(ScenarioError::at(
                path,
                Some(good),
                Some(good.len()),
                "the file is not UTF-8 (an invalid byte here): save it as UTF-8",
            ));
        }
    };
    Loader { path, text }.scenario(xxh3_64(bytes))
}

fn load_bytes(bytes: &[u8], path: Option<&str>) -> Result<Program, ScenarioError> {
    Program::compile(&parse_bytes(bytes, path)?)
}

struct Loader<'a> {
    path: Option<&'a str>,
    text: &'a str,
}

impl Loader<'_> {
    fn err(&self, at: Option<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.path, Some(self.text), at, message)
    }

    fn err_at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> ScenarioError {
        self.err(Some(value.span().start), message)
    }

    fn scenario(&self, hash: u64) -> Result<Scenario, ScenarioError> {
        let empty = || {
            self.err(Some(0), "the file is empty: a scenario needs at least a [[process]] and an [[actor]] (or a prologue) with ops")
        };
        if self.text.trim().is_empty() {
            return Err(empty());
        }
        let raw: RawScenario = toml::from_str(self.text).map_err(|e| {
            // serde names Rust types; a scenario's reader knows TOML's.
            let message = e
                .message()
                .trim()
                .replace("expected i128", "expected a whole number")
                .replace("as i128", "")
                .replace("expected a sequence", "expected a list [..]")
                .replace("expected a boolean", "expected true or false");
            self.err(e.span().map(|s| s.start), message)
        })?;
        if raw.is_empty() {
            return Err(empty());
        }
        let machine = self.machine(raw.machine)?;
        let device = self.device(raw.device)?;
        let mut scenario = Scenario {
            name: raw
                .name
                .map(|n| n.into_inner())
                .unwrap_or_else(|| self.default_name()),
            summary: raw.summary.map(|s| s.into_inner()).unwrap_or_default(),
            machine,
            device,
            source: Source {
                path: self.path.map(Into::into),
                text: Some(self.text.into()),
                hash,
            },
            ..Scenario::default()
        };
        if let Some(designs) = raw.designs {
            let mut list = Vec::new();
            for d in designs.into_inner() {
                let design =
                    Design::parse(d.get_ref()).map_err(|e| self.err_at(&d, e.to_string()))?;
                list.push((design, Some(d.span())));
            }
            if list.is_empty() {
                return Err(self.err(
                    None,
                    "designs = [] names no design: leave it out to check every preset",
                ));
            }
            scenario.designs = Some(list);
        }
        for case in raw.selftest.unwrap_or_default() {
            super::builder::check_selftest(case.get_ref()).map_err(|m| self.err_at(&case, m))?;
            scenario.selftest.push(case.into_inner());
        }
        for f in raw.file.unwrap_or_default() {
            scenario.files.push(self.file(f)?);
        }
        scenario.prologue = self.ops(raw.prologue.unwrap_or_default())?;
        scenario.epilogue = self.ops(raw.epilogue.unwrap_or_default())?;
        for p in raw.process.unwrap_or_default() {
            scenario.processes.push(self.process(p)?);
        }
        for a in raw.actor.unwrap_or_default() {
            let ops = self.ops(a.ops)?;
            scenario.actors.push(ActorSpec {
                name: a.name.get_ref().clone(),
                ops,
                at: Some(a.name.span()),
            });
        }
        for (key, value) in raw.expect.unwrap_or_default() {
            let design =
                Design::parse(key.get_ref()).map_err(|e| self.err_at(&key, e.to_string()))?;
            if design.canonical() != *key.get_ref() {
                return Err(self.err_at(
                    &key,
                    format!(
                        "`{}` is not in canonical form: write `{}`",
                        key.get_ref(),
                        design.canonical()
                    ),
                ));
            }
            let verdict = self.verdict(&value)?;
            scenario.expect.push((design, verdict, Some(key.span())));
        }
        Ok(scenario)
    }

    fn default_name(&self) -> String {
        self.path
            .and_then(|p| Path::new(p).file_stem())
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned())
    }

    fn machine(&self, raw: Option<RawMachine>) -> Result<Machine, ScenarioError> {
        let mut m = Machine::default();
        let Some(raw) = raw else { return Ok(m) };
        let mut spans: Vec<(&str, Range<usize>)> = Vec::new();
        for (key, value, slot, range) in [
            ("frames", &raw.frames, &mut m.frames, "1..=2097152 (2^21)"),
            ("movable", &raw.movable, &mut m.movable, "0..=frames"),
        ] {
            if let Some(v) = value {
                *slot = u32::try_from(*v.get_ref()).map_err(|_| {
                    self.err_at(
                        v,
                        format!("{key} = {} is out of range: {range}", v.get_ref()),
                    )
                })?;
                spans.push((key, v.span()));
            }
        }
        check_machine(&m).map_err(|(key, message)| {
            let at = spans.iter().find(|(k, _)| *k == key).map(|(_, s)| s.start);
            self.err(at, message)
        })?;
        Ok(m)
    }

    fn device(&self, raw: Option<RawDevice>) -> Result<QueueLimits, ScenarioError> {
        let mut q = QueueLimits::default();
        let Some(raw) = raw else { return Ok(q) };
        let mut spans: Vec<(&str, Range<usize>)> = Vec::new();
        for (key, value, slot) in [
            ("max_segments", &raw.max_segments, &mut q.max_segments),
            ("max_sectors", &raw.max_sectors, &mut q.max_sectors),
            (
                "max_segment_size",
                &raw.max_segment_size,
                &mut q.max_segment_size,
            ),
            (
                "logical_block_size",
                &raw.logical_block_size,
                &mut q.logical_block_size,
            ),
            ("dma_alignment", &raw.dma_alignment, &mut q.dma_alignment),
        ] {
            if let Some(v) = value {
                *slot = u32::try_from(*v.get_ref()).map_err(|_| {
                    self.err_at(
                        v,
                        format!(
                            "{key} = {} is out of range: {}",
                            v.get_ref(),
                            check_device_range(key)
                        ),
                    )
                })?;
                spans.push((key, v.span()));
            }
        }
        check_device(&q).map_err(|(key, message)| {
            let at = spans.iter().find(|(k, _)| *k == key).map(|(_, s)| s.start);
            self.err(at, message)
        })?;
        Ok(q)
    }

    fn file(&self, raw: RawFile) -> Result<FileSpec, ScenarioError> {
        let pages = *raw.pages.get_ref();
        if !(1..=i128::from(crate::mm::MAX_FRAMES)).contains(&pages) {
            return Err(self.err_at(
                &raw.pages,
                format!("pages = {pages} is out of range: 1..=2097152 (2^21)"),
            ));
        }
        let fs = match raw.fs.as_ref().map(|f| f.get_ref().as_str()) {
            None | Some("ext4") => Fs::Ext4,
            Some("shmem") => Fs::Shmem,
            Some(other) => {
                return Err(self.err_at(
                    raw.fs.as_ref().expect("some"),
                    format!(
                        "fs = \"{other}\" is not a filesystem biopin models: \"ext4\" or \"shmem\""
                    ),
                ));
            }
        };
        let stable_writes = raw.stable_writes.as_ref().is_some_and(|s| *s.get_ref());
        if stable_writes && fs != Fs::Ext4 {
            return Err(self.err_at(
                raw.stable_writes.as_ref().expect("some"),
                "stable_writes is for ext4 files only (shmem has no disk to write back to)",
            ));
        }
        let init = match &raw.init {
            None => 0,
            Some(v) => u8::try_from(*v.get_ref()).map_err(|_| {
                self.err_at(
                    v,
                    format!("init = {} is not a byte value: 0..=255", v.get_ref()),
                )
            })?,
        };
        Ok(FileSpec {
            name: raw.name.get_ref().clone(),
            pages: pages as u32,
            fs,
            stable_writes,
            init,
            at: Some(raw.name.span()),
        })
    }

    fn process(&self, raw: RawProcess) -> Result<ProcessSpec, ScenarioError> {
        let mut vmas = Vec::new();
        for v in raw.vma.unwrap_or_default() {
            let kind = match v.kind.get_ref().as_str() {
                "anon" => VmaKind::Anon,
                "shared" => VmaKind::Shared,
                "private" => VmaKind::Private,
                other => {
                    return Err(self.err_at(
                        &v.kind,
                        format!("unknown VMA kind \"{other}\": anon, shared or private"),
                    ));
                }
            };
            let (file, offset) = if kind == VmaKind::Anon {
                for (key, span) in [
                    ("file", v.file.as_ref().map(|f| f.span())),
                    ("offset", v.offset.as_ref().map(|o| o.span())),
                ] {
                    if let Some(span) = span {
                        return Err(self.err(
                            Some(span.start),
                            format!(
                                "`{key}` is only for shared and private VMAs, which map a file"
                            ),
                        ));
                    }
                }
                (None, 0)
            } else {
                let Some(file) = &v.file else {
                    return Err(self.err_at(
                        &v.kind,
                        format!(
                            "a {} VMA maps a file: add file = \"NAME\" naming a [[file]]",
                            v.kind.get_ref()
                        ),
                    ));
                };
                let offset = match &v.offset {
                    None => 0,
                    Some(o) => u32::try_from(*o.get_ref()).map_err(|_| {
                        self.err_at(
                            o,
                            format!("offset = {} is not a page of the file", o.get_ref()),
                        )
                    })?,
                };
                (Some(file.get_ref().clone()), offset)
            };
            let prot = match v.prot.as_ref().map(|p| p.get_ref().as_str()) {
                None | Some("rw") => Prot::Rw,
                Some("r") => Prot::R,
                Some(other) => {
                    return Err(self.err_at(
                        v.prot.as_ref().expect("some"),
                        format!("prot = \"{other}\" is not a protection: \"r\" or \"rw\""),
                    ));
                }
            };
            let huge = v.huge.as_ref().is_some_and(|h| *h.get_ref());
            let pages = *v.pages.get_ref();
            check_vma(pages, huge).map_err(|m| self.err_at(&v.pages, m))?;
            vmas.push(VmaSpec {
                name: v.name.get_ref().clone(),
                kind,
                file,
                offset,
                pages: pages as u32,
                prot,
                huge,
                at: Some(v.name.span()),
            });
        }
        Ok(ProcessSpec {
            name: raw.name.get_ref().clone(),
            vmas,
            at: Some(raw.name.span()),
        })
    }

    fn ops(&self, raw: Vec<Spanned<String>>) -> Result<Vec<OpLine>, ScenarioError> {
        raw.into_iter()
            .map(|s| {
                // The op text starts after the opening quote (exact for strings without
                // escapes, which ops never need).
                let origin = s.span().start + 1;
                let text = s.get_ref();
                let (op, expect) =
                    parse_op(text).map_err(|e| self.err(Some(origin + e.at.start), e.message))?;
                Ok(OpLine {
                    op,
                    expect,
                    text: text.clone(),
                    origin: Some(origin),
                })
            })
            .collect()
    }

    fn verdict(&self, value: &Spanned<toml::Value>) -> Result<Verdict, ScenarioError> {
        let ids = Invariant::ALL
            .iter()
            .map(|i| i.id())
            .collect::<Vec<_>>()
            .join(", ");
        let bad = || {
            self.err_at(
                value,
                format!("an expectation is \"ok\" or a list of violation IDs ({ids})"),
            )
        };
        match value.get_ref() {
            toml::Value::String(s) if s == "ok" => Ok(Verdict::new()),
            toml::Value::String(s) if s.eq_ignore_ascii_case("ok") => Err(self.err_at(
                value,
                format!("`{s}`: write \"ok\" in lower case, or a list of violation IDs ({ids})"),
            )),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| {
                    let id = item.as_str().ok_or_else(bad)?;
                    Invariant::from_id(id).ok_or_else(|| {
                        self.err_at(value, format!("unknown violation ID `{id}`: one of {ids}"))
                    })
                })
                .collect(),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse_bytes(text.as_bytes(), Some("t.toml"))
            .map(|_| ())
            .expect_err(text)
            .to_string()
    }

    #[test]
    fn spans_reach_line_and_column() {
        let e = error("name = \"x\"\n[machine]\nframes = 10000000000\n");
        assert!(
            e.starts_with("t.toml:3:10: frames = 10000000000 is out of range"),
            "{e}"
        );
        let e = error(
            "[[process]]\nname = \"p\"\n[[process.vma]]\nname = \"v\"\nkind = \"heap\"\npages = 1\n",
        );
        assert!(e.starts_with("t.toml:5:8: unknown VMA kind"), "{e}");
        let e = error("[[actor]]\nname = \"a\"\nops = [\"store p:v[0] 0x100\"]\n");
        assert!(
            e.starts_with("t.toml:3:22: value 0x100 is more than a byte"),
            "{e}"
        );
        let e = error("[machine]\nframes = 4\ncolour = 1\n");
        assert!(e.starts_with("t.toml:3:1: unknown field `colour`"), "{e}");
        let e = error("[device]\nmax_segments = 0\n");
        assert!(
            e.contains("max_segments = 0 is out of range: 1..=65535"),
            "{e}"
        );
        let e = error("[device]\nlogical_block_size = 1000\n");
        assert!(e.contains("a power of two"), "{e}");
        let e = error("[device]\nmax_sectors = 4\n");
        assert!(e.contains(":2:15"), "{e}");
    }

    #[test]
    fn empty_and_non_utf8_files_are_refused() {
        assert!(error("").starts_with("t.toml:1:1: the file is empty"));
        assert!(error("# nothing\n").contains("the file is empty"));
        let e = load_str("[machine]\nframes = 4\n", Some("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("the scenario has no ops"), "{e}");
        let e = parse_bytes(b"name = \"a\"\nsummary = \"\xff\"\n", Some("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.toml:2:12: the file is not UTF-8"), "{e}");
    }

    #[test]
    fn expectations_are_canonical_designs() {
        let e = error("[expect]\n\"linux-6.5+cow=anon-exclusive\" = \"ok\"\n");
        assert!(
            e.starts_with("t.toml:2:1:") && e.contains("write `linux-6.5`"),
            "{e}"
        );
        let e = error("[expect]\n\"linux-6.5\" = [\"leek\"]\n");
        assert!(e.contains("unknown violation ID `leek`"), "{e}");
        let s = parse_bytes(
            b"[expect]\n\"linux-6.5\" = [\"leak\", \"bad-release\"]\n\"linux-5.0\" = \"ok\"\n",
            None,
        )
        .unwrap();
        assert_eq!(s.expect.len(), 2);
    }
}
