//! Bindings of the descriptor server (`ndshare::transport::fdserver`), used by
//! `ndshare._fdserver` for multiprocessing hand-offs.

use std::os::fd::{BorrowedFd, IntoRawFd, RawFd};
use std::time::Duration;

use ndshare::transport::fdserver::{self, Key, KEY_LEN};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::to_py;

/// Offers a duplicate of `fd` to one receiver; returns the server's address
/// and the key.
#[pyfunction]
pub(crate) fn fd_offer(py: Python<'_>, fd: RawFd) -> PyResult<(Py<PyBytes>, Py<PyBytes>)> {
    // SAFETY: the descriptor is only duplicated through this borrow; an
    // invalid number makes dup fail with EBADF, which is reported.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let (address, key) = fdserver::offer(borrowed).map_err(to_py)?;
    Ok((
        PyBytes::new(py, &address).unbind(),
        PyBytes::new(py, &key).unbind(),
    ))
}

/// Takes an offered descriptor; the caller owns the returned number.
#[pyfunction]
pub(crate) fn fd_fetch(py: Python<'_>, address: &[u8], key: &[u8]) -> PyResult<RawFd> {
    let key: Key = key.try_into().map_err(|_| {
        PyValueError::new_err(format!("a key is {KEY_LEN} bytes, not {}", key.len()))
    })?;
    let address = address.to_vec();
    py.detach(|| fdserver::fetch(&address, &key))
        .map(IntoRawFd::into_raw_fd)
        .map_err(to_py)
}

/// Waits, at most `timeout` seconds, until every offer of this process was
/// taken; returns whether none is left.
#[pyfunction]
pub(crate) fn fd_wait_until_taken(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let timeout = Duration::try_from_secs_f64(timeout.max(0.0))
        .map_err(|e| PyValueError::new_err(format!("bad timeout {timeout}: {e}")))?;
    Ok(py.detach(|| fdserver::wait_until_taken(timeout)))
}
