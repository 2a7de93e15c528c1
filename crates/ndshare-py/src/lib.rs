//! Python bindings: convert arguments, call the core crate, map errors to
//! the Python exceptions a user catches. No policy lives here.
//!
//! One file per part of the module: [`errors`] (the exception classes and
//! the mapping of every core error), [`segment`] (`Segment`, the numpy base
//! of every array), [`registry`] (the named arrays), [`sync`], [`atomic`],
//! [`ring`], [`fdserver`] and [`cli`]. The module below lists what each
//! exports.

mod atomic;
mod cli;
mod errors;
mod fdserver;
mod registry;
mod ring;
mod segment;
mod sync;

// What the other files reach through the crate root.
use errors::to_py;
use segment::PySegment;

#[pyo3::pymodule]
mod _ndshare {

    #[pymodule_export]
    use crate::errors::{FormatError, RingClosed, UnreachableError};

    #[pymodule_export]
    use crate::segment::PySegment;

    #[pymodule_export]
    use crate::registry::{info, list_named, unlink};

    #[pymodule_export]
    use crate::sync::{LockOwnerDied, PyArrayLock, PyBarrier, PyEvent};

    #[pymodule_export]
    use crate::atomic::{atomic_many, atomic_one, atomic_ops};

    #[pymodule_export]
    use crate::fdserver::{fd_fetch, fd_offer, fd_wait_until_taken};

    #[pymodule_export]
    use crate::ring::{check_array, PyRing};

    #[pymodule_export]
    use crate::cli::cli_main;

    /// Where named arrays live.
    #[pymodule_export]
    const SHM_DIR: &str = ndshare::named::SHM_DIR;

    /// The major version of the segment format this build reads and writes.
    #[pymodule_export]
    const FORMAT_VERSION: u16 = ndshare::format::VERSION_MAJOR;
}
