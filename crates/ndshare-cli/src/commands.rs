//! The subcommands.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use ndshare::named::{self, ArrayReport, Outcome, Verdict};
use ndshare::{Access, Error, Layout, Order, RawArray, Segment};
use serde_json::{json, Value};

use crate::args::Command;
use crate::npy::{self, ReadError};
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
    /// A file named on the command line cannot be read or written, or is
    /// not a `.npy` file that can be loaded: the message says which file.
    File(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Ndshare(e) => e.fmt(f),
            Failure::Output(e) => write!(f, "cannot write the output: {e}"),
            Failure::File(msg) => f.write_str(msg),
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
        Command::Rm { names, force, json } => rm(ui, &names, force, json),
        Command::Gc {
            dry_run,
            prefix,
            verbose,
            json,
        } => gc(ui, dry_run, prefix.as_deref(), verbose, json),
        Command::Dump { name, file } => dump(ui, &name, &file),
        Command::Load { file, name, mode } => load(ui, &file, &name, mode),
    }
}

/// The two sizes of an array: its data (`nbytes`) and its file, header
/// included (`file_bytes`); `None` if its header could not be read.
fn sizes(r: &ArrayReport) -> Option<(u64, u64)> {
    r.header.as_ref().map(|h| (h.nbytes, h.file_bytes))
}

/// `nbytes` and `file_bytes` of a JSON entry (`null` if unknown).
fn size_fields(r: &ArrayReport) -> (Value, Value) {
    sizes(r).map_or((Value::Null, Value::Null), |(d, f)| (d.into(), f.into()))
}

/// "16 KiB of data, 20 KiB file", as `gc` says what it removes.
fn both_sizes(data: u64, file: u64) -> String {
    format!("{} of data, {} file", human::size(data), human::size(file))
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

fn rm(ui: &mut Ui<'_>, names: &[String], force: bool, json: bool) -> Result<(), Failure> {
    // Output that cannot be written stops no removal: the names asked for
    // go whoever reads (or stopped reading) what is said about them.
    let mut said = Ok(());
    let (mut removed, mut missing, mut failed) = (vec![], vec![], vec![]);
    for name in names {
        // Who still maps it, to say that they keep the memory; its sizes.
        let entry = named::inspect(name).ok();
        let live = entry
            .as_ref()
            .and_then(|e| e.attachers.as_ref())
            .map_or(0, named::Snapshot::live_count);
        let report = entry.as_ref().map(ArrayReport::of_entry);
        let written = match ndshare::unlink(name) {
            Ok(()) => {
                let (nbytes, file_bytes) = report
                    .as_ref()
                    .map_or((Value::Null, Value::Null), size_fields);
                removed.push(json!({
                    "name": name,
                    "nbytes": nbytes,
                    "file_bytes": file_bytes,
                    "live_attachers": live,
                }));
                if json {
                    Ok(())
                } else if live > 0 {
                    writeln!(
                        ui.out,
                        "removed {name} (still mapped by {live} live process{}: its memory goes when they unmap it)",
                        if live == 1 { "" } else { "es" }
                    )
                } else {
                    writeln!(ui.out, "removed {name}")
                }
            }
            Err(Error::NotFound { .. }) if force => {
                missing.push(name.clone());
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                ui.fail(&msg);
                failed.push(json!({"name": name, "error": one_line(&msg)}));
                Ok(())
            }
        };
        said = said.and(written);
    }
    if json {
        said = said.and(print_json(
            ui,
            &json!({"removed": removed, "missing": missing, "failed": failed}),
        ));
    }
    Ok(said?)
}

/// A `gc --json` entry: the array's name, sizes and status.
fn verdict_json(v: &Verdict) -> Value {
    let (nbytes, file_bytes) = size_fields(&ArrayReport::of_entry(&v.entry));
    let mut e = json!({
        "name": v.entry.name,
        "nbytes": nbytes,
        "file_bytes": file_bytes,
        "status": v.status.label(),
        "status_detail": v.status.to_string(),
    });
    if let Outcome::Failed(err) = &v.outcome {
        e["error"] = one_line(&err.to_string()).into();
    }
    e
}

fn gc(
    ui: &mut Ui<'_>,
    dry_run: bool,
    prefix: Option<&str>,
    verbose: bool,
    json: bool,
) -> Result<(), Failure> {
    let verdicts = named::collect_where(dry_run, |n| prefix.is_none_or(|p| n.starts_with(p)))?;
    let (mut data, mut files) = (0u64, 0u64);
    let (mut removed, mut kept, mut failed) = (vec![], vec![], vec![]);
    // As in `rm`: output that cannot be written hides no failure.
    let mut said = Ok(());
    let verb = if dry_run { "would remove" } else { "removed" };
    for v in &verdicts {
        let (d, f) = sizes(&ArrayReport::of_entry(&v.entry)).unwrap_or((0, 0));
        let name = &v.entry.name;
        match &v.outcome {
            Outcome::Removed | Outcome::WouldRemove => {
                removed.push(verdict_json(v));
                data += d;
                files += f;
                if !json {
                    said = said.and(writeln!(
                        ui.out,
                        "{verb} {name} ({}): {}",
                        both_sizes(d, f),
                        v.status
                    ));
                }
            }
            Outcome::Failed(e) => {
                failed.push(verdict_json(v));
                ui.fail(&format!("cannot remove {name}: {e}"));
            }
            Outcome::Kept => {
                kept.push(verdict_json(v));
                if verbose && !json {
                    said = said.and(writeln!(ui.out, "kept {name}: {}", v.status));
                }
            }
        }
    }
    said = said.and(if json {
        print_json(
            ui,
            &json!({
                "dry_run": dry_run,
                "removed": removed,
                "kept": kept,
                "failed": failed,
                "removed_nbytes": data,
                "removed_file_bytes": files,
            }),
        )
    } else {
        writeln!(
            ui.out,
            "gc: {verb} {} named array{} ({}), kept {}",
            removed.len(),
            if removed.len() == 1 { "" } else { "s" },
            both_sizes(data, files),
            kept.len()
        )
    });
    Ok(said?)
}

/// Writes the named array `name` to the `.npy` file `file`, straight from
/// its shared memory.
///
/// The array is read as it is while the file is written: a process that
/// writes the array meanwhile may leave a mix of old and new values in the
/// file, as a copy made with numpy would.
fn dump(ui: &mut Ui<'_>, name: &str, file: &Path) -> Result<(), Failure> {
    let a = RawArray::attach(name, Access::ReadOnly)?;
    let fortran = match a.layout().order() {
        Some(Order::C) => false,
        Some(Order::F) => true,
        None => {
            return Err(Failure::File(format!(
                "cannot dump {name:?}: its data is in neither C nor Fortran order"
            )))
        }
    };
    let header = npy::write_header(a.dtype(), fortran, a.layout().shape());
    let shown = file.display();
    let mut f =
        File::create(file).map_err(|e| Failure::File(format!("cannot create {shown}: {e}")))?;
    if let Err(e) = f
        .write_all(&header)
        .and_then(|()| f.write_all(a.as_bytes()))
    {
        // No half-written file is left to be taken for the array.
        drop(f);
        let _ = std::fs::remove_file(file);
        return Err(Failure::File(format!("cannot write {shown}: {e}")));
    }
    writeln!(
        ui.out,
        "dumped {name} to {shown}: {} {} ({} of data)",
        a.dtype(),
        human::tuple(a.layout().shape()),
        human::size(a.as_bytes().len() as u64)
    )?;
    Ok(())
}

/// The bytes `load` reads at a time, into a buffer of its own, before
/// writing them through the segment's file: writing through the file gives
/// the new memory its pages without a page fault each (as `ndshare.load`
/// in Python does, docs/benchmarks.md).
const LOAD_CHUNK: usize = 4 << 20;

/// Makes the named array `name` from the `.npy` file `file`. The name is
/// linked only once every byte of the data is in place.
fn load(ui: &mut Ui<'_>, file: &Path, name: &str, mode: u32) -> Result<(), Failure> {
    let shown = file.display();
    let mut f = File::open(file).map_err(|e| Failure::File(format!("cannot open {shown}: {e}")))?;
    let h = npy::read_header(&mut f).map_err(|e| match e {
        ReadError::Io(e) => Failure::File(format!("cannot read {shown}: {e}")),
        ReadError::Format(why) => Failure::File(format!("cannot load {shown}: {why}")),
    })?;
    let order = if h.fortran_order { Order::F } else { Order::C };
    let layout = Layout::contiguous(&h.shape, h.itemsize, order)?;
    let seg = Segment::create_unpublished(layout, &h.descr, Some(name), mode)?;
    let nbytes = seg.data_len();
    let mut buf = vec![0u8; nbytes.clamp(1, LOAD_CHUNK)];
    let mut done = 0;
    while done < nbytes {
        let want = buf.len().min(nbytes - done);
        let got = match f.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(Failure::File(format!(
                    "cannot load {shown}: the file ends before its array's data \
                     ({done} of {nbytes} bytes); no array was made"
                )))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::File(format!("cannot read {shown}: {e}"))),
        };
        seg.write_data(done, &buf[..got])?;
        done += got;
    }
    seg.publish()?;
    writeln!(
        ui.out,
        "loaded {name} from {shown}: {} {} ({} of data)",
        h.descr,
        human::tuple(&h.shape),
        human::size(nbytes as u64)
    )?;
    Ok(())
}
