//! The subcommands.

use std::io::{self, Write};

use ndshare::named::{self, Outcome};
use ndshare::Error;

use crate::args::Command;
use crate::{describe, human, one_line};

/// Where a command writes, and whether something it did failed (commands
/// that act on several arrays go on after a failure).
pub(crate) struct Ui<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub failed: bool,
}

impl Ui<'_> {
    /// Reports one failure on stderr and goes on.
    fn fail(&mut self, msg: &str) {
        self.failed = true;
        let _ = writeln!(self.err, "ndshare: {}", one_line(msg));
    }
}

/// Why a command stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    Ndshare(Error),
    Output(io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Ndshare(e) => e.fmt(f),
            Failure::Output(e) => write!(f, "cannot write the output: {e}"),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Ndshare(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

pub(crate) fn dispatch(command: Command, ui: &mut Ui<'_>) -> Result<(), Failure> {
    match command {
        Command::List { json } => list(ui, json),
        Command::Info { name, json } => info(ui, &name, json),
        Command::Rm { names, force } => rm(ui, &names, force),
        Command::Gc {
            dry_run,
            prefix,
            verbose,
        } => gc(ui, dry_run, prefix.as_deref(), verbose),
    }
}

fn print_json(ui: &mut Ui<'_>, v: &serde_json::Value) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *ui.out, v)?;
    writeln!(ui.out)
}

fn list(ui: &mut Ui<'_>, json: bool) -> Result<(), Failure> {
    let reports = named::reports()?;
    if json {
        let all: Vec<_> = reports.iter().map(describe::json).collect();
        print_json(ui, &serde_json::Value::Array(all))?;
    } else {
        describe::list_table(&reports, ui.out)?;
    }
    Ok(())
}

/// Describes one array; one that cannot be attached is described, and is a
/// failure (exit code 1, the reason on stderr).
fn info(ui: &mut Ui<'_>, name: &str, json: bool) -> Result<(), Failure> {
    let report = named::report(name)?;
    if json {
        print_json(ui, &describe::json(&report))?;
    } else {
        describe::info_text(&report, ui.out)?;
    }
    if let Some(why) = report.status.as_ref().and_then(named::Status::reason) {
        ui.fail(why);
    }
    Ok(())
}

fn rm(ui: &mut Ui<'_>, names: &[String], force: bool) -> Result<(), Failure> {
    // Output that cannot be written stops no removal: the names asked for
    // go whoever reads (or stopped reading) what is said about them.
    let mut said = Ok(());
    for name in names {
        // Who still maps it, to say that they keep the memory.
        let live = named::inspect(name)
            .ok()
            .and_then(|e| e.attachers)
            .map_or(0, |t| t.live_count());
        let written = match ndshare::unlink(name) {
            Ok(()) if live > 0 => writeln!(
                ui.out,
                "removed {name} (still mapped by {live} live process{}: its memory goes when they unmap it)",
                if live == 1 { "" } else { "es" }
            ),
            Ok(()) => writeln!(ui.out, "removed {name}"),
            Err(Error::NotFound { .. }) if force => Ok(()),
            Err(e) => {
                ui.fail(&e.to_string());
                Ok(())
            }
        };
        said = said.and(written);
    }
    Ok(said?)
}

fn gc(ui: &mut Ui<'_>, dry_run: bool, prefix: Option<&str>, verbose: bool) -> Result<(), Failure> {
    let verdicts = named::collect_where(dry_run, |n| prefix.is_none_or(|p| n.starts_with(p)))?;
    let (mut removed, mut bytes, mut kept) = (0usize, 0u64, 0usize);
    // As in `rm`: output that cannot be written hides no failure.
    let mut said = Ok(());
    for v in &verdicts {
        let size = v
            .entry
            .header
            .as_ref()
            .map_or(0, |(h, f)| f.size.max(h.segment_len()));
        let name = &v.entry.name;
        match &v.outcome {
            Outcome::Removed | Outcome::WouldRemove => {
                removed += 1;
                bytes += size;
                let verb = if dry_run { "would remove" } else { "removed" };
                said = said.and(writeln!(
                    ui.out,
                    "{verb} {name} ({}): {}",
                    human::size(size),
                    v.status
                ));
            }
            Outcome::Failed(e) => ui.fail(&format!("cannot remove {name}: {e}")),
            Outcome::Kept => {
                kept += 1;
                if verbose {
                    said = said.and(writeln!(ui.out, "kept {name}: {}", v.status));
                }
            }
        }
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    said = said.and(writeln!(
        ui.out,
        "gc: {verb} {removed} named array{} ({}), kept {kept}",
        if removed == 1 { "" } else { "s" },
        human::size(bytes)
    ));
    Ok(said?)
}
