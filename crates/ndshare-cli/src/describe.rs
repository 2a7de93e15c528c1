//! How the command shows an [`ArrayReport`]: its JSON form (`info --json`,
//! `list --json`), the text of `info` and the rows of `list`.

use std::fmt::Write as _;
use std::io::{self, Write};

use ndshare::named::{ArrayReport, HeaderReport, RingReport, Status};
use ndshare::Order;
use serde_json::{json, Value};

use crate::human;

fn order_of(h: &HeaderReport) -> Option<&'static str> {
    match h.order {
        Some(Order::C) => Some("C"),
        Some(Order::F) => Some("F"),
        None => None,
    }
}

fn format_version(h: &HeaderReport) -> String {
    format!("{}.{}", h.format_version.0, h.format_version.1)
}

/// The JSON form of a report, as `info --json` and `list --json` print it:
/// the raw values, and beside them the forms people read (`size` of the
/// data, `file_size`, `created`, `mode` as `ls -l` writes it, the status as a label and a
/// sentence). `{"name", "path", "error"}` and the status only if the header
/// could not be read (`"unusable"` with the `reason` if attaching it would
/// fail whoever tried).
#[must_use]
pub fn json(r: &ArrayReport) -> Value {
    let status = r.status.as_ref();
    let Some(h) = &r.header else {
        return json!({
            "name": r.name,
            "path": r.path,
            "error": r.error,
            "status": status.map(Status::label),
            "status_detail": status.map(ToString::to_string),
            "reason": status.and_then(Status::reason),
            "stale": r.is_stale(),
        });
    };
    json!({
        "name": r.name,
        "path": r.path,
        "kind": h.kind,
        "ring": r.ring.as_ref().map(ring_json),
        "dtype": h.dtype,
        "itemsize": h.itemsize,
        "shape": h.shape,
        "strides": h.strides,
        "order": order_of(h),
        "nbytes": h.nbytes,
        "size": human::size(h.nbytes),
        "file_bytes": h.file_bytes,
        "file_size": human::size(h.file_bytes),
        "header_bytes": h.header_bytes,
        "format_version": format_version(h),
        "named": h.named,
        "created": human::time(h.created_ns),
        "created_ns": h.created_ns,
        "creator": {
            "pid": h.creator.pid,
            "start_ticks": h.creator.start_ticks,
            "alive": h.creator_alive,
        },
        "attachers": h.attachers.iter().map(|a| json!({
            "slot": a.slot,
            "pid": a.process.pid,
            "start_ticks": a.process.start_ticks,
            "alive": a.alive,
            "claiming": a.claiming,
            "kept": a.kept,
        })).collect::<Vec<_>>(),
        "live_attachers": h.live_attachers,
        "unregistered_attachers": h.unregistered_attachers,
        "mode": human::mode(h.mode),
        "uid": h.uid,
        "status": status.map(Status::label),
        "status_detail": status.map(ToString::to_string),
        "stale": status.map(Status::is_stale),
        "reason": status.and_then(Status::reason),
    })
}

/// A ring's item, delivery and counters, as the `ring` field of the JSON.
fn ring_json(g: &RingReport) -> Value {
    json!({
        "delivery": g.delivery,
        "capacity": g.capacity,
        "item_dtype": g.item_dtype,
        "item_shape": g.item_shape,
        "put": g.put,
        "got": g.got,
        "dropped": g.dropped,
        "abandoned": g.abandoned,
        "lost": g.lost,
        "subscribers": g.subscribers,
        "producers": g.producers,
        "closed": g.closed,
    })
}

/// `ring of 8 x (480, 640, 3)`: the SHAPE cell of a ring in `list`.
fn ring_shape(g: &RingReport) -> String {
    format!("ring of {} x {}", g.capacity, human::tuple(&g.item_shape))
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

/// The lines of `ndshare info` for a ring: its item, delivery and counters.
fn ring_text(g: &RingReport, out: &mut dyn Write) -> io::Result<()> {
    let field = |out: &mut dyn Write, k: &str, v: String| writeln!(out, "{k:<16}{v}");
    field(
        out,
        "ring",
        format!(
            "{} ({} delivery{})",
            ring_shape(g),
            g.delivery,
            if g.closed { ", closed" } else { "" }
        ),
    )?;
    field(out, "item dtype", g.item_dtype.clone())?;
    field(out, "put", g.put.to_string())?;
    field(out, "got", g.got.to_string())?;
    field(out, "dropped", g.dropped.to_string())?;
    field(out, "lost", g.lost.to_string())?;
    field(out, "abandoned", g.abandoned.to_string())?;
    field(out, "subscribers", g.subscribers.to_string())?;
    field(out, "producers", g.producers.to_string())?;
    Ok(())
}

/// `ndshare info NAME`: the header and the table, one field per line (the
/// name, path and status only, if the header could not be read).
pub fn info_text(r: &ArrayReport, out: &mut dyn Write) -> io::Result<()> {
    let field = |out: &mut dyn Write, k: &str, v: String| writeln!(out, "{k:<16}{v}");
    field(out, "name", r.name.clone().unwrap_or_default())?;
    field(out, "path", r.path.clone().unwrap_or_default())?;
    field(
        out,
        "status",
        r.status
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    )?;
    let Some(h) = &r.header else {
        return Ok(());
    };
    field(out, "kind", h.kind.clone())?;
    if let Some(g) = &r.ring {
        ring_text(g, out)?;
    }
    field(
        out,
        "dtype",
        format!("{} ({} bytes per item)", h.dtype, h.itemsize),
    )?;
    field(out, "shape", human::tuple(&h.shape))?;
    let order = order_of(h).map_or_else(|| "not contiguous".to_owned(), |o| format!("{o} order"));
    field(
        out,
        "strides",
        format!("{} ({order})", human::tuple(&h.strides)),
    )?;
    field(
        out,
        "data",
        format!("{} ({} bytes)", human::size(h.nbytes), h.nbytes),
    )?;
    field(
        out,
        "file",
        format!(
            "{} ({} bytes: a {}-byte header, then the data)",
            human::size(h.file_bytes),
            h.file_bytes,
            h.header_bytes
        ),
    )?;
    field(out, "format", format_version(h))?;
    field(
        out,
        "mode",
        format!("{}, owner uid {}", human::mode(h.mode), h.uid),
    )?;
    field(
        out,
        "created",
        format!(
            "{} by pid {} (started at tick {}, {})",
            human::time(h.created_ns),
            h.creator.pid,
            h.creator.start_ticks,
            alive_or_dead(h.creator_alive)
        ),
    )?;
    field(out, "attachers", attachers_summary(h))?;
    if !h.attachers.is_empty() {
        writeln!(out, "  {:<6}{:<10}{:<14}alive", "slot", "pid", "start tick")?;
        for a in &h.attachers {
            let alive = if a.claiming {
                "yes (registering)"
            } else if a.kept && a.alive {
                "yes (kept after use)"
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

/// The `attachers` line of `info`: how many live processes, how many of
/// them only keep the array after use, dead slots, overflow.
fn attachers_summary(h: &HeaderReport) -> String {
    let live = h.live_attachers;
    let mut summary = format!("{live} live process{}", if live == 1 { "" } else { "es" });
    let kept = h.kept_attachers();
    if kept > 0 {
        if live == 1 {
            summary.push_str(", keeping it after use");
        } else {
            let _ = write!(summary, ", {kept} of them keeping it after use");
        }
    }
    let dead = h.attachers.iter().filter(|a| !a.alive).count();
    if dead > 0 {
        let _ = write!(
            summary,
            ", {dead} slot{} left by processes now dead",
            if dead == 1 { "" } else { "s" }
        );
    }
    if h.unregistered_attachers > 0 {
        let _ = write!(
            summary,
            ", {} more live that found the table full",
            h.unregistered_attachers
        );
    }
    summary
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
pub fn list_table(reports: &[ArrayReport], out: &mut dyn Write) -> io::Result<()> {
    const HEAD: [&str; 10] = [
        "NAME",
        "DTYPE",
        "SHAPE",
        "DATA",
        "FILE",
        "CREATED",
        "CREATOR",
        "ALIVE",
        "ATTACHERS",
        "STATUS",
    ];
    // Right-aligned columns: numbers.
    const RIGHT: [bool; 10] = [
        false, false, false, true, true, false, true, false, true, false,
    ];
    let mut rows: Vec<Vec<String>> = vec![HEAD.iter().map(|s| (*s).to_owned()).collect()];
    for r in reports {
        let name = r.name.clone().unwrap_or_default();
        let status = r.status.as_ref();
        rows.push(if let Some(h) = &r.header {
            let live = h.live_attachers;
            let mut attachers = if h.unregistered_attachers > 0 {
                format!("{live}+{}", h.unregistered_attachers)
            } else {
                live.to_string()
            };
            let kept = h.kept_attachers();
            if kept > 0 {
                let _ = write!(attachers, " ({kept} kept)");
            }
            let (dtype, shape) = match &r.ring {
                Some(g) => (&g.item_dtype, ring_shape(g)),
                None => (&h.dtype, human::tuple(&h.shape)),
            };
            vec![
                name,
                clip(dtype, DTYPE_WIDTH),
                shape,
                human::size(h.nbytes),
                human::size(h.file_bytes),
                human::time(h.created_ns),
                h.creator.pid.to_string(),
                yes_no(h.creator_alive).to_owned(),
                attachers,
                status.map(status_cell).unwrap_or_default(),
            ]
        } else {
            let mut row = vec![name];
            row.extend(std::iter::repeat_n("?".to_owned(), HEAD.len() - 2));
            row.push(match status {
                Some(s @ Status::Unusable(_)) => status_cell(s),
                _ => format!("unreadable: {}", r.error.as_deref().unwrap_or_default()),
            });
            row
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
