//! A segment: one shared file (memfd or /dev/shm), its header and its data,
//! mapped into this process.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::attachers::{self, Registered, Registration, Table};
use crate::error::{Error, Result};
use crate::header::{self, Header, FLAG_NAMED, STATE_READY};
use crate::layout::Layout;
use crate::limits;
use crate::liveness::ProcessStamp;
use crate::name;
use crate::sealing;
use crate::sys::{self, FileInfo, Mapping};

/// How a segment is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Data readable and writable.
    #[default]
    ReadWrite,
    /// Data mapped read-only: a write through it faults, and numpy refuses it
    /// before that.
    ReadOnly,
}

/// Default permission bits of a named array: the creating user only.
pub const DEFAULT_MODE: u32 = 0o600;

/// A mapped segment. The mapping and the descriptor go when it is dropped;
/// the memory goes when the last process drops its last mapping and
/// descriptor (and, for a named array, the name is unlinked).
#[derive(Debug)]
pub struct Segment {
    map: Mapping,
    fd: OwnedFd,
    header: Header,
    file: FileInfo,
    name: Option<String>,
    data_writable: bool,
    header_writable: bool,
    /// This process's slot in the attacher table of a named segment.
    registration: Registration,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Maps an OS error to the variant a caller acts on.
pub(crate) fn classify(err: io::Error, what: &str, name: Option<&str>) -> Error {
    use rustix::io::Errno;
    let errno = err.raw_os_error().map(Errno::from_raw_os_error);
    match (errno, name) {
        (Some(Errno::NOENT), Some(n)) => Error::NotFound { name: n.to_owned() },
        (Some(Errno::EXIST), Some(n)) => Error::AlreadyExists { name: n.to_owned() },
        (Some(Errno::ACCESS | Errno::PERM), _) => Error::PermissionDenied {
            what: what.to_owned(),
            source: err,
        },
        _ => Error::io(what, err),
    }
}

/// Why `/proc/<pid>/fd/<n>` does not exist: the process, or only its descriptor.
fn process_fd_gone(pid: u32, what: String) -> Error {
    let reason = if sys::process_start_ticks(pid).is_err() || sys::is_zombie(pid) {
        format!(
            "process {pid} has exited (or is not visible from here: another PID \
             namespace or another machine)"
        )
    } else {
        format!("process {pid} has closed it (it no longer holds the segment)")
    };
    Error::Unreachable { what, reason }
}

fn out_of_memory(bytes: u64, named: bool, fd: BorrowedFd<'_>, source: io::Error) -> Error {
    let hint = if named {
        let free =
            sys::free_bytes_of(fd).map_or_else(|_| "unknown".to_owned(), |b| format!("{b} bytes"));
        format!(
            "{} has {free} free; enlarge it (e.g. `docker run --shm-size=...`, or \
             `mount -o remount,size=... {}`), free space with `ndshare gc`, or create \
             the array without a name: anonymous arrays are not bounded by {}",
            sys::SHM_DIR,
            sys::SHM_DIR,
            sys::SHM_DIR
        )
    } else {
        "the machine's memory (RAM and swap, or the cgroup's limit) is exhausted".to_owned()
    };
    Error::OutOfMemory {
        bytes,
        hint,
        source,
    }
}

impl Segment {
    /// Creates a segment holding an array of `layout` with dtype descriptor
    /// `dtype` (numpy's `.npy` `descr` form, e.g. `"<f8"`), zero-filled.
    ///
    /// Without `name` the segment is anonymous: a sealed memfd that the kernel
    /// frees when the last process holding it goes, whatever the way it went.
    /// With a name it is a file `/dev/shm/ndshare.<name>` with permission bits
    /// `mode`, published under its name only once complete, and never over an
    /// existing one.
    ///
    /// All memory is reserved now: a shortage is [`Error::OutOfMemory`] here,
    /// never a `SIGBUS` later.
    ///
    /// # Errors
    /// [`Error::InvalidShape`], [`Error::InvalidDtype`], [`Error::InvalidName`],
    /// [`Error::AlreadyExists`], [`Error::OutOfMemory`], [`Error::PermissionDenied`], [`Error::Io`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Layout, Order, Segment};
    /// let seg = Segment::create(Layout::contiguous(&[3, 4], 8, Order::C)?, "<f8", None, 0o600)?;
    /// assert_eq!(seg.data_len(), 96);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn create(layout: Layout, dtype: &str, name: Option<&str>, mode: u32) -> Result<Segment> {
        let path = name.map(name::path_for).transpose()?;
        let flags = if name.is_some() { FLAG_NAMED } else { 0 };
        let header = Header::new(layout, dtype, flags, ProcessStamp::current(), now_ns())?;
        let len = header.segment_len();
        limits::check_fits_in_memory(len)?;
        let fd = if path.is_some() {
            sys::create_unnamed_in_shm(mode & 0o777).map_err(|e| {
                limits::open_failed(
                    e,
                    "cannot create a file in the shared-memory directory",
                    None,
                )
            })?
        } else {
            sys::memfd("ndshare").map_err(|e| limits::open_failed(e, "memfd_create", None))?
        };
        sys::reserve(fd.as_fd(), len).map_err(|e| {
            use rustix::io::Errno;
            match e.raw_os_error().map(Errno::from_raw_os_error) {
                Some(Errno::NOSPC | Errno::NOMEM | Errno::FBIG) => {
                    out_of_memory(len, name.is_some(), fd.as_fd(), e)
                }
                _ => Error::io("cannot reserve shared memory", e),
            }
        })?;
        if path.is_none() {
            sys::seal_size(fd.as_fd()).map_err(|e| Error::io("cannot seal the memfd", e))?;
        }
        let map = Mapping::new(fd.as_fd(), len as usize, true)
            .map_err(|e| limits::map_failed(e, len, "mmap"))?;
        let bytes = header.encode();
        // SAFETY: the mapping is `len >= bytes.len()` bytes, writable, and new:
        // no other process can reach it yet (the memfd has not been handed out;
        // the named file has no name yet), and no Rust reference points into it.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), map.as_ptr(), bytes.len()) };
        // SAFETY: offset::STATE is 4-aligned inside the page-aligned mapping,
        // and the word is only ever accessed atomically once published.
        #[allow(clippy::cast_ptr_alignment)]
        let state = unsafe { &*map.as_ptr().add(header::offset::STATE).cast::<AtomicU32>() };
        state.store(STATE_READY, Ordering::Release);
        // Nothing can fail once the array has its name: an error would leave
        // the name behind.
        let file = sys::file_info(fd.as_fd()).map_err(|e| Error::io("fstat", e))?;
        if let (Some(path), Some(n)) = (&path, name) {
            sys::publish(fd.as_fd(), path).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    Error::AlreadyExists { name: n.to_owned() }
                } else {
                    // Not `NotFound`: the name is being made, not looked up.
                    classify(e, "cannot name the array", None)
                }
            })?;
        }
        let registration =
            Registration::new(Table::of(&map, path.is_some()).as_ref(), || header.creator);
        Ok(Segment {
            map,
            fd,
            header,
            file,
            name: name.map(str::to_owned),
            data_writable: true,
            header_writable: true,
            registration,
        })
    }

    /// Maps the named array `name`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::PermissionDenied`], [`Error::Corrupt`],
    /// [`Error::VersionMismatch`], [`Error::InvalidName`].
    pub fn attach(name: &str, access: Access) -> Result<Segment> {
        let path = name::path_for(name)?;
        let what = format!("cannot open shared array {name:?}");
        let fd = match sys::open_named(&path, true) {
            // A read-only user of a read-only file still gets the data.
            Err(e) if access == Access::ReadOnly && e.kind() == io::ErrorKind::PermissionDenied => {
                sys::open_named(&path, false)
            }
            other => other,
        }
        .map_err(|e| limits::open_failed(e, &what, Some(name)))?;
        let mut seg = Segment::from_fd(fd, access)?;
        if !seg.header.is_named() {
            return Err(Error::Corrupt(format!(
                "{name:?} holds a segment not marked as named"
            )));
        }
        seg.name = Some(name.to_owned());
        Ok(seg)
    }

    /// Maps the segment behind an open descriptor, taking ownership of it.
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::VersionMismatch`] if the file is not a
    /// valid segment; [`Error::PermissionDenied`] if the descriptor does not
    /// allow `access`.
    pub fn from_fd(fd: OwnedFd, access: Access) -> Result<Segment> {
        let (header, file) = read_header(fd.as_fd())?;
        sealing::check(fd.as_fd(), &header)?;
        let len = usize::try_from(header.segment_len())
            .map_err(|_| Error::Corrupt("segment too large to map".into()))?;
        // Map the header writable when the descriptor allows it (the lock
        // words live there); fall back to a wholly read-only mapping.
        let (map, header_writable) = match Mapping::new(fd.as_fd(), len, true) {
            Ok(m) => (m, true),
            Err(e) if access == Access::ReadOnly && e.kind() == io::ErrorKind::PermissionDenied => {
                (
                    Mapping::new(fd.as_fd(), len, false)
                        .map_err(|e| limits::map_failed(e, len as u64, "mmap"))?,
                    false,
                )
            }
            Err(e) => {
                return Err(limits::map_failed(
                    e,
                    len as u64,
                    "cannot map the segment writable",
                ))
            }
        };
        let data_writable = access == Access::ReadWrite;
        if !data_writable && header_writable {
            map.protect_read_only_from(header.header_len as usize)
                .map_err(|e| Error::io("mprotect", e))?;
        }
        let table = Table::of(&map, header_writable && header.is_named());
        let registration = Registration::new(table.as_ref(), ProcessStamp::current);
        Ok(Segment {
            map,
            fd,
            header,
            file,
            name: None,
            data_writable,
            header_writable,
            registration,
        })
    }

    /// Maps the segment that process `pid` holds open as descriptor `fd`,
    /// provided that it is the file `(dev, ino)` (a descriptor number can be
    /// reused for another file at any moment).
    ///
    /// # Errors
    /// [`Error::Unreachable`] if the process has exited, or its descriptor
    /// is closed or now names another file; [`Error::PermissionDenied`] if
    /// this process may not look into `pid`; the errors of
    /// [`Segment::from_fd`].
    pub fn from_process_fd(
        pid: u32,
        fd: i32,
        (dev, ino): (u64, u64),
        access: Access,
    ) -> Result<Segment> {
        let label = format!("descriptor {fd} of process {pid}");
        let owned = match sys::open_process_fd(pid, fd, true) {
            Err(e) if access == Access::ReadOnly && e.kind() == io::ErrorKind::PermissionDenied => {
                sys::open_process_fd(pid, fd, false)
            }
            other => other,
        }
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                process_fd_gone(pid, label.clone())
            } else {
                limits::open_failed(e, &format!("cannot open {label}"), None)
            }
        })?;
        let found = sys::file_info(owned.as_fd()).map_err(|e| Error::io("fstat", e))?;
        if (found.dev, found.ino) != (dev, ino) {
            return Err(Error::Unreachable {
                what: label,
                reason: "it now refers to another file (the process has dropped the segment)"
                    .into(),
            });
        }
        Segment::from_fd(owned, access)
    }

    /// Copies `src` into the data, starting `offset` bytes into it, through
    /// the file rather than the mapping.
    ///
    /// Into fresh memory this is the fastest copy measured (docs/benchmarks.md):
    /// a copy through the mapping takes a page fault per 4 KiB page, which
    /// costs several times the copy itself; `pwrite` fills the pages with no
    /// fault, and later reads through a mapping map 16 pages per fault
    /// (the kernel's fault-around) instead of one.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] if the data is mapped read-only;
    /// [`Error::Io`] if `offset + src.len()` exceeds [`Segment::data_len`] or
    /// the write fails.
    ///
    /// # Example
    /// ```
    /// use ndshare::{Layout, Order, Segment};
    /// let seg = Segment::create(Layout::contiguous(&[4], 1, Order::C)?, "|u1", None, 0o600)?;
    /// seg.write_data(1, &[7, 8])?;
    /// // SAFETY: the data is 4 bytes long, and no one else writes to it.
    /// let data = unsafe { std::slice::from_raw_parts(seg.data_ptr(), seg.data_len()) };
    /// assert_eq!(data, &[0, 7, 8, 0]);
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn write_data(&self, offset: usize, src: &[u8]) -> Result<()> {
        if !self.data_writable {
            return Err(Error::PermissionDenied {
                what: "the array is mapped read-only".to_owned(),
                source: io::ErrorKind::PermissionDenied.into(),
            });
        }
        if offset
            .checked_add(src.len())
            .is_none_or(|end| end > self.data_len())
        {
            let msg = format!(
                "{} bytes at offset {offset} exceed the {} bytes of data",
                src.len(),
                self.data_len()
            );
            return Err(Error::io(
                "cannot write the data",
                io::Error::new(io::ErrorKind::InvalidInput, msg),
            ));
        }
        sys::write_all_at(self.fd.as_fd(), src, self.header.header_len + offset as u64)
            .map_err(|e| Error::io("cannot write the data", e))
    }

    /// The checked header.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Element layout of the whole array.
    #[must_use]
    pub fn layout(&self) -> &Layout {
        &self.header.layout
    }

    /// The dtype descriptor.
    #[must_use]
    pub fn dtype(&self) -> &str {
        &self.header.dtype
    }

    /// First byte of the data; aligned to at least 4096 bytes.
    #[must_use]
    pub fn data_ptr(&self) -> *mut u8 {
        // SAFETY: header_len <= segment_len == mapping length (checked by
        // Header::decode / Header::new), so the result is in or one past the
        // mapping.
        unsafe { self.map.as_ptr().add(self.header.header_len as usize) }
    }

    /// Length of the data in bytes.
    #[must_use]
    pub fn data_len(&self) -> usize {
        self.header.data_len as usize
    }

    /// First byte of the mapping (the header).
    #[must_use]
    pub fn base_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    /// Whether the data is mapped writable.
    #[must_use]
    pub fn is_writable(&self) -> bool {
        self.data_writable
    }

    /// Whether the header (and so the lock words) is mapped writable.
    #[must_use]
    pub fn header_writable(&self) -> bool {
        self.header_writable
    }

    /// The descriptor: hand it to another process (`SCM_RIGHTS`, or fork) to
    /// share the segment.
    #[must_use]
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// `fstat` of the segment's file: `(dev, ino)` names the memory.
    #[must_use]
    pub fn file_info(&self) -> FileInfo {
        self.file
    }

    /// The name, for a named array.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where this process is registered in the attacher table.
    #[must_use]
    pub fn registered(&self) -> Registered {
        self.registration.get()
    }

    /// The attacher table as it is now (empty for an anonymous segment).
    ///
    /// # Errors
    /// [`Error::Io`] if the segment cannot be read.
    pub fn attachers(&self) -> Result<attachers::Snapshot> {
        attachers::read(self.fd())
    }

    /// Registers the calling process as an attacher of a named segment it
    /// inherited through `fork`; call it in the child. The parent's
    /// registration stays the parent's, and is never freed by the child.
    pub fn register_after_fork(&self) {
        if let Some(table) = Table::of(&self.map, self.header_writable && self.header.is_named()) {
            if self.registration.get() == Registered::No {
                self.registration.register(&table, ProcessStamp::current());
            }
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if let Some(table) = Table::of(&self.map, self.header_writable) {
            self.registration.release(&table);
        }
    }
}

/// Reads and checks the header of the segment behind `fd`, without mapping
/// it: with `pread`, so a file shorter than it claims is an error, not a
/// `SIGBUS`.
///
/// # Errors
/// [`Error::Corrupt`], [`Error::VersionMismatch`], [`Error::Io`].
///
/// # Panics
/// Never: the slices it converts are of checked length.
pub fn read_header(fd: BorrowedFd<'_>) -> Result<(Header, FileInfo)> {
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

pub(crate) fn read_prefix(fd: BorrowedFd<'_>, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let done = sys::read_at(fd, &mut buf, 0)
        .map_err(|e| Error::io("cannot read the segment header", e))?;
    buf.truncate(done);
    Ok(buf)
}

/// Removes the name of a named array. Processes that map it keep it; the
/// memory goes when the last of them unmaps it.
///
/// # Errors
/// [`Error::NotFound`], [`Error::InvalidName`], [`Error::PermissionDenied`].
pub fn unlink(name: &str) -> Result<()> {
    let path = name::path_for(name)?;
    sys::unlink(&path).map_err(|e| classify(e, &format!("cannot unlink {name:?}"), Some(name)))
}
