//! The platform's own descriptor types in the public API: every method that
//! takes or gives an `OwnedFd`, a `BorrowedFd` or an `impl AsFd`, in one
//! place.
//!
//! The core speaks of descriptors in the platform seam's terms (the private
//! `sys::Fd` and `sys::FdRef`) and names no type of one system anywhere
//! else outside the seam. These methods are the exception, and on purpose:
//! a Rust program on Unix holds its sockets and files as the standard
//! library's I/O-safe descriptor types, and ndshare offers it those very
//! types rather than a look-alike of its own. They exist where the platform
//! has them (`cfg(unix)`); each converts at the boundary and delegates to
//! the core. With the backend for unsupported systems every one of them
//! returns [`Error::Unsupported`](crate::Error::Unsupported).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::array::raw::RawArray;
use crate::array::typed::SharedArray;
use crate::error::Result;
use crate::format::dtype::Element;
use crate::ring::raw::RawRing;
use crate::segment::{Access, Segment};
use crate::sys::FdRef;
use crate::transport::{fdpass, fdserver};

impl Segment {
    /// Maps the segment behind a descriptor that the caller keeps (and
    /// closes): the segment holds a duplicate of it.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if the descriptor cannot be
    /// duplicated (e.g. it is not open); the errors of [`Segment::from_fd`].
    pub fn from_borrowed_fd(fd: BorrowedFd<'_>, access: Access) -> Result<Segment> {
        Segment::from_fd_ref(fd.into(), access)
    }

    /// Maps the segment behind an open descriptor, taking ownership of it.
    ///
    /// # Errors
    /// [`Error::Corrupt`](crate::Error::Corrupt) or
    /// [`Error::VersionMismatch`](crate::Error::VersionMismatch) if the file
    /// is not a valid segment;
    /// [`Error::PermissionDenied`](crate::Error::PermissionDenied) if the
    /// descriptor does not allow `access`.
    pub fn from_fd(fd: OwnedFd, access: Access) -> Result<Segment> {
        Segment::from_owned(fd.into(), access)
    }

    /// The descriptor: hand it to another process (`SCM_RIGHTS`, or fork) to
    /// share the segment.
    #[must_use]
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd_ref().into()
    }
}

impl RawArray {
    /// Receives an array that [`RawArray::send`] (or
    /// [`SharedArray::send`]) sent over a Unix socket, descriptor and all.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`](crate::Error::InvalidHandle) if the message
    /// is not one ndshare sends or carries no descriptor;
    /// [`Error::TypeMismatch`](crate::Error::TypeMismatch) if it is a ring;
    /// [`Error::Io`](crate::Error::Io) for socket errors; the errors of
    /// [`Segment::from_fd`].
    ///
    /// # Example
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use ndshare::{Access, Builder, RawArray};
    /// let (tx, rx) = UnixStream::pair()?;
    /// let sent = Builder::new().raw_zeros("|b1", 1, &[16])?;
    /// sent.send(&tx)?;
    /// let got = RawArray::recv(&rx, Access::ReadWrite)?;
    /// assert_eq!(got.file_id(), sent.file_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(sock: impl AsFd, access: Access) -> Result<RawArray> {
        fdpass::recv(FdRef::from(sock.as_fd()), access).and_then(RawArray::from_array_segment)
    }

    /// Sends this array over a Unix socket (`SCM_RIGHTS`): the receiver maps
    /// the same memory with [`RawArray::recv`], even if this process drops the
    /// array or exits right after. Works for anonymous arrays, which have no
    /// name to send.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) for socket errors.
    pub fn send(&self, sock: impl AsFd) -> Result<()> {
        fdpass::send(FdRef::from(sock.as_fd()), self.segment())
    }
}

impl<T: Element> SharedArray<T> {
    /// Receives an array sent with [`SharedArray::send`] over a Unix socket.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`](crate::Error::TypeMismatch) if it does not
    /// hold `T`; the errors of [`RawArray::recv`].
    ///
    /// # Example
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use ndshare::{Access, Order, SharedArray};
    /// let (tx, rx) = UnixStream::pair()?;
    /// let a = SharedArray::from_slice(&[1.0f32, 2.0], &[2], Order::C)?;
    /// a.send(&tx)?;
    /// drop(a); // the memory travels with the descriptor
    /// let b = SharedArray::<f32>::recv(&rx, Access::ReadWrite)?;
    /// assert_eq!(b.as_slice(), &[1.0, 2.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(sock: impl AsFd, access: Access) -> Result<SharedArray<T>> {
        RawArray::recv(sock, access)?.typed()
    }

    /// Sends the array, descriptor and all, over a Unix socket; the peer
    /// calls [`SharedArray::recv`] (or [`RawArray::recv`]).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) for socket errors.
    pub fn send(&self, sock: impl AsFd) -> Result<()> {
        self.as_raw().send(sock)
    }
}

impl RawRing {
    /// Receives a ring sent with [`RawRing::send`].
    ///
    /// # Errors
    /// The errors of [`RawArray::recv`] and [`RawRing::from_segment`].
    pub fn recv(sock: impl AsFd) -> Result<RawRing> {
        RawRing::from_segment(fdpass::recv(FdRef::from(sock.as_fd()), Access::ReadWrite)?)
    }

    /// Sends the ring over a Unix socket, descriptor and all.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) for socket errors.
    pub fn send(&self, sock: impl AsFd) -> Result<()> {
        fdpass::send(FdRef::from(sock.as_fd()), self.segment())
    }
}

/// Offers a duplicate of `fd` to one receiver, starting this process's
/// descriptor server at the first offer. Returns the server's address and
/// the key. Re-exported as [`fdserver::offer`].
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) if the descriptor cannot be duplicated or
/// the server cannot start.
pub fn offer(fd: BorrowedFd<'_>) -> Result<(Vec<u8>, fdserver::Key)> {
    fdserver::offer_fd(fd.into())
}

/// Takes the descriptor offered at `address` under `key`. Re-exported as
/// [`fdserver::fetch`].
///
/// # Errors
/// [`Error::InvalidHandle`](crate::Error::InvalidHandle) if `address` is not
/// an abstract socket address; [`Error::Io`](crate::Error::Io) if the server
/// cannot be reached (the sender is gone) or refuses (the offer was taken
/// already, or never made).
pub fn fetch(address: &[u8], key: &fdserver::Key) -> Result<OwnedFd> {
    fdserver::fetch_fd(address, key).map(OwnedFd::from)
}
