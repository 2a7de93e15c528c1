//! The named arrays of this machine.

use std::path::Path;

use crate::error::{Error, Result};
use crate::format::file::{read_header, read_prefix};
use crate::format::header::{Header, KIND_RING};
use crate::format::ring::{RingReport, REPORT_PREFIX};
use crate::limits::classify;
use crate::named::attachers::{self, Snapshot};
use crate::named::name::{self, check_named};
use crate::named::status::{self, Status};
use crate::sys::{self, Fd, FdRef, FileInfo};

/// One file in the shared-memory directory that bears an ndshare name.
#[derive(Debug)]
pub struct Entry {
    /// The array's name.
    pub name: String,
    /// Its header, or why it could not be read (e.g. no permission, corrupt).
    pub header: Result<(Header, FileInfo)>,
    /// Its attacher table, when the header could be read.
    pub attachers: Option<Snapshot>,
    /// What its control block says, when it is a ring whose control block
    /// could be read.
    pub ring: Option<RingReport>,
}

impl Entry {
    /// What the array's lifetime bookkeeping says: in use, kept, or stale;
    /// or unusable, if [`Segment::attach`](crate::Segment::attach) would
    /// refuse the file.
    #[must_use]
    pub fn status(&self) -> Status {
        if let Some(refused) = self.refusal() {
            return Status::Unusable(refused);
        }
        match (&self.header, &self.attachers) {
            (Ok((h, f)), Some(s)) => status::status(h, f, s),
            (Err(e), _) => Status::Unverifiable(e.to_string()),
            (Ok(_), None) => Status::Unverifiable("its attacher table could not be read".into()),
        }
    }

    /// Why attaching the file would fail whoever tried it (the error's
    /// message): it is not a
    /// valid named segment. `None` if it is, or if it could not be read (a
    /// permission, an I/O error: that says nothing of the file).
    #[must_use]
    pub fn refusal(&self) -> Option<String> {
        match &self.header {
            Err(e) if says_file_is_bad(e) => Some(e.to_string()),
            Err(_) => None,
            Ok((h, _)) => check_named(&self.name, h).err().map(|e| e.to_string()),
        }
    }

    /// The entry, or the error that kept its header from being read if that
    /// says nothing of the file (a permission, an I/O error): what a report
    /// on one array shows ([`Entry::refusal`] tells an unusable file).
    ///
    /// # Errors
    /// That error.
    pub fn or_unreadable(self) -> Result<Entry> {
        match self.header {
            Err(e) if !says_file_is_bad(&e) => Err(e),
            _ => Ok(self),
        }
    }

    /// The entry of the file open as `fd`, named `name`.
    pub(crate) fn of_fd(name: &str, fd: FdRef<'_>) -> Entry {
        let header = read_header(fd);
        let attachers = match header {
            Ok(_) => attachers::read(fd).ok(),
            Err(_) => None,
        };
        let ring = match &header {
            Ok((h, _)) if h.kind == KIND_RING => read_ring(fd, h),
            _ => None,
        };
        Entry {
            name: name.to_owned(),
            header,
            attachers,
            ring,
        }
    }
}

/// Whether an error reading a header is one of the file itself, which any
/// reader would meet.
fn says_file_is_bad(e: &Error) -> bool {
    matches!(e, Error::Corrupt(_) | Error::VersionMismatch { .. })
}

/// Opens the file of a named array for reading its header.
pub(crate) fn open(name: &str, path: &Path) -> Result<Fd> {
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
                Ok(fd) => Some(Entry::of_fd(n, fd.borrow())),
                Err(Error::NotFound { .. }) => None,
                Err(e) => Some(Entry {
                    name: n.to_owned(),
                    header: Err(e),
                    attachers: None,
                    ring: None,
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
    Ok(Entry::of_fd(name, fd.borrow()))
}

/// The counters of the ring whose header is `h`, read from its file.
fn read_ring(fd: FdRef<'_>, h: &Header) -> Option<RingReport> {
    let start = usize::try_from(h.header_len).ok()?;
    let data_len = usize::try_from(h.data_len).ok()?;
    let bytes = read_prefix(fd, start.checked_add(data_len.min(REPORT_PREFIX))?).ok()?;
    RingReport::parse(bytes.get(start..)?)
}
