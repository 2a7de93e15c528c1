//! The named arrays of this machine.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::file::read_header;
use crate::format::header::Header;
use crate::limits::classify;
use crate::named::attachers::{self, Snapshot};
use crate::named::name;
use crate::named::status::{self, Status};
use crate::sys::{self, FileInfo};

/// One file in the shared-memory directory that bears an ndshare name.
#[derive(Debug)]
pub struct Entry {
    /// The array's name.
    pub name: String,
    /// Its header, or why it could not be read (e.g. no permission, corrupt).
    pub header: Result<(Header, FileInfo)>,
    /// Its attacher table, when the header could be read.
    pub attachers: Option<Snapshot>,
}

impl Entry {
    /// What the array's lifetime bookkeeping says: in use, kept, or stale.
    #[must_use]
    pub fn status(&self) -> Status {
        match (&self.header, &self.attachers) {
            (Ok((h, f)), Some(s)) => status::status(h, f, s),
            (Err(e), _) => Status::Unverifiable(e.to_string()),
            (Ok(_), None) => Status::Unverifiable("its attacher table could not be read".into()),
        }
    }

    /// The entry of the file open as `fd`, named `name`.
    pub(crate) fn of_fd(name: &str, fd: BorrowedFd<'_>) -> Entry {
        let header = read_header(fd);
        let attachers = match header {
            Ok(_) => attachers::read(fd).ok(),
            Err(_) => None,
        };
        Entry {
            name: name.to_owned(),
            header,
            attachers,
        }
    }
}

/// Opens the file of a named array for reading its header.
pub(crate) fn open(name: &str, path: &Path) -> Result<std::os::fd::OwnedFd> {
    sys::open_named(path, false)
        .map_err(|e| classify(e, &format!("cannot open {name:?}"), Some(name)))
}

/// Every named array, sorted by name. Headers and attacher tables are read
/// with `pread`, nothing is mapped. A file removed while the directory is
/// read is left out.
///
/// # Errors
/// Only if the shared-memory directory cannot be listed.
pub fn list() -> Result<Vec<Entry>> {
    let paths =
        sys::list_shm_dir().map_err(|e| Error::io(format!("cannot list {}", sys::SHM_DIR), e))?;
    let mut out: Vec<Entry> = paths
        .iter()
        .filter_map(|p| {
            let file_name = p.file_name()?.to_str()?;
            let n = name::name_of_file(file_name)?;
            match open(n, p) {
                Ok(fd) => Some(Entry::of_fd(n, fd.as_fd())),
                Err(Error::NotFound { .. }) => None,
                Err(e) => Some(Entry {
                    name: n.to_owned(),
                    header: Err(e),
                    attachers: None,
                }),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The named array `name`: its header and attacher table, read without
/// mapping it.
///
/// # Errors
/// [`Error::InvalidName`], [`Error::NotFound`], or why the file cannot be
/// opened ([`Error::PermissionDenied`]). A header that cannot be parsed is
/// reported inside the [`Entry`].
pub fn inspect(name: &str) -> Result<Entry> {
    let path = name::path_for(name)?;
    let fd = open(name, &path)?;
    Ok(Entry::of_fd(name, fd.as_fd()))
}
