//! The named arrays of the machine: `list`, `info` and `unlink`, and the
//! report of one array handed to Python field by field.

use ndshare::named::{self, ArrayReport, RingReport, Status};
use ndshare::Order;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::to_py;

/// A report as the dict `ndshare._registry` makes an `ArrayInfo` of: the
/// report's values, keyed by the names of `ArrayInfo`'s fields (plus
/// `created_ns`), none formatted for reading.
pub(crate) fn report_dict<'py>(py: Python<'py>, r: &ArrayReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &r.name)?;
    d.set_item("path", &r.path)?;
    d.set_item("error", &r.error)?;
    let status = r.status.as_ref();
    d.set_item("status", status.map(Status::label))?;
    d.set_item("status_detail", status.map(ToString::to_string))?;
    d.set_item("reason", status.and_then(Status::reason))?;
    let Some(h) = &r.header else {
        return Ok(d);
    };
    d.set_item("kind", &h.kind)?;
    d.set_item(
        "ring",
        r.ring.as_ref().map(|g| ring_dict(py, g)).transpose()?,
    )?;
    d.set_item("dtype", &h.dtype)?;
    d.set_item("itemsize", h.itemsize)?;
    d.set_item("shape", PyTuple::new(py, &h.shape)?)?;
    d.set_item("strides", PyTuple::new(py, &h.strides)?)?;
    let order = match h.order {
        Some(Order::C) => Some("C"),
        Some(Order::F) => Some("F"),
        None => None,
    };
    d.set_item("order", order)?;
    d.set_item("nbytes", h.nbytes)?;
    d.set_item("header_bytes", h.header_bytes)?;
    d.set_item("file_bytes", h.file_bytes)?;
    d.set_item("format_version", h.format_version)?;
    d.set_item("named", h.named)?;
    d.set_item("created_ns", h.created_ns)?;
    d.set_item("creator_pid", h.creator.pid)?;
    d.set_item("creator_start_ticks", h.creator.start_ticks)?;
    d.set_item("creator_alive", h.creator_alive)?;
    let attachers = h
        .attachers
        .iter()
        .map(|a| {
            let e = PyDict::new(py);
            e.set_item("slot", a.slot)?;
            e.set_item("pid", a.process.pid)?;
            e.set_item("start_ticks", a.process.start_ticks)?;
            e.set_item("alive", a.alive)?;
            e.set_item("claiming", a.claiming)?;
            e.set_item("kept", a.kept)?;
            Ok(e)
        })
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("attachers", attachers)?;
    d.set_item("live_attachers", h.live_attachers)?;
    d.set_item("unregistered_attachers", h.unregistered_attachers)?;
    d.set_item("mode", h.mode)?;
    d.set_item("uid", h.uid)?;
    Ok(d)
}

/// A ring's item, delivery and counters: `ArrayInfo.ring`, with the keys
/// of `ndshare info --json`'s `ring`.
fn ring_dict<'py>(py: Python<'py>, g: &RingReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("delivery", &g.delivery)?;
    d.set_item("capacity", g.capacity)?;
    d.set_item("item_dtype", &g.item_dtype)?;
    d.set_item("item_shape", PyTuple::new(py, &g.item_shape)?)?;
    d.set_item("put", g.put)?;
    d.set_item("got", g.got)?;
    d.set_item("dropped", g.dropped)?;
    d.set_item("abandoned", g.abandoned)?;
    d.set_item("lost", g.lost)?;
    d.set_item("subscribers", g.subscribers)?;
    d.set_item("producers", g.producers)?;
    d.set_item("closed", g.closed)?;
    Ok(d)
}

/// Removes a named array's name; mappings stay valid.
#[pyfunction]
pub(crate) fn unlink(name: &str) -> PyResult<()> {
    ndshare::unlink(name).map_err(to_py)
}

/// The named arrays of the machine, sorted by name: one report dict each
/// (`name`, `path`, `error` and the status only for an unreadable one).
#[pyfunction]
pub(crate) fn list_named(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    let reports = py.detach(named::reports).map_err(to_py)?;
    reports.iter().map(|r| report_dict(py, r)).collect()
}

/// The report dict of the named array `name`, read now (also of one that
/// cannot be attached: its status says why).
#[pyfunction]
pub(crate) fn info<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyDict>> {
    let report = py.detach(|| named::report(name)).map_err(to_py)?;
    report_dict(py, &report)
}
