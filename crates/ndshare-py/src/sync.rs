//! Bindings of the synchronization primitives: the lock and the read/write
//! lock of every array, barrier and event segments, and atomics.
//!
//! Blocking waits release the GIL and, between sleeps, take it back briefly
//! to run Python's signal handlers: other threads run meanwhile, and Ctrl-C
//! ends a wait with `KeyboardInterrupt`.

use std::ptr::NonNull;
use std::time::Duration;

use ndshare::atomic::{AtomicElement, Op};
use ndshare::{Acquired, Barrier, Error, Event, Owner, RawLock, RawRwLock, Segment, Wait};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeWarning, PyTimeoutError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::{to_py, PySegment};

create_exception!(
    _ndshare,
    LockOwnerDied,
    PyRuntimeWarning,
    "A lock was acquired from a holder that died holding it: what the lock protects may be half-updated. \
     The lock is held by the caller when this warning is issued; the instance's `lock` attribute is that lock."
);

/// `threading.Lock.acquire`'s "forever", an exact value.
#[allow(
    clippy::float_cmp,
    reason = "-1 is an exact sentinel, not a computed value"
)]
fn is_minus_one(t: f64) -> bool {
    t == -1.0
}

/// A Python timeout in seconds: `None` or infinity wait forever.
fn duration(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() || t < 0.0 => Err(PyValueError::new_err(format!(
            "timeout must be a non-negative number of seconds or None, not {t}"
        ))),
        Some(t) => Ok(Duration::try_from_secs_f64(t).ok()),
    }
}

/// Runs a blocking core call with the GIL released, checking for signals
/// between sleeps. The outer error is a signal handler's exception.
fn blocking<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    call: impl FnOnce(Wait<'_>) -> ndshare::Result<T> + Send,
) -> PyResult<ndshare::Result<T>> {
    let mut raised: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut check = || {
            Python::attach(|py| match py.check_signals() {
                Ok(()) => true,
                Err(e) => {
                    raised = Some(e);
                    false
                }
            })
        };
        let wait = timeout.map_or_else(Wait::forever, Wait::timeout);
        call(wait.with_check(&mut check))
    });
    match raised {
        Some(e) => Err(e),
        None => Ok(result),
    }
}

/// Which lock of a segment a handle takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The plain lock: one holder.
    Exclusive,
    /// A read lock of the read/write lock.
    Read,
    /// The write lock of the read/write lock.
    Write,
}

/// A handle on one lock of a segment (`a.lock()`, `a.read_lock()`,
/// `a.write_lock()`): a context manager, and `acquire`/`release` as
/// `threading.Lock` has them. The lock itself lives in the segment; any
/// number of handles, in any process, name the same lock.
#[pyclass(frozen, module = "ndshare._ndshare", name = "ArrayLock")]
pub(crate) struct PyArrayLock {
    seg: Py<PySegment>,
    mode: Mode,
    timeout: Option<Duration>,
    timeout_secs: Option<f64>,
}

impl PyArrayLock {
    fn segment(&self) -> &Segment {
        &self.seg.get().inner
    }

    /// One attempt without waiting (and without looking at the holder).
    fn try_now(&self) -> ndshare::Result<Acquired> {
        let seg = self.segment();
        match self.mode {
            Mode::Exclusive => seg.raw_lock()?.try_lock().map(|()| Acquired::Clean),
            Mode::Read => seg.raw_rwlock()?.read(Wait::timeout(Duration::ZERO)),
            Mode::Write => seg.raw_rwlock()?.write(Wait::timeout(Duration::ZERO)),
        }
    }

    fn take(&self, wait: Wait<'_>) -> ndshare::Result<Acquired> {
        let seg = self.segment();
        match self.mode {
            Mode::Exclusive => seg.raw_lock()?.lock(wait),
            Mode::Read => seg.raw_rwlock()?.read(wait),
            Mode::Write => seg.raw_rwlock()?.write(wait),
        }
    }

    /// Takes the lock: `Ok(false)` when the timeout elapsed. Warns with
    /// [`LockOwnerDied`] (the lock held) when the holder had died.
    fn acquire_for(slf: &Bound<'_, Self>, timeout: Option<Duration>) -> PyResult<bool> {
        let this = slf.get();
        let first = this.try_now();
        let outcome = match first {
            Err(Error::Timeout) if timeout != Some(Duration::ZERO) => {
                blocking(slf.py(), timeout, |wait| this.take(wait))?
            }
            other => other,
        };
        match outcome {
            Ok(Acquired::Clean) => Ok(true),
            Ok(Acquired::OwnerDied(previous)) => {
                warn_owner_died(slf, previous)?;
                Ok(true)
            }
            Err(Error::Timeout) => Ok(false),
            Err(e) => Err(to_py(e)),
        }
    }
}

/// Issues the owner-died warning; its instance carries the held lock, so a
/// caller that turned the warning into an error can still release it.
fn warn_owner_died(slf: &Bound<'_, PyArrayLock>, previous: Owner) -> PyResult<()> {
    let py = slf.py();
    let what = match slf.get().mode {
        Mode::Exclusive => "lock",
        Mode::Read | Mode::Write => "read/write lock",
    };
    let warning = LockOwnerDied::new_err(format!(
        "acquired the array's {what}, but its previous holder (thread {}) died holding it: \
         the data it protects may be half-updated",
        previous.tid
    ));
    let instance = warning.value(py);
    instance.setattr("lock", slf)?;
    instance.setattr("previous_owner", previous.tid)?;
    py.import("warnings")?.call_method1("warn", (instance,))?;
    Ok(())
}

#[pymethods]
impl PyArrayLock {
    /// A handle on the lock of `segment` (`mode` is "lock", "read" or
    /// "write"); entering it waits at most `timeout` seconds.
    #[new]
    #[pyo3(signature = (segment, mode="lock", timeout=None))]
    fn new(segment: Option<Py<PySegment>>, mode: &str, timeout: Option<f64>) -> PyResult<Self> {
        let seg = segment.ok_or_else(|| {
            PyTypeError::new_err(
                "this array is not in shared memory (a copy or a result): it has no lock",
            )
        })?;
        let mode = match mode {
            "lock" => Mode::Exclusive,
            "read" => Mode::Read,
            "write" => Mode::Write,
            other => {
                return Err(PyValueError::new_err(format!(
                    "mode must be 'lock', 'read' or 'write', not {other:?}"
                )))
            }
        };
        // Refuse now, clearly, what could never lock.
        let inner = &seg.get().inner;
        match mode {
            Mode::Exclusive => inner.raw_lock().map(drop),
            Mode::Read | Mode::Write => inner.raw_rwlock().map(drop),
        }
        .map_err(to_py)?;
        Ok(PyArrayLock {
            seg,
            mode,
            timeout: duration(timeout)?,
            timeout_secs: timeout,
        })
    }

    /// Takes the lock; `True` once held, `False` if `timeout` elapsed first
    /// (`blocking=False`: do not wait). `timeout=None` uses the handle's
    /// timeout; `-1` waits forever, as in `threading.Lock`.
    #[pyo3(signature = (blocking=true, timeout=None))]
    fn acquire(slf: &Bound<'_, Self>, blocking: bool, timeout: Option<f64>) -> PyResult<bool> {
        let wait = match (blocking, timeout) {
            (false, Some(_)) => {
                return Err(PyValueError::new_err(
                    "a timeout cannot be given with blocking=False",
                ));
            }
            (false, None) => Some(Duration::ZERO),
            (true, None) => slf.get().timeout,
            (true, Some(t)) if is_minus_one(t) => None,
            (true, t) => duration(t)?,
        };
        Self::acquire_for(slf, wait)
    }

    /// Releases the lock; `RuntimeError` if this thread does not hold it.
    fn release(&self) -> PyResult<()> {
        let seg = self.segment();
        match self.mode {
            Mode::Exclusive => seg.raw_lock().and_then(RawLock::unlock),
            Mode::Read => seg.raw_rwlock().and_then(RawRwLock::read_unlock),
            Mode::Write => seg.raw_rwlock().and_then(RawRwLock::write_unlock),
        }
        .map_err(to_py)
    }

    /// Whether the lock is held in this handle's mode: the lock by anyone;
    /// a read lock by any reader; the write lock by a writer (or a writer
    /// waiting for the readers to leave).
    fn locked(&self) -> PyResult<bool> {
        let seg = self.segment();
        Ok(match self.mode {
            Mode::Exclusive => seg.raw_lock().map_err(to_py)?.is_locked(),
            Mode::Read => seg.raw_rwlock().map_err(to_py)?.readers() > 0,
            Mode::Write => seg.raw_rwlock().map_err(to_py)?.writer().is_some(),
        })
    }

    /// Thread id of the holder of the lock or the write lock, else `None`.
    #[getter]
    fn owner(&self) -> PyResult<Option<u32>> {
        let seg = self.segment();
        Ok(match self.mode {
            Mode::Exclusive => seg.raw_lock().map_err(to_py)?.owner(),
            Mode::Read | Mode::Write => seg.raw_rwlock().map_err(to_py)?.writer(),
        }
        .map(|o| o.tid))
    }

    /// Seconds `with` waits before `TimeoutError`; `None`: forever.
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.timeout_secs
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        if Self::acquire_for(slf, slf.get().timeout)? {
            return Ok(slf.clone());
        }
        Err(PyTimeoutError::new_err(format!(
            "could not take the array's {} within {} s",
            match slf.get().mode {
                Mode::Exclusive => "lock",
                Mode::Read => "read lock",
                Mode::Write => "write lock",
            },
            slf.get().timeout_secs.unwrap_or(f64::INFINITY)
        )))
    }

    fn __exit__(
        &self,
        _kind: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.release()?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let kind = match self.mode {
            Mode::Exclusive => "lock",
            Mode::Read => "read lock",
            Mode::Write => "write lock",
        };
        match self.timeout_secs {
            None => format!("<ndshare array {kind}>"),
            Some(t) => format!("<ndshare array {kind}, timeout={t}>"),
        }
    }
}

/// The Rust side of `ndshare.Barrier`: a barrier segment's operations.
#[pyclass(frozen, module = "ndshare._ndshare", name = "BarrierHandle")]
pub(crate) struct PyBarrier {
    seg: Py<PySegment>,
    parties: u32,
}

impl PyBarrier {
    fn barrier(&self) -> ndshare::Result<Barrier<'_>> {
        Barrier::open(&self.seg.get().inner)
    }
}

#[pymethods]
impl PyBarrier {
    /// A new barrier segment for `parties` callers.
    #[staticmethod]
    fn create_segment(parties: u32) -> PyResult<PySegment> {
        Barrier::create(parties)
            .map(|inner| PySegment { inner })
            .map_err(to_py)
    }

    /// The barrier in `segment` (`TypeError` if it holds none).
    #[new]
    fn new(segment: Py<PySegment>) -> PyResult<Self> {
        let parties = Barrier::open(&segment.get().inner)
            .map_err(to_py)?
            .parties();
        Ok(PyBarrier {
            seg: segment,
            parties,
        })
    }

    /// Waits for the round to fill; returns the arrival index (0 to
    /// parties - 1). `TimeoutError` after `timeout` seconds, having left the
    /// round.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<u32> {
        let timeout = duration(timeout)?;
        blocking(py, timeout, |wait| self.barrier()?.wait_with(wait))?.map_err(to_py)
    }

    #[getter]
    fn parties(&self) -> u32 {
        self.parties
    }

    #[getter]
    fn n_waiting(&self) -> PyResult<u32> {
        Ok(self.barrier().map_err(to_py)?.n_waiting())
    }
}

/// The Rust side of `ndshare.Event`: an event segment's operations.
#[pyclass(frozen, module = "ndshare._ndshare", name = "EventHandle")]
pub(crate) struct PyEvent {
    seg: Py<PySegment>,
}

impl PyEvent {
    fn event(&self) -> PyResult<Event<'_>> {
        Event::open(&self.seg.get().inner).map_err(to_py)
    }
}

#[pymethods]
impl PyEvent {
    /// A new event segment, clear.
    #[staticmethod]
    fn create_segment() -> PyResult<PySegment> {
        Event::create()
            .map(|inner| PySegment { inner })
            .map_err(to_py)
    }

    /// The event in `segment` (`TypeError` if it holds none).
    #[new]
    fn new(segment: Py<PySegment>) -> PyResult<Self> {
        Event::open(&segment.get().inner).map_err(to_py)?;
        Ok(PyEvent { seg: segment })
    }

    fn set(&self) -> PyResult<()> {
        self.event()?.set();
        Ok(())
    }

    fn clear(&self) -> PyResult<()> {
        self.event()?.clear();
        Ok(())
    }

    fn is_set(&self) -> PyResult<bool> {
        Ok(self.event()?.is_set())
    }

    /// Waits for the flag; `False` if `timeout` seconds passed first.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = duration(timeout)?;
        let event = self.event()?;
        if event.is_set() {
            return Ok(true);
        }
        match blocking(py, timeout, |wait| event.wait_with(wait))? {
            Ok(()) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(e) => Err(to_py(e)),
        }
    }
}

fn parse_op(op: &str) -> PyResult<Op> {
    Ok(match op {
        "add" => Op::Add,
        "sub" => Op::Sub,
        "max" => Op::Max,
        "min" => Op::Min,
        "exchange" => Op::Exchange,
        "store" => Op::Store,
        "load" => Op::Load,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown atomic operation {other:?}"
            )))
        }
    })
}

/// Runs `$body` with `$t` bound to the element type `$typestr` names.
macro_rules! with_element {
    ($typestr:expr, $t:ident => $body:expr) => {
        match $typestr {
            "<i4" => {
                type $t = i32;
                $body
            }
            "<i8" => {
                type $t = i64;
                $body
            }
            "<u4" => {
                type $t = u32;
                $body
            }
            "<u8" => {
                type $t = u64;
                $body
            }
            other => Err(PyTypeError::new_err(format!(
                "atomics work on int32, int64, uint32 and uint64 elements, not {other:?}"
            ))),
        }
    };
}

/// Converts the core's refusals of an atomic view to what the Python API
/// promises: `TypeError` for an array atomics cannot work on.
fn atomic_error(e: Error) -> PyErr {
    match e {
        Error::ReadOnly(_) | Error::Misaligned(_) | Error::TypeMismatch { .. } => {
            PyTypeError::new_err(e.to_string())
        }
        other => to_py(other),
    }
}

/// One atomic operation on the element at `index` of the view at byte
/// `offset` with `shape` and `strides`; returns the previous value (`None`
/// for "store"). `op` "cas" stores `new` where the element is `value`.
#[pyfunction]
#[pyo3(signature = (segment, typestr, op, offset, shape, strides, index, value, new=None))]
#[allow(
    clippy::too_many_arguments,
    clippy::needless_pass_by_value,
    reason = "a numpy view's geometry, flattened for the call; pyo3 extracts owned vectors"
)]
fn atomic_one<'py>(
    py: Python<'py>,
    segment: &Bound<'py, PySegment>,
    typestr: &str,
    op: &str,
    offset: u64,
    shape: Vec<u64>,
    strides: Vec<i64>,
    index: Vec<i64>,
    value: &Bound<'py, PyAny>,
    new: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let seg = &segment.get().inner;
    with_element!(typestr, T => {
        let view = seg.atomic_view::<T>(offset, &shape, &strides).map_err(atomic_error)?;
        let a = view.at(&index).map_err(to_py)?;
        if op == "cas" {
            let new = new.ok_or_else(|| PyValueError::new_err("compare_exchange needs a new value"))?;
            let previous = T::compare_exchange(a, value.extract::<T>()?, new.extract::<T>()?);
            return Ok(previous.into_pyobject(py)?.into_any());
        }
        let op = parse_op(op)?;
        let v = if op == Op::Load { 0 } else { value.extract::<T>()? };
        let previous = T::apply(a, op, v);
        if op == Op::Store {
            Ok(py.None().into_bound(py))
        } else {
            Ok(previous.into_pyobject(py)?.into_any())
        }
    })
}

/// The memory of a one-dimensional, C-contiguous numpy array of `typestr`
/// elements, read from its `__array_interface__`: address and length.
fn array_memory(
    obj: &Bound<'_, PyAny>,
    typestr: &str,
    itemsize: usize,
    writable: bool,
) -> PyResult<(NonNull<u8>, usize)> {
    let bad = |why: &str| {
        PyTypeError::new_err(format!("expected a contiguous 1-D {typestr} array: {why}"))
    };
    let iface = obj.getattr("__array_interface__")?;
    let d = iface
        .cast::<PyDict>()
        .map_err(|_| bad("no array interface"))?;
    let get = |k: &str| d.get_item(k).ok().flatten();
    let ts: String = get("typestr").ok_or_else(|| bad("no typestr"))?.extract()?;
    if ts != typestr {
        return Err(bad(&format!("its elements are {ts}")));
    }
    let shape: Vec<usize> = get("shape").ok_or_else(|| bad("no shape"))?.extract()?;
    let [n] = shape[..] else {
        return Err(bad("not one-dimensional"));
    };
    if let Some(strides) = get("strides").filter(|s| !s.is_none()) {
        let strides: Vec<isize> = strides.extract()?;
        if n > 1 && strides != [itemsize as isize] {
            return Err(bad("not contiguous"));
        }
    }
    let (addr, readonly): (usize, bool) = get("data").ok_or_else(|| bad("no data"))?.extract()?;
    if writable && readonly {
        return Err(bad("read-only"));
    }
    if n == 0 {
        return Ok((NonNull::dangling(), 0));
    }
    let ptr = NonNull::new(addr as *mut u8).ok_or_else(|| bad("null data"))?;
    if addr % itemsize != 0 {
        return Err(bad("misaligned"));
    }
    Ok((ptr, n))
}

/// Refuses a buffer that overlaps the segment being operated on: the
/// slices made of it must not alias memory that atomics change.
fn check_apart(seg: &Segment, (ptr, n): (NonNull<u8>, usize), itemsize: usize) -> PyResult<()> {
    let (lo, hi) = (ptr.as_ptr() as usize, ptr.as_ptr() as usize + n * itemsize);
    let (slo, shi) = (
        seg.base_ptr() as usize,
        seg.data_ptr() as usize + seg.data_len(),
    );
    if n > 0 && lo < shi && slo < hi {
        return Err(PyValueError::new_err(
            "index, value and output arrays must not share memory with the array",
        ));
    }
    Ok(())
}

/// Many atomic operations (the `np.add.at` form): element `k` is at
/// `(indices[0][k], ...)`; `values` holds one value or one per element;
/// previous values go to `out` if given. `op` "cas" stores `new[k]` where
/// the element is `values[k]`, and needs `out`.
///
/// `indices` are contiguous intp arrays, `values`, `new` and `out`
/// contiguous arrays of the element type, none sharing memory with the
/// segment (checked). The GIL is held throughout: no Python code can free
/// or resize them meanwhile.
#[pyfunction]
#[pyo3(signature = (segment, typestr, op, offset, shape, strides, indices, values, new=None, out=None))]
#[allow(
    clippy::too_many_arguments,
    clippy::needless_pass_by_value,
    clippy::cast_ptr_alignment,
    reason = "a numpy view's geometry, flattened for the call; pyo3 extracts owned vectors; \
              buffer alignment is checked by array_memory"
)]
fn atomic_many(
    segment: &Bound<'_, PySegment>,
    typestr: &str,
    op: &str,
    offset: u64,
    shape: Vec<u64>,
    strides: Vec<i64>,
    indices: Vec<Bound<'_, PyAny>>,
    values: &Bound<'_, PyAny>,
    new: Option<&Bound<'_, PyAny>>,
    out: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let seg = &segment.get().inner;
    let index_mem = indices
        .iter()
        .map(|ix| {
            let m = array_memory(ix, "<i8", 8, false)?;
            check_apart(seg, m, 8)?;
            Ok(m)
        })
        .collect::<PyResult<Vec<_>>>()?;
    // SAFETY: each (ptr, n) is the live, aligned, contiguous buffer of an
    // int64 numpy array that `indices` keeps referenced while the GIL is
    // held for the whole call, outside the segment (checked).
    let index_slices: Vec<&[i64]> = index_mem
        .iter()
        .map(|&(p, n)| unsafe {
            std::slice::from_raw_parts(p.as_ptr().cast::<i64>().cast_const(), n)
        })
        .collect();
    with_element!(typestr, T => {
        let size = size_of::<T>();
        let view = seg.atomic_view::<T>(offset, &shape, &strides).map_err(atomic_error)?;
        let input = |obj: &Bound<'_, PyAny>| -> PyResult<&[T]> {
            let m = array_memory(obj, typestr, size, false)?;
            check_apart(seg, m, size)?;
            // SAFETY: as for the indices: a live, aligned buffer of `T`
            // kept by the caller's reference under the GIL, outside the
            // segment.
            Ok(unsafe { std::slice::from_raw_parts(m.0.as_ptr().cast::<T>().cast_const(), m.1) })
        };
        let values = input(values)?;
        let out: Option<&mut [T]> = match out {
            None => None,
            Some(o) => {
                let m = array_memory(o, typestr, size, true)?;
                check_apart(seg, m, size)?;
                if overlaps(m, (NonNull::from(values).cast::<u8>(), std::mem::size_of_val(values)), size)
                    || index_mem.iter().any(|&(p, n)| overlaps(m, (p, n * 8), size))
                {
                    return Err(PyValueError::new_err("the output array must not share memory with the inputs"));
                }
                // SAFETY: a live, aligned, writable buffer of `T` kept by the
                // caller's reference under the GIL, outside the segment and
                // apart from every input (checked), so this is the only
                // reference to it.
                Some(unsafe { std::slice::from_raw_parts_mut(m.0.as_ptr().cast::<T>(), m.1) })
            }
        };
        if op == "cas" {
            let new = input(new.ok_or_else(|| PyValueError::new_err("compare_exchange needs new values"))?)?;
            let out = out.ok_or_else(|| PyValueError::new_err("compare_exchange needs an output array"))?;
            return view.compare_exchange_at(&index_slices, values, new, out).map_err(to_py);
        }
        view.apply(parse_op(op)?, &index_slices, values, out).map_err(to_py)
    })
}

/// Whether `out` (elements of `size` bytes) overlaps `bytes` bytes at `other`.
fn overlaps(
    (out, n): (NonNull<u8>, usize),
    (other, bytes): (NonNull<u8>, usize),
    size: usize,
) -> bool {
    let (a0, a1) = (out.as_ptr() as usize, out.as_ptr() as usize + n * size);
    let (b0, b1) = (other.as_ptr() as usize, other.as_ptr() as usize + bytes);
    n > 0 && bytes > 0 && a0 < b1 && b0 < a1
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyArrayLock>()?;
    m.add_class::<PyBarrier>()?;
    m.add_class::<PyEvent>()?;
    m.add_function(wrap_pyfunction!(atomic_one, m)?)?;
    m.add_function(wrap_pyfunction!(atomic_many, m)?)?;
    m.add("LockOwnerDied", m.py().get_type::<LockOwnerDied>())?;
    Ok(())
}
