//! Bindings of rings: `RingCore`, the Rust side of `ndshare.Ring`.
//!
//! Slots are handed to Python as indices of slot buffers (the buffer an
//! item is in, which the ring picks: not its sequence number modulo the
//! capacity); the Python layer makes numpy views of them over the ring's
//! `Segment`. Blocking calls release the GIL
//! and check for signals between sleeps, as the locks' do.

use ndshare::{Access, Claim, Delivery, Error, RawRing, Segment, Subscriber, Taken};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::sync::{blocking, duration};
use crate::{to_py, PySegment};

fn delivery_of(mode: &str) -> PyResult<Delivery> {
    match mode {
        "queue" => Ok(Delivery::Queue),
        "broadcast" => Ok(Delivery::Broadcast),
        "overwrite" => Ok(Delivery::Overwrite),
        other => Err(PyValueError::new_err(format!(
            "mode must be 'queue', 'broadcast' or 'overwrite', not {other:?}"
        ))),
    }
}

fn mode_name(d: Delivery) -> &'static str {
    match d {
        Delivery::Queue => "queue",
        Delivery::Broadcast => "broadcast",
        Delivery::Overwrite => "overwrite",
    }
}

/// The ring protocol over one segment of this process.
#[pyclass(frozen, module = "ndshare._ndshare", name = "RingCore")]
pub(crate) struct PyRing {
    ring: RawRing,
}

#[pymethods]
impl PyRing {
    /// A new ring segment; open it with `RingCore(segment)`.
    #[staticmethod]
    #[allow(clippy::needless_pass_by_value)] // extracted from a Python sequence
    #[pyo3(signature = (dtype, itemsize, shape, capacity, mode="queue", name=None))]
    fn create_segment(
        py: Python<'_>,
        dtype: &str,
        itemsize: u64,
        shape: Vec<u64>,
        capacity: u32,
        mode: &str,
        name: Option<&str>,
    ) -> PyResult<PySegment> {
        let delivery = delivery_of(mode)?;
        let ring = py
            .detach(|| RawRing::create(dtype, itemsize, &shape, capacity, delivery, name))
            .map_err(to_py)?;
        Ok(PySegment {
            inner: ring.into_segment(),
        })
    }

    /// The ring in `segment` (`TypeError` if it holds an array).
    #[new]
    fn new(segment: &Bound<'_, PySegment>) -> PyResult<Self> {
        let seg = &segment.get().inner;
        let ring = RawRing::from_segment(
            Segment::from_borrowed_fd(seg.fd(), Access::ReadWrite).map_err(to_py)?,
        )
        .map_err(to_py)?;
        Ok(PyRing { ring })
    }

    /// Claims the next slot: `(slot, seq)`. Waits while the ring is full,
    /// at most `timeout` seconds (`TimeoutError`).
    #[pyo3(signature = (timeout=None))]
    fn claim(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<(u32, u64)> {
        let t = duration(timeout)?;
        let c = blocking(py, t, |wait| self.ring.claim(wait))?.map_err(to_py)?;
        Ok((c.slot, c.seq))
    }

    /// Publishes a claimed slot.
    fn commit(&self, slot: u32, seq: u64) -> PyResult<()> {
        self.ring.commit(Claim { slot, seq }).map_err(to_py)
    }

    /// Gives a claimed slot up.
    fn abort(&self, slot: u32, seq: u64) -> PyResult<()> {
        self.ring.abort(Claim { slot, seq }).map_err(to_py)
    }

    /// Takes the next item: `(slot, seq, missed)`, or `None` once the
    /// stream has ended. Waits at most `timeout` seconds (`TimeoutError`).
    #[pyo3(signature = (subscriber=None, timeout=None))]
    fn take(
        &self,
        py: Python<'_>,
        subscriber: Option<u32>,
        timeout: Option<f64>,
    ) -> PyResult<Option<(u32, u64, u64)>> {
        let t = duration(timeout)?;
        let sub = subscriber.map(Subscriber::from_index);
        let got = blocking(py, t, |wait| self.ring.take(sub, wait))?.map_err(to_py)?;
        Ok(got.map(|t| (t.slot, t.seq, t.missed)))
    }

    /// Releases a taken item's slot.
    #[pyo3(signature = (slot, seq, subscriber=None))]
    fn release(&self, slot: u32, seq: u64, subscriber: Option<u32>) -> PyResult<()> {
        self.ring
            .release(Taken {
                slot,
                seq,
                missed: 0,
                subscriber: subscriber.map(Subscriber::from_index),
            })
            .map_err(to_py)
    }

    /// A new subscriber's index (broadcast rings).
    fn subscribe(&self) -> PyResult<u32> {
        self.ring.subscribe().map(Subscriber::index).map_err(to_py)
    }

    /// Makes this process the owner of subscriber `index`.
    fn adopt(&self, index: u32) -> PyResult<()> {
        self.ring
            .adopt(Subscriber::from_index(index))
            .map_err(to_py)
    }

    /// Removes subscriber `index`.
    fn unsubscribe(&self, index: u32) -> PyResult<()> {
        self.ring
            .unsubscribe(Subscriber::from_index(index))
            .map_err(to_py)
    }

    /// Closes the ring.
    fn close(&self) {
        self.ring.close();
    }

    /// Whether it was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.ring.is_closed()
    }

    /// Why the stream ended, or `None`.
    fn end_reason(&self) -> Option<String> {
        self.ring.end_reason()
    }

    /// The futex value to wait from (see `wait_changed`).
    fn wait_token(&self, for_items: bool) -> u32 {
        self.ring.wait_token(for_items)
    }

    /// Sleeps, GIL released, until the futex of `wait_token` changes from
    /// `token` (or `wake` is called): `True`, or `False` after `timeout`
    /// seconds; `None` waits as long as it takes.
    #[pyo3(signature = (for_items, token, timeout=None))]
    fn wait_changed(
        &self,
        py: Python<'_>,
        for_items: bool,
        token: u32,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        let t = duration(timeout)?;
        match blocking(py, t, |wait| self.ring.wait_changed(for_items, token, wait))? {
            Ok(()) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(e) => Err(to_py(e)),
        }
    }

    /// Wakes every process waiting for an item (`for_items`) or a free
    /// slot: a `wait_changed` on another thread returns (and the others
    /// look again).
    fn wake(&self, for_items: bool) {
        self.ring.wake_waiters(for_items);
    }

    /// Byte offset of slot `slot` in the segment's data.
    fn slot_offset(&self, slot: u32) -> PyResult<usize> {
        if slot >= self.ring.capacity() {
            return Err(PyValueError::new_err(format!("no slot {slot}")));
        }
        Ok(self.ring.slot_offset(slot))
    }

    /// The counters, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.ring.stats();
        let d = PyDict::new(py);
        d.set_item("mode", mode_name(s.delivery))?;
        d.set_item("capacity", s.capacity)?;
        d.set_item("put", s.put)?;
        d.set_item("got", s.got)?;
        d.set_item("dropped", s.dropped)?;
        d.set_item("abandoned", s.abandoned)?;
        d.set_item("lost", s.lost)?;
        d.set_item("subscribers", s.subscribers)?;
        d.set_item("producers", s.producers)?;
        d.set_item("closed", s.closed)?;
        Ok(d)
    }

    #[getter]
    fn dtype(&self) -> &str {
        self.ring.dtype()
    }

    #[getter]
    fn itemsize(&self) -> u64 {
        self.ring.itemsize()
    }

    #[getter]
    fn shape(&self) -> Vec<u64> {
        self.ring.shape().to_vec()
    }

    #[getter]
    fn capacity(&self) -> u32 {
        self.ring.capacity()
    }

    #[getter]
    fn mode(&self) -> &'static str {
        mode_name(self.ring.delivery())
    }
}

/// `TypeError` unless `segment` holds an array (not a ring).
#[pyfunction]
pub(crate) fn check_array(segment: &Bound<'_, PySegment>) -> PyResult<()> {
    let h = segment.get().inner.header();
    if h.is_array() {
        Ok(())
    } else {
        Err(PyTypeError::new_err(format!(
            "the segment holds {}, not an array",
            h.kind_label()
        )))
    }
}
