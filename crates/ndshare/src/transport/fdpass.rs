//! Passing a segment's descriptor to another process over a Unix socket.
//!
//! The message is [`MAGIC`] with one descriptor attached (`SCM_RIGHTS`).
//! The receiver gets its own descriptor of the same memory: the memory stays
//! reachable even if the sender drops the array or exits at once, which a
//! `/proc/<pid>/fd` path cannot offer. This is how Rust processes share
//! anonymous arrays. Python's multiprocessing route passes descriptors too:
//! through the descriptor server ([`crate::transport::fdserver`]), or with
//! `multiprocessing.reduction.DupFd` to a process being started.

use crate::error::{Error, Result};
use crate::segment::{Access, Segment};
use crate::sys::{self, FdRef};

/// The bytes that carry the descriptor: "ndshare", then the message version.
pub const MAGIC: [u8; 8] = *b"ndshare\x01";

/// Sends `seg`'s descriptor over the Unix socket `sock`.
///
/// # Errors
/// [`Error::Io`] if the socket refuses it (e.g. not a Unix socket, peer gone).
pub fn send(sock: FdRef<'_>, seg: &Segment) -> Result<()> {
    sys::send_with_fd(sock, &MAGIC, seg.fd_ref())
        .map_err(|e| Error::io("cannot send the array's descriptor", e))
}

/// Receives a descriptor sent by [`send`] and maps its segment.
///
/// # Errors
/// [`Error::InvalidHandle`] if the message is not [`MAGIC`] or carries no
/// descriptor; [`Error::Io`] for socket errors; the errors of
/// [`Segment::from_fd`] (the segment is checked like any other).
pub fn recv(sock: FdRef<'_>, access: Access) -> Result<Segment> {
    let mut buf = [0u8; MAGIC.len()];
    let fd = sys::recv_with_fd(sock, &mut buf)
        .map_err(|e| Error::io("cannot receive an array's descriptor", e))?;
    if buf != MAGIC {
        return Err(Error::InvalidHandle(format!(
            "the socket sent \"{}\", not an ndshare array message",
            buf.escape_ascii()
        )));
    }
    let fd = fd.ok_or_else(|| Error::InvalidHandle("the message carried no descriptor".into()))?;
    Segment::from_owned(fd, access)
}
