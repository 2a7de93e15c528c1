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
    "A segment is not a valid ndshare segment: bad magic, unsupported version, or a header that contradicts itself or the segment's size."
);
create_exception!(
    ndshare,
    UnreachableError,
    PyFileNotFoundError,
    "A shared array sent by reference cannot be reached from this process: the process that held it has exited or dropped it, or runs elsewhere."
);

create_exception!(
    ndshare,
    RingClosed,
    PyEOFError,
    "The stream of a ring has ended: it was closed (or every producer has exited) and \
     everything in it was delivered; or an item was put into a closed ring. `reason` says which."
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
