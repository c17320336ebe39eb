//! Writing to stdout: a closed pipe (`biopin explain f.toml | head`) ends the command quietly,
//! as SIGPIPE ends a C tool, instead of panicking the way `println!` does.

use std::fmt;
use std::io::{ErrorKind, Write};

/// The exit status of a process killed by SIGPIPE (128 + 13), as shells report it.
const EXIT_BROKEN_PIPE: i32 = 141;

/// Prints `args` and a newline on stdout.
pub fn line(args: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        eprintln!("biopin: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` on stdout, ending quietly if the reader has gone.
macro_rules! outln {
    () => {
        $crate::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}

pub(crate) use outln;
