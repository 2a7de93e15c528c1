//! The one error type of the core crate.

use std::io;

use crate::sys::{self, ErrorKind};

/// Everything that can go wrong in ndshare, by what a caller does about it.
///
/// Match on the variants. Where an OS call failed, the [`io::Error`] is
/// kept as the source.
///
/// The enum is exhaustive on purpose: a program that maps every variant to
/// something of its own (the Python bindings map each to an exception
/// class) is told by the compiler when a version adds one, instead of
/// sending it to a catch-all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No named array of that name exists. A name given with the file
    /// prefix (`ndshare.results`) gets a hint to drop it.
    #[error("{}", not_found_message(name))]
    NotFound {
        /// The name that was looked up.
        name: String,
    },
    /// A named array of that name exists already; it was not touched.
    #[error(
        "a shared array named {name:?} exists already: use it with \
         `ndshare.attach({name:?})`, or remove it with `ndshare rm {name}`"
    )]
    AlreadyExists {
        /// The name that was asked for.
        name: String,
    },
    /// The caller may not open or map the segment.
    #[error("permission denied: {what}")]
    PermissionDenied {
        /// What was refused.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The segment is not an ndshare segment, or its header contradicts itself
    /// or the segment's real size.
    #[error("corrupt segment: {0}")]
    Corrupt(String),
    /// The segment was written by a format version this build cannot read.
    #[error("segment format version {found_major}.{found_minor} is not supported (this build reads {supported}.x)")]
    VersionMismatch {
        /// Major version found in the header.
        found_major: u16,
        /// Minor version found in the header.
        found_minor: u16,
        /// The major version this build reads.
        supported: u16,
    },
    /// The element type asked for does not match the segment's dtype.
    #[error("type mismatch: the segment holds {found:?}, the caller asked for {expected:?}")]
    TypeMismatch {
        /// The dtype descriptor the caller expected.
        expected: String,
        /// The dtype descriptor in the segment.
        found: String,
    },
    /// Not enough memory (RAM, or the size of the shared-memory file system)
    /// to reserve the segment. Nothing was created.
    #[error("cannot reserve {} of shared memory: {hint}", crate::human::size(*.bytes))]
    OutOfMemory {
        /// Bytes asked for (header included).
        bytes: u64,
        /// How to fix it.
        hint: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A segment that another process holds cannot be reached through it
    /// (`/proc/<pid>/fd/<n>`): that process has exited, or no longer holds
    /// the segment. Nothing was mapped.
    #[error("cannot reach {what}: {reason}")]
    Unreachable {
        /// What was looked for, e.g. "descriptor 5 of process 1234".
        what: String,
        /// Why it cannot be reached.
        reason: String,
    },
    /// Shape, strides or sizes are not acceptable (too many dimensions, a
    /// size that overflows, strides that reach outside the data).
    #[error("invalid shape: {0}")]
    InvalidShape(String),
    /// A dtype that cannot be shared: a descriptor numpy would not read
    /// back, Python objects (`O`), a control character, a descriptor too
    /// long for the header, or an item size that contradicts the descriptor.
    #[error("invalid dtype: {0}")]
    InvalidDtype(String),
    /// A name that cannot be used for a named array.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A write was asked of memory this process mapped read-only: the data
    /// of an array attached with [`Access::ReadOnly`](crate::Access::ReadOnly),
    /// or the lock words of a header this process mapped read-only (as it
    /// does for an array attached read-only from a file it may not write).
    #[error(
        "read-only: this process mapped the array read-only (attached read-only, or from a \
         file it may not write, which maps the header read-only too: the lock words live there)"
    )]
    ReadOnly,
    /// A handle string or message is not one ndshare writes.
    #[error("invalid handle: {0}")]
    InvalidHandle(String),
    /// The operation is not available on this platform: every OS call of a
    /// system ndshare does not support yet fails with this.
    #[error("{what}: not supported on this platform: {source}")]
    Unsupported {
        /// What was being done.
        what: String,
        /// The OS error, of kind [`io::ErrorKind::Unsupported`].
        #[source]
        source: io::Error,
    },
    /// A wait ended at its deadline (for the `try_*` forms: the lock was busy).
    #[error("timed out")]
    Timeout,
    /// The ring is closed: no item can be put into it any more.
    #[error("the ring is closed: {reason}")]
    RingClosed {
        /// Why (closed by a process, or every producer has exited).
        reason: String,
    },
    /// A barrier wait that cannot complete, as Python's
    /// `threading.BrokenBarrierError`: a waiter timed out, or the barrier
    /// was aborted, or reset while this caller waited. Every waiter of the
    /// round gets it, and later waits too until the barrier is reset.
    #[error("barrier of {parties} parties: {why}")]
    BrokenBarrier {
        /// How many callers each round of the barrier waits for.
        parties: u32,
        /// What broke it, as far as this caller can tell.
        why: String,
    },
    /// A wait was abandoned because its caller asked to stop (a signal).
    #[error("interrupted")]
    Interrupted,
    /// The calling thread holds the lock it asks for: waiting would never end.
    #[error("deadlock: {0}")]
    Deadlock(&'static str),
    /// The calling thread releases a lock it does not hold.
    #[error("not held: {0}")]
    NotOwner(&'static str),
    /// An address that does not suit the operation (atomics need elements
    /// aligned to their size).
    #[error("misaligned: {0}")]
    Misaligned(String),
    /// An index outside the array.
    #[error("index out of bounds: {0}")]
    IndexOutOfBounds(String),
    /// Any other OS error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// The message of [`Error::NotFound`]: names are given without the prefix
/// of their files in the shared-memory directory, which `ls /dev/shm` shows.
fn not_found_message(name: &str) -> String {
    let prefix = crate::sys::FILE_PREFIX;
    match name.strip_prefix(prefix) {
        Some(meant) if !meant.is_empty() => format!(
            "no shared array named {name:?}; did you mean {meant:?}? \
             (names are given without the file prefix {prefix:?})"
        ),
        _ => format!("no shared array named {name:?} (see `ndshare list` for the named arrays)"),
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an OS error with what was being done: [`Error::Unsupported`]
    /// if the platform lacks the call (what the platform seam returns on a
    /// system ndshare does not support), else [`Error::Io`].
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        if sys::error_kind(&source) == ErrorKind::Unsupported {
            return Error::Unsupported {
                what: context.into(),
                source,
            };
        }
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The `errno` a C caller would see for this error: the OS error's own
    /// number if there is one, else the number of the same kind
    /// (`ENOENT` for [`Error::NotFound`], `EEXIST`, `EACCES` for a
    /// permission or [`Error::ReadOnly`], `EINTR`); `None` for errors that
    /// are not about the OS (a bad shape, a corrupt header, a timeout).
    #[must_use]
    pub fn errno(&self) -> Option<i32> {
        self.raw_os_error().or_else(|| match self {
            Error::NotFound { .. } | Error::Unreachable { .. } => {
                sys::errno_of(ErrorKind::NotFound)
            }
            Error::AlreadyExists { .. } => sys::errno_of(ErrorKind::AlreadyExists),
            Error::PermissionDenied { .. } | Error::ReadOnly => {
                sys::errno_of(ErrorKind::PermissionDenied)
            }
            Error::Interrupted => sys::errno_of(ErrorKind::Interrupted),
            _ => None,
        })
    }

    /// The OS error number behind this error, if any.
    #[must_use]
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::PermissionDenied { source, .. }
            | Error::OutOfMemory { source, .. }
            | Error::Unsupported { source, .. }
            | Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsupported_os_call_is_unsupported() {
        let e = Error::io("memfd_create", io::ErrorKind::Unsupported.into());
        assert!(matches!(&e, Error::Unsupported { what, .. } if what == "memfd_create"));
        assert!(matches!(
            Error::io("x", io::ErrorKind::Other.into()),
            Error::Io { .. }
        ));
    }

    #[test]
    fn a_name_with_the_file_prefix_gets_a_hint() {
        let e = Error::NotFound {
            name: "ndshare.results".into(),
        };
        assert_eq!(
            e.to_string(),
            "no shared array named \"ndshare.results\"; did you mean \"results\"? \
             (names are given without the file prefix \"ndshare.\")"
        );
        let plain = Error::NotFound { name: "a".into() };
        assert_eq!(
            plain.to_string(),
            "no shared array named \"a\" (see `ndshare list` for the named arrays)"
        );
    }

    #[test]
    fn errno_of_each_kind() {
        let errno = |kind| sys::errno_of(kind).unwrap();
        let not_found = Error::NotFound { name: "a".into() };
        assert_eq!(not_found.errno(), Some(errno(ErrorKind::NotFound)));
        assert_eq!(
            Error::ReadOnly.errno(),
            Some(errno(ErrorKind::PermissionDenied))
        );
        assert_eq!(
            Error::Interrupted.errno(),
            Some(errno(ErrorKind::Interrupted))
        );
        assert_eq!(Error::Timeout.errno(), None);
        let nospc = errno(ErrorKind::NoSpace);
        let io = io::Error::from_raw_os_error(nospc);
        assert_eq!(Error::io("x", io).errno(), Some(nospc));
    }
}
