//! Running short of a resource: which error it is, and how to fix it.
//!
//! Every shortage is reported when the array is made, with the limit that
//! was hit and the way to raise it; none is left to fault later.

use std::io;

use crate::error::{Error, Result};
use crate::sys::{self, ErrorKind};

/// Refuses at once a segment larger than the machine's RAM and swap
/// together. Reserving it could never succeed, and trying would first push
/// the machine into its out-of-memory killer, which picks a victim by its
/// size and may pick another program: the pages of an unmapped memfd count
/// against no process.
///
/// # Errors
/// [`Error::OutOfMemory`].
pub(crate) fn check_fits_in_memory(bytes: u64) -> Result<()> {
    let total = sys::memory_total();
    if total > 0 && bytes > total {
        return Err(Error::OutOfMemory {
            bytes,
            hint: format!(
                "the machine has {} of RAM and swap in all",
                crate::human::size(total)
            ),
            source: sys::out_of_memory(),
        });
    }
    Ok(())
}

/// The error for a failed `mmap` of `bytes` bytes; errors other than a
/// shortage go through [`classify`] with `what`.
pub(crate) fn map_failed(e: io::Error, bytes: u64, what: &str) -> Error {
    if sys::error_kind(&e) == ErrorKind::OutOfMemory {
        let hint = match sys::address_space_limit() {
            Some(limit) => format!(
                "this process's address space is limited to {} (RLIMIT_AS); \
                 raise it (`ulimit -v`), or map fewer or smaller arrays at once",
                crate::human::size(limit)
            ),
            None => "this process's address space (or the kernel's mapping count, \
                     vm.max_map_count) is exhausted"
                .to_owned(),
        };
        return Error::OutOfMemory {
            bytes,
            hint,
            source: e,
        };
    }
    classify(e, what, None)
}

/// The error for a failed open or `memfd_create`, saying what to do when the
/// descriptors ran out; other errors go through [`classify`].
pub(crate) fn open_failed(e: io::Error, what: &str, name: Option<&str>) -> Error {
    match sys::error_kind(&e) {
        ErrorKind::TooManyOpenFiles => {
            let limit = sys::open_files_hard_limit()
                .map_or_else(|| "unlimited".to_owned(), |m| m.to_string());
            Error::io(
                format!(
                    "{what}: this process has no file descriptor left (hard RLIMIT_NOFILE is \
                     {limit}). Every live anonymous array holds one; raise the limit \
                     (`ulimit -n`, `LimitNOFILE=`, `docker run --ulimit nofile=...`) or drop \
                     arrays no longer needed"
                ),
                e,
            )
        }
        ErrorKind::FileTableFull => Error::io(
            format!("{what}: the system's file table is full (fs.file-max)"),
            e,
        ),
        _ => classify(e, what, name),
    }
}

/// Maps an OS error to the variant a caller acts on.
pub(crate) fn classify(err: io::Error, what: &str, name: Option<&str>) -> Error {
    match (sys::error_kind(&err), name) {
        (ErrorKind::NotFound, Some(n)) => Error::NotFound { name: n.to_owned() },
        (ErrorKind::AlreadyExists, Some(n)) => Error::AlreadyExists { name: n.to_owned() },
        (ErrorKind::PermissionDenied, _) => Error::PermissionDenied {
            what: what.to_owned(),
            source: err,
        },
        _ => Error::io(what, err),
    }
}
