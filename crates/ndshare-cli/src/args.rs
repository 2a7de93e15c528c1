//! The command line.

use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 failure (error on stderr, one line per failure); 2 bad command line.

Named arrays live in /dev/shm as files named ndshare.<name>. Anonymous arrays
never appear here: the kernel frees them when their last user goes.";

/// See and clean the named shared arrays of this machine.
#[derive(Debug, Parser)]
#[command(name = "ndshare", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the named arrays: name, dtype, shape, size, creation, creator, live attachers, status.
    #[command(visible_alias = "ls")]
    List {
        /// Print a JSON array of objects, as `info --json` prints them.
        #[arg(long)]
        json: bool,
    },
    /// Show everything the header of a named array says, and who holds it.
    Info {
        /// The array's name.
        name: String,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Remove the names of named arrays. Processes that map one keep its
    /// memory until they unmap it; nobody can attach it by name any more.
    Rm {
        /// The arrays' names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// A name that does not exist is not an error.
        #[arg(short, long)]
        force: bool,
    },
    /// Remove the named arrays that no live process maps and whose creator is
    /// dead. Arrays in use, or whose use cannot be verified, are kept.
    Gc {
        /// Only show what would be removed.
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// Only consider arrays whose name starts with PREFIX.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        /// Also show the arrays kept, and why.
        #[arg(short, long)]
        verbose: bool,
    },
}
