//! The seam's descriptor types: [`Fd`], an open file this process owns, and
//! [`FdRef`], one borrowed for a lifetime.
//!
//! The rest of the core names only these, never the platform's own types, so
//! that a port changes this file and its backend and nothing else. On Unix
//! (Linux, and the unsupported backend built there) they hold the standard
//! library's `OwnedFd` and `BorrowedFd`, which give the same guarantees
//! ("I/O safety": an owned descriptor is closed exactly once, a borrowed one
//! stays open while borrowed); a system without them gives the two types a
//! representation of its own here.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// An open file (a segment, a socket) that this process owns: closed when
/// dropped.
pub struct Fd(OwnedFd);

/// An open file borrowed for `'a`: it stays open at least that long.
#[derive(Clone, Copy)]
pub struct FdRef<'a>(BorrowedFd<'a>);

impl Fd {
    /// Borrows the descriptor.
    #[must_use]
    pub fn borrow(&self) -> FdRef<'_> {
        FdRef(self.0.as_fd())
    }
}

impl FdRef<'_> {
    /// The descriptor's number in this process: what `/proc/<pid>/fd/<n>`
    /// and a [`Handle`](crate::Handle) name.
    #[must_use]
    pub fn number(self) -> i32 {
        self.0.as_raw_fd()
    }

    /// Borrows descriptor number `n` of this process.
    ///
    /// # Safety
    /// `n` must be the number of an open descriptor ([`FdRef::number`] of an
    /// [`Fd`]) that stays open for `'a`.
    #[must_use]
    pub unsafe fn from_number<'a>(n: i32) -> FdRef<'a> {
        // SAFETY: the caller vouches that `n` stays open for `'a`.
        FdRef(unsafe { BorrowedFd::borrow_raw(n) })
    }
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fd({})", self.0.as_raw_fd())
    }
}

impl fmt::Debug for FdRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FdRef({})", self.0.as_raw_fd())
    }
}

// The backend hands these to `rustix` as they are.

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsFd for FdRef<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0
    }
}

// Conversions with the platform's own types: for the backend, and for the
// public API that offers those types to Rust programs (`os_fd.rs`).

impl From<OwnedFd> for Fd {
    fn from(fd: OwnedFd) -> Fd {
        Fd(fd)
    }
}

impl From<Fd> for OwnedFd {
    fn from(fd: Fd) -> OwnedFd {
        fd.0
    }
}

impl<'a> From<BorrowedFd<'a>> for FdRef<'a> {
    fn from(fd: BorrowedFd<'a>) -> FdRef<'a> {
        FdRef(fd)
    }
}

impl<'a> From<FdRef<'a>> for BorrowedFd<'a> {
    fn from(fd: FdRef<'a>) -> BorrowedFd<'a> {
        fd.0
    }
}
