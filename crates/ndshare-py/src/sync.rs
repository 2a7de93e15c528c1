//! Bindings of the synchronization primitives: the lock and the read/write
//! lock of every array, and barrier and event segments.
//!
//! Blocking waits release the GIL and, between sleeps, take it back briefly
//! to run Python's signal handlers: other threads run meanwhile, and Ctrl-C
//! ends a wait with `KeyboardInterrupt`.

use std::time::Duration;

use ndshare::{Acquired, Barrier, Error, Event, Owner, RawLock, RawRwLock, Segment, Wait};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeWarning, PyTimeoutError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::errors::to_py;
use crate::segment::PySegment;

// The module is `ndshare`, as for the exceptions of errors.rs: a warning
// raised in a worker and turned into an error pickles back by that name.
create_exception!(
    ndshare,
    LockOwnerDied,
    PyRuntimeWarning,
    r#"A lock was acquired from a holder that died holding it.

Issued (with ``warnings.warn``) by ``SharedArray.lock``,
``SharedArray.read_lock`` and ``SharedArray.write_lock`` when the process
or thread that held the lock died without releasing it. The caller holds
the lock when it sees the warning, but what the lock protects may be
half-updated: check or repair it before going on. To make it an error,
``warnings.simplefilter("error", ndshare.LockOwnerDied)``; the lock is
then still held, and the exception's ``lock`` attribute releases it.

Attributes
----------
lock : ArrayLock or None
    The lock, held by the caller; ``None`` in a copy that was pickled to
    another process (a worker's error sent to its parent).
previous_owner : int
    The thread id of the holder that died.

Examples
--------
>>> import subprocess, sys, warnings, ndshare
>>> a = ndshare.zeros(4, name="guarded")
>>> holder = "import ndshare, os; ndshare.attach('guarded').lock().acquire(); os._exit(0)"
>>> _ = subprocess.run([sys.executable, "-c", holder], check=True)
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     with a.lock():
...         pass  # check or repair what the lock protects here
>>> caught[0].category is ndshare.LockOwnerDied
True
>>> ndshare.unlink("guarded")
"#
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
pub(crate) fn duration(timeout: Option<f64>) -> PyResult<Option<Duration>> {
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
pub(crate) fn blocking<T: Send>(
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
#[pyclass(frozen, module = "ndshare._ndshare", name = "SegmentBarrier")]
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
    /// parties - 1). `threading.BrokenBarrierError` when the barrier is or
    /// gets broken, and after `timeout` seconds (which breaks it).
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<u32> {
        let timeout = duration(timeout)?;
        blocking(py, timeout, |wait| self.barrier()?.wait_with(wait))?.map_err(to_py)
    }

    /// Breaks the barrier: its waiters, and later waits until `reset`, get
    /// `threading.BrokenBarrierError`.
    fn abort(&self) -> PyResult<()> {
        self.barrier().map_err(to_py)?.abort();
        Ok(())
    }

    /// Empties the barrier and mends it; its waiters get
    /// `threading.BrokenBarrierError`.
    fn reset(&self) -> PyResult<()> {
        self.barrier().map_err(to_py)?.reset();
        Ok(())
    }

    #[getter]
    fn broken(&self) -> PyResult<bool> {
        Ok(self.barrier().map_err(to_py)?.is_broken())
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
#[pyclass(frozen, module = "ndshare._ndshare", name = "SegmentEvent")]
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
