//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
Sizes: DATA is the array's own bytes (numpy's nbytes); FILE is what its file
takes in memory, header included (`nbytes` and `file_bytes` in --json).

Exit codes: 0 success; 1 failure (error on stderr, one line per failure); 2 bad command line.

Named arrays live in /dev/shm as files named ndshare.<name>; give their names
without that prefix. Anonymous arrays never appear here: the kernel frees them
when their last user goes.

The same command runs as `python -m ndshare` wherever the Python package is installed.";

const RM_JSON: &str = "\
Print a JSON object: {\"removed\": [{\"name\", \"nbytes\", \"file_bytes\", \"live_attachers\"}], \
\"missing\": [names, with --force], \"failed\": [{\"name\", \"error\"}]}. \
Failures still go to stderr and the exit code.";

const GC_JSON: &str = "\
Print a JSON object: {\"dry_run\", \"removed\": [...], \"kept\": [...], \"failed\": [...], \
\"removed_nbytes\", \"removed_file_bytes\"}, each array as {\"name\", \"nbytes\", \"file_bytes\", \
\"status\", \"status_detail\"} (and \"error\" for a failure). With --dry-run, \"removed\" lists \
what would be removed. Failures still go to stderr and the exit code.";

/// See, save, load and clean up the named shared arrays of this machine.
#[derive(Debug, Parser)]
#[command(name = "ndshare", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Permission bits in octal, as chmod takes them: `644`, `0644`, `0o644`.
fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!(
            "expected permission bits in octal, 0 to 0777 (like 0644), not {s:?}"
        )),
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the named arrays: dtype, shape, sizes, creator, and who uses them.
    #[command(visible_alias = "ls")]
    List {
        /// Print a JSON array of objects, as `info --json` prints them.
        #[arg(long)]
        json: bool,
    },
    /// Show everything known about one named array, and which processes hold it.
    Info {
        /// The array's name (without the "ndshare." of its file).
        name: String,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Remove named arrays by name; processes that use one keep it until they let go.
    ///
    /// Nobody can attach a removed array by name any more; its memory goes when
    /// the last process that maps it unmaps it.
    Rm {
        /// The arrays' names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// A name that does not exist is not an error.
        #[arg(short, long)]
        force: bool,
        #[arg(long, help = RM_JSON)]
        json: bool,
    },
    /// Remove the named arrays left behind: no live process maps them and their creator is dead.
    ///
    /// Arrays in use, or whose use cannot be verified, are kept.
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
        #[arg(long, help = GC_JSON)]
        json: bool,
    },
    /// Save a named array to a .npy file that numpy.load reads.
    Dump {
        /// The array's name.
        name: String,
        /// The .npy file to write (replaced if it exists).
        file: PathBuf,
    },
    /// Make a named array from a .npy file (as numpy.save writes them).
    ///
    /// The name appears only once all of the data is in place: a load that
    /// fails or is killed leaves no name behind.
    Load {
        /// The .npy file to read.
        file: PathBuf,
        /// The name of the new array.
        name: String,
        /// Permission bits of the array's file, in octal: 0600 lets only you
        /// use it, 0644 lets others read it.
        #[arg(long, value_name = "MODE", default_value = "0600", value_parser = parse_mode)]
        mode: u32,
    },
}
