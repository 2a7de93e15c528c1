//! The `ndshare` command: see which named shared arrays sit on this machine,
//! who holds them, remove the stale ones, and move arrays to and from
//! numpy's `.npy` files.
//!
//! ```text
//! ndshare list [--json]              the named arrays, one per line
//! ndshare info NAME [--json]         everything the header of one says
//! ndshare rm NAME... [--json]        remove names (mappers keep the memory)
//! ndshare gc [--dry-run] [--json]    remove the arrays nobody can miss
//! ndshare dump NAME FILE.npy         write an array to a .npy file
//! ndshare load FILE.npy NAME         make a named array from a .npy file
//! ```
//!
//! The policy (what is stale, what gc removes) is the core crate's
//! ([`ndshare::named`]); this crate parses arguments and prints.
//! Exit codes are in [`exit`]. Errors are one line on stderr, starting with
//! `ndshare: `.

mod args;
mod commands;
mod describe;
pub mod human;
mod literal;
mod npy;

use std::ffi::OsString;
use std::io::{self, Write};

use clap::Parser;

/// Exit codes of the `ndshare` command.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Something failed: a name not found, not readable, not removable. With
    /// several names, the others were still done.
    pub const FAILURE: i32 = 1;
    /// The command line is wrong.
    pub const USAGE: i32 = 2;
}

/// Runs the command with `argv` (the program name first), printing to this
/// process's stdout and stderr; returns the exit code.
pub fn run<I, T>(argv: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match args::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let stdout = io::stdout();
    let stderr = io::stderr();
    run_parsed(cli.command, &mut stdout.lock(), &mut stderr.lock())
}

fn run_parsed(command: args::Command, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut ui = commands::Ui {
        out,
        err,
        failed: false,
    };
    let result = commands::dispatch(command, &mut ui);
    let failed = ui.failed;
    let code = match result {
        Ok(()) if failed => exit::FAILURE,
        Ok(()) => exit::OK,
        // `ndshare list | head -1`: the reader went away; nothing to report
        // but the failures met before.
        Err(commands::Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            if failed {
                exit::FAILURE
            } else {
                exit::OK
            }
        }
        Err(f) => {
            let _ = writeln!(err, "ndshare: {}", one_line(&f.to_string()));
            exit::FAILURE
        }
    };
    let _ = out.flush();
    code
}

/// Error messages are one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
