//! The exceptions of ndshare and [`to_py`]: every core [`Error`] as the
//! Python exception a user catches.

use ndshare::Error;
use pyo3::create_exception;
use pyo3::exceptions::{
    PyEOFError, PyFileExistsError, PyFileNotFoundError, PyIndexError, PyInterruptedError,
    PyMemoryError, PyNotImplementedError, PyOSError, PyPermissionError, PyRuntimeError,
    PyTimeoutError, PyTypeError, PyValueError,
};
use pyo3::types::PyAnyMethods;
use pyo3::{PyErr, Python};

// What `threading.Barrier` raises: code written for threads catches it
// from an ndshare barrier too.
pyo3::import_exception!(threading, BrokenBarrierError);

// The module is `ndshare` (where the package re-exports them), so that
// pickle finds the classes by name: an exception raised in a worker process
// crosses back to its parent (multiprocessing, joblib, Dask) as itself.
create_exception!(
    ndshare,
    FormatError,
    PyValueError,
    r#"A file or descriptor is not a segment ndshare can read.

Raised by ``ndshare.attach``, ``ndshare.attach_ring``, ``ndshare.info`` and
by unpickling a reference when the segment's header is not an ndshare
header (wrong magic), has a format version this build does not know, or
contradicts itself or the segment's size (a truncated file). It is a
``ValueError``: something is there, but not an array ndshare can map.

``ndshare list`` shows such a file as ``unusable`` with the reason, and
``ndshare rm NAME`` removes it; ``ndshare gc`` keeps it, so that nothing is
deleted that ndshare cannot explain.

Examples
--------
>>> import ndshare
>>> with open("/dev/shm/ndshare.not-an-array", "wb") as f:
...     _ = f.write(b"garbage")
>>> ndshare.attach("not-an-array")
Traceback (most recent call last):
    ...
ndshare.FormatError: corrupt segment: 7 bytes is too short for a header
>>> ndshare.unlink("not-an-array")
"#
);
create_exception!(
    ndshare,
    UnreachableError,
    PyFileNotFoundError,
    r#"A shared array sent by reference cannot be reached from this process.

A reference (what multiprocessing, joblib, Dask or ``ndshare.by_reference``
send instead of the data) names the array and the process that sent it.
The receiver maps the array by its name, or else fetches the sender's
descriptor. This is raised when neither works: the name was unlinked or now
names another array, and the sender has exited, has dropped the array (a
sent array is kept ``NDSHARE_KEEP_SECONDS`` for its receivers), or runs
where this process cannot see it (another PID namespace or machine). It is
a ``FileNotFoundError``; the message says what was tried.

To keep data beyond the life of its sender, store the data (``pickle.dump``
outside ``ndshare.by_reference`` does), or give the array a name and do not
unlink it.

Examples
--------
A reference from a process that has exited, to a name it unlinked:

>>> import pickle, subprocess, sys, ndshare
>>> sender = (
...     "import ndshare, pickle, sys\n"
...     "a = ndshare.zeros(3, name='short-lived')\n"
...     "with ndshare.by_reference():\n"
...     "    sys.stdout.buffer.write(pickle.dumps(a))\n"
...     "ndshare.unlink('short-lived')\n"
... )
>>> ref = subprocess.run([sys.executable, "-c", sender], capture_output=True, check=True).stdout
>>> pickle.loads(ref)
Traceback (most recent call last):
    ...
ndshare.UnreachableError: cannot reach the shared array 'short-lived' (float64, shape (3,)) sent by process ...
"#
);

create_exception!(
    ndshare,
    RingClosed,
    PyEOFError,
    r#"The stream of a ring has ended, or an item was put into a closed ring.

A consumer gets it from ``Ring.get`` once the ring is closed (by
``Ring.close``, or because every process that put items has exited
without closing it) and everything in it has been delivered; ``for item in
ring`` then simply stops. A producer gets it from ``Ring.put`` on a closed
ring. It is an ``EOFError``.

Attributes
----------
reason : str
    Why, in words: the ring was closed, or every producer exited.

Examples
--------
>>> import ndshare
>>> ring = ndshare.Ring((2,), "f4", capacity=4)
>>> ring.put([1.0, 2.0])
>>> ring.close()
>>> [item.tolist() for item in ring]
[[1.0, 2.0]]
>>> try:
...     ring.get()
... except ndshare.RingClosed as e:
...     print(e.reason)
the ring was closed
"#
);

/// [`RingClosed`] with its `reason` attribute.
fn ring_closed(reason: String) -> PyErr {
    Python::attach(|py| {
        let err = RingClosed::new_err(reason.clone());
        let _ = err.value(py).setattr("reason", reason);
        err
    })
}

/// An `OSError` subclass with the error's errno, as Python's own I/O raises
/// them (`e.errno`, `e.strerror`).
fn os_error<T: pyo3::PyTypeInfo>(err: &Error, msg: String) -> PyErr {
    match err.errno() {
        Some(errno) => PyErr::new::<T, _>((errno, msg)),
        None => PyErr::new::<T, _>(msg),
    }
}

/// Maps a core error to the Python exception a caller would catch.
#[allow(clippy::needless_pass_by_value)] // used as `map_err(to_py)`
pub(crate) fn to_py(err: Error) -> PyErr {
    let msg = err.to_string();
    match err {
        Error::NotFound { .. } => os_error::<PyFileNotFoundError>(&err, msg),
        Error::AlreadyExists { .. } => os_error::<PyFileExistsError>(&err, msg),
        Error::PermissionDenied { .. } | Error::ReadOnly => {
            os_error::<PyPermissionError>(&err, msg)
        }
        Error::Interrupted => os_error::<PyInterruptedError>(&err, msg),
        Error::Io { .. } => os_error::<PyOSError>(&err, msg),
        Error::Corrupt(_) | Error::VersionMismatch { .. } => FormatError::new_err(msg),
        Error::Unreachable { .. } => UnreachableError::new_err(msg),
        // A dtype that cannot be shared is refused as numpy refuses a type
        // it cannot use: TypeError, as for Python objects.
        Error::TypeMismatch { .. } | Error::Misaligned(_) | Error::InvalidDtype(_) => {
            PyTypeError::new_err(msg)
        }
        Error::InvalidShape(_) | Error::InvalidName { .. } | Error::InvalidHandle(_) => {
            PyValueError::new_err(msg)
        }
        Error::OutOfMemory { .. } => PyMemoryError::new_err(msg),
        Error::Unsupported { .. } => PyNotImplementedError::new_err(msg),
        Error::Timeout => PyTimeoutError::new_err(msg),
        Error::BrokenBarrier { .. } => BrokenBarrierError::new_err(msg),
        Error::RingClosed { reason } => ring_closed(reason),
        Error::Deadlock(_) | Error::NotOwner(_) => PyRuntimeError::new_err(msg),
        Error::IndexOutOfBounds(_) => PyIndexError::new_err(msg),
    }
}
