//! [`ArrayReport`]: everything ndshare can say about one array, as data.
//!
//! `ndshare info` and `ndshare list` print it for people (or as JSON), and
//! Python's `ndshare.info()`, `ndshare.list()` and `SharedArray.info()`
//! return it: one schema, built here, formatted by each.

use crate::error::Result;
use crate::format::header::{Header, KIND_ARRAY, KIND_RING};
use crate::format::layout::Order;
use crate::format::ring::RingReport;
use crate::format::VERSION_MAJOR;
use crate::liveness::ProcessStamp;
use crate::named::attachers::{Attacher, Snapshot};
use crate::named::name::path_for;
use crate::named::registry::{inspect, list, Entry};
use crate::named::status::Status;
use crate::sys::FileInfo;

/// What one array's header, file and attacher table say, read at one moment.
///
/// Raw values only: sizes in bytes, times in nanoseconds since the Unix
/// epoch, permission bits as a number. A named array whose header could not
/// be read has only `name`, `path`, `error` and `status`.
///
/// # Example
/// ```
/// use ndshare::{named, Builder};
/// # let name = format!("doc-report-{}", std::process::id());
/// let a = Builder::new().name(&name).zeros::<f32>(&[3, 4])?;
/// let r = named::report(&name)?;
/// let h = r.header.as_ref().unwrap();
/// assert_eq!((h.dtype.as_str(), h.shape.as_slice(), h.nbytes), ("<f4", &[3u64, 4][..], 48));
/// assert_eq!((h.mode, r.status.as_ref().unwrap().label()), (0o600, "in use"));
/// a.unlink()?;
/// # Ok::<(), ndshare::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ArrayReport {
    /// The array's name; `None` for an anonymous array.
    pub name: Option<String>,
    /// Its file in the shared-memory directory; `None` for an anonymous
    /// array, or one whose name was removed.
    pub path: Option<String>,
    /// Why the header could not be read (no permission, a corrupt file);
    /// `None` if it was.
    pub error: Option<String>,
    /// What the header and the file say, when the header could be read.
    pub header: Option<HeaderReport>,
    /// What the lifetime bookkeeping says; `None` for an anonymous array,
    /// which has no name to keep or remove.
    pub status: Option<Status>,
    /// A ring's item, delivery and counters, read from its file; `None` for
    /// an array (or a ring whose control block could not be read).
    pub ring: Option<RingReport>,
}

/// What a readable header, its file and its attacher table say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct HeaderReport {
    /// What the segment holds: `array`, `ring`, or `unknown kind N`. A
    /// ring's `dtype` and `shape` are those of its bytes (`|u1`); its
    /// items are in [`ArrayReport::ring`].
    pub kind: String,
    /// The dtype descriptor (numpy's `.npy` `descr`).
    pub dtype: String,
    /// Bytes per element.
    pub itemsize: u64,
    /// Elements per dimension.
    pub shape: Vec<u64>,
    /// Bytes between elements, per dimension.
    pub strides: Vec<i64>,
    /// The contiguous order of the strides; `None` if neither.
    pub order: Option<Order>,
    /// Bytes of data: the array's own bytes, as numpy's `nbytes`.
    pub nbytes: u64,
    /// Bytes of header before the data.
    pub header_bytes: u64,
    /// Bytes of the segment's file: the header and the data, the memory
    /// the array takes (what `ls -l` says of its file).
    pub file_bytes: u64,
    /// The format version the header was written in: (major, minor).
    pub format_version: (u16, u16),
    /// Whether the header marks the array as named.
    pub named: bool,
    /// When the array was made, in nanoseconds since the Unix epoch.
    pub created_ns: u64,
    /// The process that made it.
    pub creator: ProcessStamp,
    /// Whether that process is alive now.
    pub creator_alive: bool,
    /// Every entry of the attacher table, live or left by a dead process.
    pub attachers: Vec<Attacher>,
    /// Distinct live processes the table names.
    pub live_attachers: usize,
    /// Live processes that found the table full (counted, not named).
    pub unregistered_attachers: u32,
    /// Permission bits of the file.
    pub mode: u32,
    /// Owner of the file.
    pub uid: u32,
}

impl HeaderReport {
    /// How many of the `live_attachers` only keep the array mapped after
    /// their last use.
    #[must_use]
    pub fn kept_attachers(&self) -> usize {
        crate::named::attachers::kept_processes(&self.attachers)
    }

    /// The report of a header, its file and its attacher table (`None`:
    /// the table could not be read, or the array is anonymous).
    #[must_use]
    pub fn new(h: &Header, f: &FileInfo, attachers: Option<&Snapshot>) -> HeaderReport {
        let empty = Snapshot::default();
        let table = attachers.unwrap_or(&empty);
        HeaderReport {
            kind: match h.kind {
                KIND_ARRAY => "array".to_owned(),
                KIND_RING => "ring".to_owned(),
                k => format!("unknown kind {k}"),
            },
            dtype: h.dtype.clone(),
            itemsize: h.layout.itemsize(),
            shape: h.layout.shape().to_vec(),
            strides: h.layout.strides().to_vec(),
            order: h.layout.order(),
            nbytes: h.data_len,
            header_bytes: h.header_len,
            file_bytes: f.size,
            format_version: (VERSION_MAJOR, h.version_minor),
            named: h.is_named(),
            created_ns: h.created_ns,
            creator: h.creator,
            creator_alive: h.creator.is_alive(),
            attachers: table.attachers.clone(),
            live_attachers: table.live_processes(),
            unregistered_attachers: table.overflow,
            mode: f.mode,
            uid: f.uid,
        }
    }
}

fn path_of(name: &str) -> Option<String> {
    path_for(name).ok().map(|p| p.display().to_string())
}

impl ArrayReport {
    /// The report of a segment: `name` if it has one, its header and file,
    /// its attacher table (`None` for an anonymous one) and its `status`
    /// (`None` for an anonymous one). An unlinked one has no path.
    #[must_use]
    pub fn new(
        name: Option<&str>,
        header: &Header,
        file: &FileInfo,
        attachers: Option<&Snapshot>,
        status: Option<Status>,
    ) -> ArrayReport {
        let path = match status {
            Some(Status::Unlinked { .. }) => None,
            _ => name.and_then(path_of),
        };
        ArrayReport {
            name: name.map(str::to_owned),
            path,
            error: None,
            header: Some(HeaderReport::new(header, file, attachers)),
            status,
            ring: None,
        }
    }

    /// The report of an entry of the shared-memory directory.
    #[must_use]
    pub fn of_entry(e: &Entry) -> ArrayReport {
        let status = e.status();
        match &e.header {
            Err(err) => ArrayReport {
                name: Some(e.name.clone()),
                path: path_of(&e.name),
                error: Some(err.to_string()),
                header: None,
                status: Some(status),
                ring: None,
            },
            Ok((h, f)) => ArrayReport {
                ring: e.ring.clone(),
                ..ArrayReport::new(Some(&e.name), h, f, e.attachers.as_ref(), Some(status))
            },
        }
    }

    /// Whether `ndshare gc` would remove the array.
    #[must_use]
    pub fn is_stale(&self) -> bool {
        self.status.as_ref().is_some_and(Status::is_stale)
    }
}

/// The report of the named array `name`, read now (also of a file that
/// cannot be attached: its status says why).
///
/// # Errors
/// [`Error::InvalidName`](crate::Error::InvalidName),
/// [`Error::NotFound`](crate::Error::NotFound), or why the file or its
/// header cannot be read ([`Error::PermissionDenied`](crate::Error::PermissionDenied),
/// [`Error::Io`](crate::Error::Io)).
pub fn report(name: &str) -> Result<ArrayReport> {
    Ok(ArrayReport::of_entry(&inspect(name)?.or_unreadable()?))
}

/// The reports of every named array, sorted by name (see [`list`]).
///
/// # Errors
/// Only if the shared-memory directory cannot be listed.
pub fn reports() -> Result<Vec<ArrayReport>> {
    Ok(list()?.iter().map(ArrayReport::of_entry).collect())
}
