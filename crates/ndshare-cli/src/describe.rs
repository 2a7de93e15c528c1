//! What the command and the Python package show about an array: one JSON
//! description (`info --json`, `list --json`, `ndshare.info()`), the text of
//! `info` and the rows of `list`.

use std::fmt::Write as _;
use std::io::{self, Write};

use ndshare::format::VERSION_MAJOR;
use ndshare::named::{Entry, Snapshot, Status};
use ndshare::{FileInfo, Header, Order};
use serde_json::{json, Value};

use crate::human;

fn path_of(name: &str) -> Option<String> {
    ndshare::named::path_for(name)
        .ok()
        .map(|p| p.display().to_string())
}

fn order_of(h: &Header) -> Option<&'static str> {
    match h.layout.order() {
        Some(Order::C) => Some("C"),
        Some(Order::F) => Some("F"),
        None => None,
    }
}

/// The description of one named array; `{"name", "path", "error"}` and its
/// status if its header could not be read (`"unusable"` with the `reason`
/// if attaching it would fail whoever tried).
#[must_use]
pub fn entry(e: &Entry) -> Value {
    match &e.header {
        Err(err) => {
            let status = e.status();
            json!({
                "name": e.name,
                "path": path_of(&e.name),
                "error": err.to_string(),
                "status": status.label(),
                "status_detail": status.to_string(),
                "reason": status.reason(),
                "stale": status.is_stale(),
            })
        }
        Ok((h, f)) => segment(Some(&e.name), h, f, e.attachers.as_ref(), Some(&e.status())),
    }
}

/// The description of a segment. `status` is `None` for an anonymous one,
/// which has no name to keep or remove; an unlinked one has no path.
#[must_use]
pub fn segment(
    name: Option<&str>,
    h: &Header,
    f: &FileInfo,
    attachers: Option<&Snapshot>,
    status: Option<&Status>,
) -> Value {
    let empty = Snapshot::default();
    let table = attachers.unwrap_or(&empty);
    let path = match status {
        Some(Status::Unlinked { .. }) => None,
        _ => name.and_then(path_of),
    };
    json!({
        "name": name,
        "path": path,
        "dtype": h.dtype,
        "itemsize": h.layout.itemsize(),
        "shape": h.layout.shape(),
        "strides": h.layout.strides(),
        "order": order_of(h),
        "nbytes": h.data_len,
        "size": human::size(h.data_len),
        "header_bytes": h.header_len,
        "format_version": format!("{VERSION_MAJOR}.{}", h.version_minor),
        "named": h.is_named(),
        "created": human::time(h.created_ns),
        "created_ns": h.created_ns,
        "creator": {
            "pid": h.creator.pid,
            "start_ticks": h.creator.start_ticks,
            "alive": h.creator.is_alive(),
        },
        "attachers": table.attachers.iter().map(|a| json!({
            "slot": a.slot,
            "pid": a.process.pid,
            "start_ticks": a.process.start_ticks,
            "alive": a.alive,
            "claiming": a.claiming,
        })).collect::<Vec<_>>(),
        "live_attachers": table.live_processes(),
        "unregistered_attachers": table.overflow,
        "mode": human::mode(f.mode),
        "uid": f.uid,
        "status": status.map(Status::label),
        "status_detail": status.map(ToString::to_string),
        "stale": status.map(Status::is_stale),
        "reason": status.and_then(Status::reason),
    })
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn alive_or_dead(b: bool) -> &'static str {
    if b {
        "alive"
    } else {
        "dead"
    }
}

/// `ndshare info NAME`: the header and the table, one field per line (the
/// name, path and status only, if the header could not be read).
pub fn info_text(e: &Entry, out: &mut dyn Write) -> io::Result<()> {
    let field = |out: &mut dyn Write, k: &str, v: String| writeln!(out, "{k:<16}{v}");
    field(out, "name", e.name.clone())?;
    field(out, "path", path_of(&e.name).unwrap_or_default())?;
    field(out, "status", e.status().to_string())?;
    let Ok((h, f)) = &e.header else {
        return Ok(());
    };
    let empty = Snapshot::default();
    let table = e.attachers.as_ref().unwrap_or(&empty);
    field(
        out,
        "dtype",
        format!("{} ({} bytes per item)", h.dtype, h.layout.itemsize()),
    )?;
    field(out, "shape", human::tuple(h.layout.shape()))?;
    let order = order_of(h).map_or_else(|| "not contiguous".to_owned(), |o| format!("{o} order"));
    field(
        out,
        "strides",
        format!("{} ({order})", human::tuple(h.layout.strides())),
    )?;
    field(
        out,
        "size",
        format!(
            "{} ({} bytes of data after a {}-byte header)",
            human::size(h.data_len),
            h.data_len,
            h.header_len
        ),
    )?;
    field(
        out,
        "format",
        format!("{VERSION_MAJOR}.{}", h.version_minor),
    )?;
    field(
        out,
        "mode",
        format!("{}, owner uid {}", human::mode(f.mode), f.uid),
    )?;
    field(
        out,
        "created",
        format!(
            "{} by pid {} (started at tick {}, {})",
            human::time(h.created_ns),
            h.creator.pid,
            h.creator.start_ticks,
            alive_or_dead(h.creator.is_alive())
        ),
    )?;
    let live = table.live_processes();
    let mut summary = format!("{live} live process{}", if live == 1 { "" } else { "es" });
    let dead = table.attachers.iter().filter(|a| !a.alive).count();
    if dead > 0 {
        let _ = write!(
            summary,
            ", {dead} slot{} left by processes now dead",
            if dead == 1 { "" } else { "s" }
        );
    }
    if table.overflow > 0 {
        let _ = write!(
            summary,
            ", {} more live that found the table full",
            table.overflow
        );
    }
    field(out, "attachers", summary)?;
    if !table.attachers.is_empty() {
        writeln!(out, "  {:<6}{:<10}{:<14}alive", "slot", "pid", "start tick")?;
        for a in &table.attachers {
            let alive = if a.claiming {
                "yes (registering)"
            } else {
                yes_no(a.alive)
            };
            writeln!(
                out,
                "  {:<6}{:<10}{:<14}{alive}",
                a.slot, a.process.pid, a.process.start_ticks
            )?;
        }
    }
    Ok(())
}

/// Longest dtype shown in a `list` row; `info` shows all of it.
const DTYPE_WIDTH: usize = 24;

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(width - 3).collect();
        c.push_str("...");
        c
    }
}

/// The STATUS cell of `list`: the label, and why for an unusable array.
fn status_cell(s: &Status) -> String {
    match s.reason() {
        Some(why) => format!("{}: {why}", s.label()),
        None => s.label().to_owned(),
    }
}

/// `ndshare list`: a table with a heading, one row per array.
pub fn list_table(entries: &[Entry], out: &mut dyn Write) -> io::Result<()> {
    const HEAD: [&str; 9] = [
        "NAME",
        "DTYPE",
        "SHAPE",
        "SIZE",
        "CREATED",
        "CREATOR",
        "ALIVE",
        "ATTACHERS",
        "STATUS",
    ];
    // Right-aligned columns: numbers.
    const RIGHT: [bool; 9] = [false, false, false, true, false, true, false, true, false];
    let mut rows: Vec<Vec<String>> = vec![HEAD.iter().map(|s| (*s).to_owned()).collect()];
    for e in entries {
        rows.push(match &e.header {
            Ok((h, _)) => {
                let t = e.attachers.clone().unwrap_or_default();
                let live = t.live_processes();
                let attachers = if t.overflow > 0 {
                    format!("{live}+{}", t.overflow)
                } else {
                    live.to_string()
                };
                vec![
                    e.name.clone(),
                    clip(&h.dtype, DTYPE_WIDTH),
                    human::tuple(h.layout.shape()),
                    human::size(h.data_len),
                    human::time(h.created_ns),
                    h.creator.pid.to_string(),
                    yes_no(h.creator.is_alive()).to_owned(),
                    attachers,
                    status_cell(&e.status()),
                ]
            }
            Err(err) => {
                let mut r = vec![e.name.clone()];
                r.extend(std::iter::repeat_n("?".to_owned(), 7));
                r.push(match e.status() {
                    s @ Status::Unusable(_) => status_cell(&s),
                    _ => format!("unreadable: {err}"),
                });
                r
            }
        });
    }
    let widths: Vec<usize> = (0..HEAD.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let last = c == r.len() - 1;
            if RIGHT[c] {
                let _ = write!(line, "{cell:>w$}", w = widths[c]);
            } else if last {
                line += cell;
            } else {
                let _ = write!(line, "{cell:<w$}", w = widths[c]);
            }
            if !last {
                line += "  ";
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
