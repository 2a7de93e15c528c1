//! The named arrays of this machine.

use crate::error::Result;
use crate::header::Header;
use crate::name;
use crate::segment::read_header;
use crate::sys::{self, FileInfo};

/// One file in the shared-memory directory that bears an ndshare name.
#[derive(Debug)]
pub struct Entry {
    /// The array's name.
    pub name: String,
    /// Its header, or why it could not be read (e.g. no permission, corrupt).
    pub header: Result<(Header, FileInfo)>,
}

/// Every named array, sorted by name. Headers are read with `pread`, nothing
/// is mapped.
///
/// # Errors
/// Only if the shared-memory directory cannot be listed.
pub fn list() -> Result<Vec<Entry>> {
    let paths = sys::list_shm_dir()
        .map_err(|e| crate::Error::io(format!("cannot list {}", sys::SHM_DIR), e))?;
    let mut out: Vec<Entry> = paths
        .iter()
        .filter_map(|p| {
            let file_name = p.file_name()?.to_str()?;
            let n = name::name_of_file(file_name)?;
            let header = sys::open_named(p, false)
                .map_err(|e| crate::segment::classify(e, &format!("cannot open {n:?}"), Some(n)))
                .and_then(|fd| read_header(std::os::fd::AsFd::as_fd(&fd)));
            Some(Entry {
                name: n.to_owned(),
                header,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
