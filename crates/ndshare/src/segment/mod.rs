//! A segment: one shared file (memfd or /dev/shm), its header and its data,
//! mapped into this process.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::format::file::read_header;
use crate::format::header::{self, Header, FLAG_NAMED, STATE_READY};
use crate::format::layout::Layout;
use crate::limits::{self, classify};
use crate::liveness::ProcessStamp;
use crate::named::attachers::{self, Registered, Registration, Table};
use crate::named::lifetime;
use crate::named::name::{self, check_named};
use crate::named::report::ArrayReport;
use crate::named::status::Status;
mod backing;
pub(crate) mod sealing;
use crate::sys::{self, ErrorKind, Fd, FdRef, FileInfo, Mapping};
pub use backing::{Backing, HUGE_THRESHOLD};

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
    fd: Fd,
    header: Header,
    file: FileInfo,
    /// The name, given or pending (see `published`).
    name: Option<String>,
    /// Whether `name` is linked; serializes [`Segment::publish`].
    published: Mutex<bool>,
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

fn out_of_memory(bytes: u64, named: bool, fd: FdRef<'_>, source: io::Error) -> Error {
    let hint = if named {
        let free =
            sys::free_bytes_of(fd).map_or_else(|_| "unknown space".to_owned(), crate::human::size);
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
    /// `mode`, published under its name only once its header is final, and
    /// never over an existing one. To fill the data before the name appears,
    /// use [`Segment::create_unpublished`] and [`Segment::publish`].
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
        let seg = Segment::create_unpublished(layout, dtype, name, mode)?;
        seg.publish()?;
        Ok(seg)
    }

    /// Creates a segment as [`Segment::create`] does, but leaves a named one
    /// without its name: no other process can reach it until
    /// [`Segment::publish`] links the name. Write the data first, then
    /// publish, and every process that finds the name finds the data final.
    ///
    /// Dropped unpublished, the segment leaves nothing behind: its file never
    /// had a name, and its memory goes with its last descriptor and mapping.
    /// An anonymous segment has no name to publish; it is usable at once.
    ///
    /// # Errors
    /// As [`Segment::create`]. An existing name is refused here already, so
    /// that no data is written in vain; [`Segment::publish`] checks again.
    ///
    /// # Example
    /// ```
    /// use ndshare::{Error, Layout, Order, Segment};
    /// # let name = format!("doc-unpublished-{}", std::process::id());
    /// let seg = Segment::create_unpublished(Layout::contiguous(&[4], 1, Order::C)?, "|u1", Some(&name), 0o600)?;
    /// seg.write_data(0, &[1, 2, 3, 4])?;
    /// assert!(matches!(Segment::attach(&name, Default::default()), Err(Error::NotFound { .. })));
    /// seg.publish()?; // the name appears with the data in place
    /// assert_eq!(seg.name(), Some(name.as_str()));
    /// ndshare::unlink(&name)?;
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn create_unpublished(
        layout: Layout,
        dtype: &str,
        name: Option<&str>,
        mode: u32,
    ) -> Result<Segment> {
        Segment::create_unpublished_with(layout, dtype, name, mode, true)
    }

    /// [`Segment::create_unpublished`], choosing whether a large anonymous
    /// segment may go on huge pages (see [`Backing`]; named segments live in
    /// /dev/shm whatever `huge_pages` says).
    ///
    /// # Errors
    /// As [`Segment::create`].
    pub fn create_unpublished_with(
        layout: Layout,
        dtype: &str,
        name: Option<&str>,
        mode: u32,
        huge_pages: bool,
    ) -> Result<Segment> {
        Segment::create_kind_unpublished(layout, dtype, name, mode, huge_pages, header::KIND_ARRAY)
    }

    /// [`Segment::create_unpublished_with`] for a segment of `kind` (a
    /// ring's header says so; its data is then laid out by the ring module).
    pub(crate) fn create_kind_unpublished(
        layout: Layout,
        dtype: &str,
        name: Option<&str>,
        mode: u32,
        huge_pages: bool,
        kind: u32,
    ) -> Result<Segment> {
        let path = name.map(name::path_for).transpose()?;
        let flags = if name.is_some() { FLAG_NAMED } else { 0 };
        let mut header = Header::new(layout, dtype, flags, ProcessStamp::current(), now_ns())?;
        header.kind = kind;
        let len = header.segment_len();
        limits::check_fits_in_memory(len)?;
        if let (Some(path), Some(n)) = (&path, name) {
            if sys::path_info(path).is_ok() {
                return Err(Error::AlreadyExists { name: n.to_owned() });
            }
        }
        let (fd, anon) = if path.is_some() {
            let fd = sys::create_unnamed_in_shm(mode & 0o777).map_err(|e| {
                limits::open_failed(
                    e,
                    "cannot create a file in the shared-memory directory",
                    None,
                )
            })?;
            (fd, None)
        } else {
            let (fd, todo) = backing::create_anonymous(len, huge_pages)
                .map_err(|e| limits::open_failed(e, "memfd_create", None))?;
            (fd, Some(todo))
        };
        if !anon.is_some_and(|a| a.reserved) {
            sys::reserve(fd.borrow(), len).map_err(|e| match sys::error_kind(&e) {
                ErrorKind::NoSpace | ErrorKind::OutOfMemory => {
                    out_of_memory(len, name.is_some(), fd.borrow(), e)
                }
                _ => Error::io("cannot reserve shared memory", e),
            })?;
        }
        if anon.is_some_and(|a| a.sealable) {
            sys::seal_size(fd.borrow()).map_err(|e| Error::io("cannot seal the memfd", e))?;
        }
        let map = Mapping::new(fd.borrow(), len as usize, true)
            .map_err(|e| limits::map_failed(e, len, "mmap"))?;
        if anon.is_some_and(|a| a.advise_huge) {
            // Advice only: without it the pages are small, nothing else.
            let _ = sys::huge::advise_huge(&map);
        }
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
        let file = sys::file_info(fd.borrow()).map_err(|e| Error::io("fstat", e))?;
        let registration =
            Registration::new(Table::of(&map, path.is_some()).as_ref(), || header.creator);
        Ok(Segment {
            map,
            fd,
            header,
            file,
            name: name.map(str::to_owned),
            published: Mutex::new(name.is_none()),
            data_writable: true,
            header_writable: true,
            registration,
        })
    }

    /// Links the name of a segment made by [`Segment::create_unpublished`]:
    /// from now on any process may attach it. The link is atomic and never
    /// replaces an existing file. Nothing to do for an anonymous segment or
    /// one already published.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if another array took the name meanwhile
    /// (this one stays unpublished, and goes when dropped);
    /// [`Error::PermissionDenied`], [`Error::Io`].
    pub fn publish(&self) -> Result<()> {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *published {
            return Ok(());
        }
        let Some(n) = self.name.as_deref() else {
            *published = true;
            return Ok(());
        };
        let path = name::path_for(n)?;
        sys::publish(self.fd.borrow(), &path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                Error::AlreadyExists { name: n.to_owned() }
            } else {
                // Not `NotFound`: the name is being made, not looked up.
                classify(e, "cannot name the array", None)
            }
        })?;
        *published = true;
        Ok(())
    }

    /// Whether the segment can be reached by its name: `false` only for a
    /// named segment that [`Segment::create_unpublished`] made and
    /// [`Segment::publish`] has not named yet.
    #[must_use]
    pub fn is_published(&self) -> bool {
        *self
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Maps the named array `name`, whatever array the name holds now.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::PermissionDenied`], [`Error::Corrupt`]
    /// (also for a file whose header lacks the named flag, such as an
    /// anonymous segment's bytes copied under a name),
    /// [`Error::VersionMismatch`], [`Error::InvalidName`].
    pub fn attach(name: &str, access: Access) -> Result<Segment> {
        Segment::attach_checked(name, None, access)
    }

    /// Maps the named array `name`, provided that the name still names the
    /// file `(dev, ino)`: the array it named when `(dev, ino)` was read, not
    /// another one made under the same name after it was unlinked. The check
    /// is made on the opened file, before anything is mapped.
    ///
    /// # Errors
    /// [`Error::Unreachable`] if the name now names another file; the errors
    /// of [`Segment::attach`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Access, Error, Layout, Order, Segment};
    /// # let name = format!("doc-attach-file-{}", std::process::id());
    /// let layout = Layout::contiguous(&[4], 8, Order::C)?;
    /// let first = Segment::create(layout.clone(), "<f8", Some(&name), 0o600)?;
    /// let id = (first.file_info().dev, first.file_info().ino);
    /// assert!(Segment::attach_file(&name, id, Access::ReadOnly).is_ok());
    ///
    /// ndshare::unlink(&name)?;
    /// let _second = Segment::create(layout, "<f8", Some(&name), 0o600)?;
    /// let refused = Segment::attach_file(&name, id, Access::ReadOnly);
    /// assert!(matches!(refused, Err(Error::Unreachable { .. })));
    /// # ndshare::unlink(&name)?;
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn attach_file(name: &str, (dev, ino): (u64, u64), access: Access) -> Result<Segment> {
        Segment::attach_checked(name, Some((dev, ino)), access)
    }

    fn attach_checked(name: &str, file: Option<(u64, u64)>, access: Access) -> Result<Segment> {
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
        if let Some(expected) = file {
            let found = sys::file_info(fd.borrow()).map_err(|e| Error::io("fstat", e))?;
            if (found.dev, found.ino) != expected {
                return Err(Error::Unreachable {
                    what: format!("shared array {name:?}"),
                    reason: "the name now names another array (the one it named was unlinked)"
                        .into(),
                });
            }
        }
        let (header, file) = read_header(fd.borrow())?;
        check_named(name, &header)?;
        let mut seg = Segment::map_checked(fd, header, file, access)?;
        seg.name = Some(name.to_owned());
        Ok(seg)
    }

    /// [`Segment::from_borrowed_fd`] in the seam's terms.
    pub(crate) fn from_fd_ref(fd: FdRef<'_>, access: Access) -> Result<Segment> {
        let owned = sys::dup(fd)
            .map_err(|e| limits::open_failed(e, "cannot duplicate the descriptor", None))?;
        Segment::from_owned(owned, access)
    }

    /// [`Segment::from_fd`] in the seam's terms.
    pub(crate) fn from_owned(fd: Fd, access: Access) -> Result<Segment> {
        let (header, file) = read_header(fd.borrow())?;
        Segment::map_checked(fd, header, file, access)
    }

    /// Maps the segment behind `fd`, whose header was read and checked.
    fn map_checked(fd: Fd, header: Header, file: FileInfo, access: Access) -> Result<Segment> {
        sealing::check(fd.borrow(), &header)?;
        let len = usize::try_from(header.segment_len())
            .map_err(|_| Error::Corrupt("segment too large to map".into()))?;
        // Map the header writable when the descriptor allows it (the lock
        // words live there); fall back to a wholly read-only mapping.
        let (map, header_writable) = match Mapping::new(fd.borrow(), len, true) {
            Ok(m) => (m, true),
            Err(e) if access == Access::ReadOnly && e.kind() == io::ErrorKind::PermissionDenied => {
                (
                    Mapping::new(fd.borrow(), len, false)
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
            published: Mutex::new(true),
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
        let found = sys::file_info(owned.borrow()).map_err(|e| Error::io("fstat", e))?;
        if (found.dev, found.ino) != (dev, ino) {
            return Err(Error::Unreachable {
                what: label,
                reason: "it now refers to another file (the process has dropped the segment)"
                    .into(),
            });
        }
        Segment::from_owned(owned, access)
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
    /// [`Error::ReadOnly`] if the data is mapped read-only;
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
            return Err(Error::ReadOnly);
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
        sys::write_all_at(
            self.fd.borrow(),
            src,
            self.header.header_len + offset as u64,
        )
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

    /// [`Segment::fd`] in the seam's terms.
    pub(crate) fn fd_ref(&self) -> FdRef<'_> {
        self.fd.borrow()
    }

    /// `fstat` of the segment's file: `(dev, ino)` names the memory.
    #[must_use]
    pub fn file_info(&self) -> FileInfo {
        self.file
    }

    /// The name, for a named array (not before [`Segment::publish`] for
    /// one made by [`Segment::create_unpublished`]; not for one that arrived
    /// by descriptor, which carries no name).
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref().filter(|_| self.is_published())
    }

    /// Where this process is registered in the attacher table.
    #[must_use]
    pub fn registered(&self) -> Registered {
        self.registration.get()
    }

    /// Marks this process in the attacher table as keeping the segment
    /// mapped after its last use (`true`), or as using it again (`false`),
    /// so that `ndshare info` can tell the two apart. Nothing happens when
    /// the process holds no slot (an anonymous segment, a read-only header,
    /// a full table).
    pub fn set_kept(&self, kept: bool) {
        if let Some(table) = Table::of(&self.map, self.header_writable) {
            self.registration.set_kept(&table, kept);
        }
    }

    /// The attacher table as it is now (empty for an anonymous segment).
    ///
    /// # Errors
    /// [`Error::Io`] if the segment cannot be read.
    pub fn attachers(&self) -> Result<attachers::Snapshot> {
        attachers::read(self.fd_ref())
    }

    /// What the lifetime bookkeeping says about this named array now (in
    /// use, kept, or stale); [`Status::Unlinked`] if the name it was mapped
    /// by no longer names it; `None` for an anonymous segment. A named
    /// segment that arrived by descriptor does not know its name, and is not
    /// checked for one.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::PermissionDenied`] if the name or the
    /// attacher table cannot be read.
    pub fn status(&self) -> Result<Option<Status>> {
        if !self.header.is_named() {
            return Ok(None);
        }
        if let Some(n) = self.name() {
            let path = name::path_for(n)?;
            match sys::path_info(&path) {
                Ok(found) if (found.dev, found.ino) == (self.file.dev, self.file.ino) => {}
                Ok(_) => return Ok(Some(Status::Unlinked { name_reused: true })),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Ok(Some(Status::Unlinked { name_reused: false }))
                }
                Err(e) => return Err(classify(e, &format!("cannot look up {n:?}"), None)),
            }
        }
        let table = self.attachers()?;
        Ok(Some(Status::of(&self.header, &self.file, &table)))
    }

    /// What `ndshare info` would say of this array, read now: the header
    /// this process parsed when it mapped the segment, the attacher table
    /// and the [`Segment::status`] (`None` for an anonymous segment).
    ///
    /// # Errors
    /// Those of [`Segment::status`] and [`Segment::attachers`].
    ///
    /// # Example
    /// ```
    /// use ndshare::{Layout, Order, Segment};
    /// let seg = Segment::create(Layout::contiguous(&[2, 3], 8, Order::F)?, "<f8", None, 0o600)?;
    /// let r = seg.report()?;
    /// let h = r.header.as_ref().unwrap();
    /// assert_eq!((r.name, r.status, h.strides.as_slice(), h.order), (None, None, &[8i64, 16][..], Some(Order::F)));
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    pub fn report(&self) -> Result<ArrayReport> {
        let status = self.status()?;
        let table = if self.header.is_named() {
            Some(self.attachers()?)
        } else {
            None
        };
        Ok(ArrayReport::new(
            self.name(),
            &self.header,
            &self.file,
            table.as_ref(),
            status,
        ))
    }

    /// Removes this array's name if the name still leads to this very
    /// segment (not to another array made under the same name since); returns
    /// whether it did. An anonymous segment has no name to remove.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`], or [`Error::Io`] if the directory cannot
    /// be changed.
    pub fn unlink_name(&self) -> Result<bool> {
        match self.name() {
            Some(n) => lifetime::unlink_if_same(n, (self.file.dev, self.file.ino)),
            None => Ok(false),
        }
    }

    /// Whether the segment's size is sealed against shrinking (anonymous
    /// segments are; named files cannot be sealed).
    #[must_use]
    pub fn is_size_sealed(&self) -> bool {
        sys::size_is_sealed(self.fd_ref())
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

/// Removes the name of a named array. Processes that map it keep it; the
/// memory goes when the last of them unmaps it.
///
/// # Errors
/// [`Error::NotFound`], [`Error::InvalidName`], [`Error::PermissionDenied`].
pub fn unlink(name: &str) -> Result<()> {
    let path = name::path_for(name)?;
    sys::unlink(&path).map_err(|e| classify(e, &format!("cannot unlink {name:?}"), Some(name)))
}
