//! An anonymous segment must not be able to shrink under its mappings.
//!
//! ndshare seals every memfd it makes with `F_SEAL_SHRINK | F_SEAL_GROW |
//! F_SEAL_SEAL` before anyone else can reach it (see
//! [`crate::sys::seal_size`]). A descriptor that arrives from elsewhere —
//! another implementation of the format, or a hostile process — may not be:
//! whoever else holds it could then truncate it and turn this process's next
//! access into a `SIGBUS`. Such a segment is sealed here, before it is
//! mapped, or refused.
//!
//! An anonymous segment on huge pages is a tmpfs file made with
//! `O_TMPFILE` (see `segment::backing`), which cannot be sealed either; such
//! a file, on a tmpfs, is accepted unsealed and its mappings guarded as
//! named arrays' are.
//!
//! Named files cannot be sealed at all (tmpfs files opened by name carry
//! `F_SEAL_SEAL`); their mappings are guarded instead, by
//! [`crate::sys::sigbus`]. docs/security.md has the whole picture.

use crate::error::{Error, Result};
use crate::format::header::Header;
use crate::sys::{self, huge::FsKind, FdRef};

/// Makes sure the anonymous segment behind `fd` cannot shrink: it is sealed
/// already, or it is sealed now and still has the size its header gives.
///
/// # Errors
/// [`Error::Corrupt`] if it is not sealed and cannot be (a read-only
/// descriptor, or a memfd made without `MFD_ALLOW_SEALING`), or if its size
/// changed before the seal took hold.
pub(crate) fn check(fd: FdRef<'_>, header: &Header) -> Result<()> {
    if header.is_named() || sys::size_is_sealed(fd) {
        return Ok(());
    }
    if let Err(e) = sys::seal_size(fd) {
        // Only memfds can be sealed: an anonymous file on huge pages is a
        // tmpfs file, guarded by `sys::sigbus` instead. (A hugetlbfs file is
        // not: the guard replaces small pages, which a hugetlb mapping
        // cannot hold.)
        return match sys::huge::fs_kind(fd) {
            Ok(FsKind::Tmpfs) => Ok(()),
            _ => Err(not_sealable(&e)),
        };
    }
    let size = sys::file_info(fd).map_err(|e| Error::io("fstat", e))?.size;
    if size != header.segment_len() {
        return Err(Error::Corrupt(format!(
            "the segment changed size while it was being opened ({} bytes, now {size})",
            header.segment_len()
        )));
    }
    Ok(())
}

fn not_sealable(e: &std::io::Error) -> Error {
    Error::Corrupt(format!(
        "an anonymous segment must be sealed against shrinking (F_SEAL_SHRINK); this one is not, \
         and it cannot be sealed through this descriptor ({e})"
    ))
}
