//! Reading a segment's header from its file, with `pread`, without mapping it.

use crate::error::{Error, Result};
use crate::format::header::{self, Header};
use crate::sys::{self, FdRef, FileInfo};

/// Reads and checks the header of the segment behind `fd`, without mapping
/// it: with `pread`, so a file shorter than it claims is an error, not a
/// `SIGBUS`.
///
/// # Errors
/// [`Error::Corrupt`], [`Error::VersionMismatch`], [`Error::Io`].
///
/// # Panics
/// Never: the slices it converts are of checked length.
pub fn read_header(fd: FdRef<'_>) -> Result<(Header, FileInfo)> {
    let file = sys::file_info(fd).map_err(|e| Error::io("fstat", e))?;
    if !file.regular {
        return Err(Error::Corrupt(
            "not a regular file (a FIFO, socket or device)".into(),
        ));
    }
    if file.size == 0 {
        return Err(Error::Corrupt("the segment is empty".into()));
    }
    let first = read_prefix(fd, file.size.min(header::HEADER_ALIGN as u64) as usize)?;
    let want = if first.len() >= header::offset::SHAPE {
        let ndim = u32::from_le_bytes(first[header::offset::NDIM..][..4].try_into().expect("4"));
        let dlen = u32::from_le_bytes(
            first[header::offset::DTYPE_LEN..][..4]
                .try_into()
                .expect("4"),
        );
        header::header_len_for(
            (ndim as usize).min(header::MAX_NDIM),
            (dlen as usize).min(header::MAX_DTYPE_LEN),
        )
    } else {
        0
    };
    let bytes = if want > first.len() && file.size > first.len() as u64 {
        read_prefix(fd, file.size.min(want as u64) as usize)?
    } else {
        first
    };
    Ok((Header::decode(&bytes, file.size)?, file))
}

pub(crate) fn read_prefix(fd: FdRef<'_>, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let done = sys::read_at(fd, &mut buf, 0)
        .map_err(|e| Error::io("cannot read the segment header", e))?;
    buf.truncate(done);
    Ok(buf)
}
