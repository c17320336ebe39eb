//! Bad scenarios get one-line errors naming the file, line and column: never a panic.

use biopin::scenario::load::parse_bytes;
use biopin::{ScenarioBuilder, load_str};

const HEADER: &str =
    "[[process]]\nname = \"app\"\n[[process.vma]]\nname = \"buf\"\nkind = \"anon\"\npages = 4\n";

/// The error for a scenario whose one actor runs `op` (the op string starts at line 10,
/// column 9).
fn op_error(op: &str) -> String {
    let text = format!("{HEADER}\n[[actor]]\nname = \"a\"\nops = [\"{op}\"]\n");
    let e = load_str(&text, Some("s.toml")).expect_err(op).to_string();
    assert!(!e.contains('\n'), "not one line: {e}");
    e
}

fn at(e: &str, line: usize, col: usize) -> bool {
    e.starts_with(&format!("s.toml:{line}:{col}: "))
}

#[test]
fn each_kind_of_bad_op_is_placed() {
    // Column 9 is the op's first character.
    let cases = [
        ("pin app:buf[0] as", 26, "missing a handle name"),
        ("frobnicate app:buf[0]", 9, "unknown op `frobnicate`"),
        ("put nobody", 13, "unknown handle `nobody`"),
        (
            "store app:buf[4] 1",
            22,
            "page 4 is past the end of `app:buf`",
        ),
        ("store app:buf[0..9] 1", 22, "pages 0..9 is past the end"),
        ("store app:buf[0] 0x100", 26, "more than a byte"),
        (
            "pin app:buf[0] times 1099511627777 as h",
            30,
            "times 1099511627777 is out of range",
        ),
        ("store nobody:buf[0] 1", 15, "unknown process `nobody`"),
        ("store app:heap[0] 1", 19, "unknown VMA `heap`"),
        ("truncate nofile 1", 18, "unknown file `nofile`"),
        ("rdma-reg-fd nofile[0] as r", 21, "unknown file `nofile`"),
        ("rdma-dereg nobody", 20, "unknown handle `nobody`"),
        ("dio-read app:buf[0] nofile[0]", 29, "unknown file `nofile`"),
        (
            "dio-read app:buf[0]+4096 f[0]",
            28,
            "past the end of `app:buf",
        ),
        ("fork app as app", 21, "already names a declared process"),
        ("fork nobody as child", 14, "unknown process `nobody`"),
        (
            "assert pincount app:buf[0] == 1",
            29,
            "exists only for large folios",
        ),
    ];
    for (op, col, words) in cases {
        let e = op_error(op);
        assert!(at(&e, 10, col) && e.contains(words), "{op}: {e}");
    }
}

#[test]
fn a_handle_bound_twice_is_refused_where_it_is_bound_again() {
    let text = format!(
        "{HEADER}\n[[actor]]\nname = \"a\"\nops = [\"pin app:buf[0] as h\", \"get app:buf[1] as h\"]\n"
    );
    let e = load_str(&text, Some("s.toml")).unwrap_err().to_string();
    assert!(at(&e, 10, 50) && e.contains("bound twice"), "{e}");
}

#[test]
fn a_device_writes_only_through_a_handle_taken_for_write() {
    let text = format!(
        "{HEADER}\n[[actor]]\nname = \"a\"\nops = [\"pin app:buf[0] as h\", \"dma-write h 1\"]\n"
    );
    let e = load_str(&text, Some("s.toml")).unwrap_err().to_string();
    assert!(at(&e, 10, 42) && e.contains("taken without `write`"), "{e}");
}

#[test]
fn handles_must_be_bound_before_they_can_be_waited_for() {
    let text = format!(
        "{HEADER}\n[[actor]]\nname = \"a\"\nops = [\"unpin h\", \"pin app:buf[0] as h\"]\n"
    );
    let e = load_str(&text, Some("s.toml")).unwrap_err().to_string();
    assert!(
        at(&e, 10, 15) && e.contains("used before the op that binds it"),
        "{e}"
    );
    let text = format!(
        "prologue = [\"unpin h\"]\n{HEADER}\n[[actor]]\nname = \"a\"\nops = [\"pin app:buf[0] as h\"]\n"
    );
    let e = load_str(&text, Some("s.toml")).unwrap_err().to_string();
    assert!(at(&e, 1, 20) && e.contains("which actor `a` binds"), "{e}");
}

#[test]
fn file_level_mistakes_are_placed() {
    let cases: &[(&str, &str, (usize, usize))] = &[
        (
            "[machine]\nframes = 10000000000\n",
            "frames = 10000000000 is out of range",
            (2, 10),
        ),
        (
            "[machine]\nframes = 8\nmovable = 9\n",
            "movable = 9 is more than frames = 8",
            (3, 11),
        ),
        ("name = \"x\"\nname = \"y\"\n", "duplicate key", (2, 1)),
        ("[machine]\nframes = \n", "", (2, 10)),
        (
            "[[process]]\nname = \"p\"\n[[process.vma]]\nname = \"v\"\nkind = \"shared\"\nfile = \"f\"\npages = 1\n",
            "maps unknown file `f`",
            (4, 8),
        ),
        (
            "[[process]]\nname = \"p\"\n[[process.vma]]\nname = \"v\"\nkind = \"private\"\npages = 1\n",
            "add file = \"NAME\"",
            (5, 8),
        ),
        (
            "[[file]]\nname = \"f\"\npages = 2\n[[process]]\nname = \"p\"\n[[process.vma]]\nname = \"v\"\nkind = \"private\"\nfile = \"f\"\noffset = 1\npages = 2\n",
            "maps pages 1..3 of file `f`, which has 2 pages",
            (7, 8),
        ),
        (
            "[[file]]\nname = \"f\"\npages = 1\nfs = \"xfs\"\n",
            "not a filesystem biopin models",
            (4, 6),
        ),
        (
            "[[file]]\nname = \"f\"\npages = 1\nfs = \"shmem\"\nstable_writes = true\n",
            "for ext4 files only",
            (5, 17),
        ),
        (
            "[[file]]\nname = \"p\"\npages = 1\n[[process]]\nname = \"p\"\n",
            "names both a file and a process",
            (2, 8),
        ),
        (
            "selftest = [\"Basic COW\"]\n",
            "is not a selftest case line",
            (1, 13),
        ),
        (
            "[[process]]\nname = \"p\"\n[[process.vma]]\nname = \"v\"\nkind = \"stack\"\npages = 1\n",
            "unknown VMA kind",
            (5, 8),
        ),
        (
            "[[process]]\nname = \"p\"\n[[process.vma]]\nname = \"v\"\nkind = \"anon\"\npages = 3\nhuge = true\n",
            "power of two",
            (6, 9),
        ),
        (
            "[device]\nmax_segments = 0\n",
            "max_segments = 0 is out of range: 1..=65535",
            (2, 16),
        ),
        (
            "[device]\nlogical_block_size = 768\n",
            "must be a power of two in 512..=4096",
            (2, 22),
        ),
        (
            "[device]\ndma_alignment = 512\n",
            "dma_alignment = 512 is out of range: 2^k - 1 in 0..=4095",
            (2, 17),
        ),
        (
            "[device]\nqueue_depth = 4\n",
            "unknown field `queue_depth`",
            (2, 1),
        ),
        (
            "designs = [\"linux-7\"]\n",
            "unknown preset `linux-7`",
            (1, 12),
        ),
        (
            "designs = [\"linux-6.5\"]\nprologue = [\"exit p\"]\n[[process]]\nname = \"p\"\n[expect]\n\"linux-5.0\" = \"ok\"\n",
            "which `designs` does not list",
            (6, 1),
        ),
        (
            "[expect]\n\"linux-6.5\" = \"fine\"\n",
            "an expectation is \"ok\"",
            (2, 15),
        ),
        (
            "[machine]\nframes = 4\ncolour = \"red\"\n",
            "unknown field `colour`",
            (3, 1),
        ),
    ];
    for (text, words, (line, col)) in cases {
        let e = match parse_bytes(text.as_bytes(), Some("s.toml")) {
            Err(e) => e,
            Ok(s) => biopin::program::Program::compile(&s).unwrap_err(),
        }
        .to_string();
        assert!(
            at(&e, *line, *col) && e.contains(words) && !e.contains('\n'),
            "{text:?}: {e}"
        );
    }
}

#[test]
fn empty_and_non_utf8_files_are_refused() {
    for text in [&b""[..], b"   \n", b"# only a comment\n"] {
        let e = parse_bytes(text, Some("s.toml")).unwrap_err().to_string();
        assert!(at(&e, 1, 1) && e.contains("empty"), "{e}");
    }
    let e = parse_bytes(b"name = \"caf\xe9\"\n", Some("s.toml"))
        .unwrap_err()
        .to_string();
    assert!(at(&e, 1, 12) && e.contains("not UTF-8"), "{e}");
}

#[test]
fn the_builder_reports_the_same_mistakes_without_a_file() {
    let e = ScenarioBuilder::new("b")
        .process("app", |p| p.anon("buf", 1))
        .actor("a", ["store app:buf[1] 1"])
        .build()
        .unwrap_err();
    assert!(e.path.is_none() && e.line_col.is_none());
    assert!(
        e.message.contains("column 14") && e.message.contains("past the end"),
        "{e}"
    );
    let e = ScenarioBuilder::new("b")
        .actor("a", ["store app:buf[0] 0x1ff"])
        .build()
        .unwrap_err();
    assert!(
        e.message.contains("actor `a`, op 1") && e.message.contains("more than a byte"),
        "{e}"
    );
    let e = ScenarioBuilder::new("b")
        .frames(0)
        .actor("a", ["exit app"])
        .build()
        .unwrap_err();
    assert!(e.message.contains("frames = 0 is out of range"), "{e}");
}

mod fuzz {
    use biopin::scenario::load::parse_bytes;
    use biopin::scenario::parse_op;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "store",
        "load",
        "get",
        "pin",
        "put",
        "unpin",
        "dma-write",
        "dma-read",
        "assert",
        "exit",
        "munmap",
        "mprotect",
        "app:buf[0]",
        "app:buf",
        "app:buf[1..3]",
        "app:buf[3..1]",
        "app:[0]",
        ":buf",
        "app:buf[",
        "app:buf[99999999999]",
        "as",
        "h",
        "write",
        "fast",
        "longterm",
        "times",
        "0",
        "1",
        "0xff",
        "0x100",
        "-1",
        "==",
        "expect",
        "ENOMEM",
        "refcount",
        "pincount",
        "pinned",
        "not-pinned",
        "zone",
        "normal",
        "same-frame",
        "r",
        "rw",
        "dirty",
        "é",
        "",
    ];

    proptest! {
        #[test]
        fn no_op_text_panics_the_parser_the_compiler_or_the_model(
            words in prop::collection::vec(prop::sample::select(WORDS), 0..9),
        ) {
            let text = words.join(" ");
            let _ = parse_op(&text);
            let built = biopin::ScenarioBuilder::new("fuzz")
                .process("app", |p| p.anon("buf", 4))
                .actor("a", ["store app:buf[0] 1", "pin app:buf[0] write as h", text.as_str()])
                .build();
            if let Ok(program) = built {
                crate::run(&program, crate::design("linux-5.0"));
            }
        }

        #[test]
        fn no_file_panics_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_bytes(&bytes, Some("f.toml")).map(|s| biopin::program::Program::compile(&s));
        }

    }
}

/// The error for a scenario with an ext4 file `f` of 2 pages, a shmem file `m`, an anon VMA
/// `buf` of 4 pages and a shared mapping `map` of `f`, whose one actor runs `op` (line 22).
fn dio_error(op: &str) -> String {
    let text = format!(
        "[[file]]\nname = \"f\"\npages = 2\n[[file]]\nname = \"m\"\npages = 1\nfs = \"shmem\"\n\
         [[process]]\nname = \"app\"\n[[process.vma]]\nname = \"buf\"\nkind = \"anon\"\npages = 4\n\
         [[process.vma]]\nname = \"map\"\nkind = \"shared\"\nfile = \"f\"\npages = 1\n\n\
         [[actor]]\nname = \"a\"\nops = [\"{op}\"]\n"
    );
    let e = load_str(&text, Some("s.toml")).expect_err(op).to_string();
    assert!(!e.contains('\n'), "not one line: {e}");
    e
}

#[test]
fn direct_io_that_leaves_its_memory_or_file_is_refused_where_it_is_written() {
    // Column 9 is the op's first character.
    let cases = [
        ("dio-read app:buf f[0] len 0", 35, "len 0 transfers nothing"),
        (
            "dio-read app:buf+512 f[0] len 16384",
            39,
            "leave the 16384 bytes",
        ),
        (
            "dio-read app:buf[0] f[2]",
            30,
            "page 2 is past the end of file `f`",
        ),
        (
            "dio-read app:buf f[1]",
            27,
            "leave file `f`, which has 2 pages",
        ),
        (
            "dio-read app:buf[0] m[0]",
            29,
            "shmem, which has no block device",
        ),
        ("dio-read app:buf[0]+0x f[0]", 28, "not a byte offset"),
    ];
    for (op, col, words) in cases {
        let e = dio_error(op);
        assert!(at(&e, 22, col) && e.contains(words), "{op}: {e}");
    }
}
