//! Linux backend: memfd, tmpfs files in /dev/shm, mmap, /proc.

use std::ffi::c_void;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::fs::{self as rfs, FallocateFlags, Mode, OFlags, SealFlags, CWD};
use rustix::mm::{self, MapFlags, MprotectFlags, ProtFlags};
use rustix::net::{
    self as rnet, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};
use rustix::process::{self, Resource};

use rustix::io::Errno;

use super::{ErrorKind, Fd, FdRef, FileInfo, FutexWake, TaskStat, WaitvWake};

/// Where named arrays live: a tmpfs shared by every process of the machine.
pub const SHM_DIR: &str = "/dev/shm";

/// Longest file name the shared-memory file system takes (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Sorts an error of this backend's calls by what the core does about it
/// (the error number: `ENOENT`, `EEXIST`, ...).
#[must_use]
pub fn error_kind(e: &io::Error) -> ErrorKind {
    match e.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::NOENT) => ErrorKind::NotFound,
        Some(Errno::EXIST) => ErrorKind::AlreadyExists,
        Some(Errno::ACCESS | Errno::PERM) => ErrorKind::PermissionDenied,
        Some(Errno::NOMEM) => ErrorKind::OutOfMemory,
        Some(Errno::NOSPC | Errno::FBIG) => ErrorKind::NoSpace,
        Some(Errno::MFILE) => ErrorKind::TooManyOpenFiles,
        Some(Errno::NFILE) => ErrorKind::FileTableFull,
        Some(Errno::INTR) => ErrorKind::Interrupted,
        Some(Errno::NOSYS) => ErrorKind::Unsupported,
        Some(_) => ErrorKind::Other,
        // Errors made here rather than by the kernel.
        None => match e.kind() {
            io::ErrorKind::Unsupported => ErrorKind::Unsupported,
            _ => ErrorKind::Other,
        },
    }
}

/// The error number of a kind, as a C caller of this system sees it
/// (`ENOENT` for [`ErrorKind::NotFound`], ...); `None` for
/// [`ErrorKind::Other`], which stands for many.
#[must_use]
pub fn errno_of(kind: ErrorKind) -> Option<i32> {
    let errno = match kind {
        ErrorKind::NotFound => Errno::NOENT,
        ErrorKind::AlreadyExists => Errno::EXIST,
        ErrorKind::PermissionDenied => Errno::ACCESS,
        ErrorKind::OutOfMemory => Errno::NOMEM,
        ErrorKind::NoSpace => Errno::NOSPC,
        ErrorKind::TooManyOpenFiles => Errno::MFILE,
        ErrorKind::FileTableFull => Errno::NFILE,
        ErrorKind::Interrupted => Errno::INTR,
        ErrorKind::Unsupported => Errno::NOSYS,
        ErrorKind::Other => return None,
    };
    Some(errno.raw_os_error())
}

/// The error of a reservation that can never succeed: `ENOMEM`.
#[must_use]
pub fn out_of_memory() -> io::Error {
    Errno::NOMEM.into()
}

/// The page size of the machine.
#[must_use]
pub fn page_size() -> usize {
    rustix::param::page_size()
}

/// `fstat` of an open file.
pub fn file_info(fd: FdRef<'_>) -> io::Result<FileInfo> {
    Ok(stat_to_info(&rfs::fstat(fd)?))
}

/// `stat` of a path, never following a symbolic link.
pub fn path_info(path: &Path) -> io::Result<FileInfo> {
    Ok(stat_to_info(&rfs::statat(
        CWD,
        path,
        rfs::AtFlags::SYMLINK_NOFOLLOW,
    )?))
}

fn stat_to_info(st: &rfs::Stat) -> FileInfo {
    FileInfo {
        dev: st.st_dev,
        ino: st.st_ino,
        size: st.st_size as u64,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        regular: rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::RegularFile,
    }
}

/// Runs `open`, and when it fails for lack of file descriptors (`EMFILE`),
/// raises this process's soft `RLIMIT_NOFILE` to its hard limit and runs it
/// once more.
///
/// Every live anonymous array holds one descriptor (its memfd: the only handle
/// by which another process can be given the memory). The soft limit is 1024
/// on most systems for the sake of `select(2)`; the hard limit is far larger.
/// Go's runtime and the JVM raise the soft limit the same way at start-up;
/// ndshare does it only when it is needed.
fn with_fd_headroom<T>(mut open: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match open() {
        Err(e) if error_kind(&e) == ErrorKind::TooManyOpenFiles => {
            let lim = process::getrlimit(Resource::Nofile);
            match (lim.current, lim.maximum) {
                (Some(cur), max) if max.is_none_or(|m| m > cur) => {
                    let new = process::Rlimit {
                        current: max,
                        maximum: max,
                    };
                    if process::setrlimit(Resource::Nofile, new).is_err() {
                        return Err(e);
                    }
                    open()
                }
                _ => Err(e),
            }
        }
        other => other,
    }
}

/// A new anonymous memory file (`memfd_create(2)`), close-on-exec, sealable.
///
/// The memory belongs to the open descriptors and the mappings of it: when
/// the last of them goes, in whatever process and however that process ended
/// (`SIGKILL` included), the kernel frees it. Nothing to clean up, ever.
pub fn memfd(label: &str) -> io::Result<Fd> {
    with_fd_headroom(|| {
        rfs::memfd_create(
            label,
            rfs::MemfdFlags::CLOEXEC | rfs::MemfdFlags::ALLOW_SEALING,
        )
        .map(Fd::from)
        .map_err(io::Error::from)
    })
}

/// Reserves `len` bytes for the file, so that no later page fault can fail.
///
/// `fallocate(2)` with mode 0 allocates the pages now and fails with `ENOSPC`
/// if the memory (or the tmpfs size limit) is not there. `ftruncate` would
/// only set the size: the pages would be allocated at first touch, and a
/// touch that finds no memory is a `SIGBUS` in whichever process touched it.
pub fn reserve(fd: FdRef<'_>, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    loop {
        match rfs::fallocate(fd, FallocateFlags::empty(), 0, len) {
            Err(Errno::INTR) => {}
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Writes all of `buf` into the file at `offset` (`pwrite(2)`, repeated
/// until done; Linux moves at most 2 GiB - 4 KiB per call).
///
/// Into a tmpfs or memfd file this copies straight into the page cache: the
/// kernel allocates each page and fills it in one step, without zeroing it
/// first and without a page fault in any mapping; processes that map the file
/// see the bytes, since a mapping and the file share the same pages.
pub fn write_all_at(fd: FdRef<'_>, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::pwrite(fd, buf, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads into `buf` from the file at `offset` (`pread(2)`, repeated until
/// `buf` is full or the file ends); returns how many bytes were read, fewer
/// than `buf.len()` only at the end of the file.
///
/// Reading a segment's header this way, rather than through a mapping, makes
/// a file shorter than it claims a short read instead of a `SIGBUS`.
pub fn read_at(fd: FdRef<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match rustix::io::pread(fd, &mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// Seals a memfd's size: `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`.
///
/// From `memfd_create(2)`: with `F_SEAL_SHRINK` "the file in question cannot
/// be reduced in size", so no process holding the memfd can truncate it under
/// another's mapping and turn that process's reads into `SIGBUS`.
pub fn seal_size(fd: FdRef<'_>) -> io::Result<()> {
    rfs::fcntl_add_seals(fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
    Ok(())
}

/// Whether the file's size is sealed (see [`seal_size`]).
#[must_use]
pub fn size_is_sealed(fd: FdRef<'_>) -> bool {
    rfs::fcntl_get_seals(fd).is_ok_and(|s| s.contains(SealFlags::SHRINK))
}

/// An unnamed file in the shared-memory directory (`O_TMPFILE`), to be given
/// its name by [`publish`] only once its header is complete.
pub fn create_unnamed_in_shm(mode: u32) -> io::Result<Fd> {
    let fd = with_fd_headroom(|| {
        rfs::openat(
            CWD,
            SHM_DIR,
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map(Fd::from)
        .map_err(io::Error::from)
    })?;
    // O_TMPFILE applies the umask; the caller's mode is meant exactly.
    rfs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    Ok(fd)
}

/// Gives an unnamed file its name, atomically and never over an existing one
/// (`linkat(2)` fails with `EEXIST`).
///
/// `linkat` through `/proc/self/fd` with `AT_SYMLINK_FOLLOW` is the way
/// `open(2)` documents for an `O_TMPFILE` file when the caller lacks
/// `CAP_DAC_READ_SEARCH` for `AT_EMPTY_PATH`. Where `/proc` is not mounted
/// (`ENOENT`), the descriptor is linked itself (`AT_EMPTY_PATH`: allowed with
/// that capability, and since Linux 6.10 for a file its caller opened).
pub fn publish(fd: FdRef<'_>, path: &Path) -> io::Result<()> {
    let proc_path = format!("/proc/self/fd/{}", fd.number());
    match rfs::linkat(
        CWD,
        proc_path.as_str(),
        CWD,
        path,
        rfs::AtFlags::SYMLINK_FOLLOW,
    ) {
        Err(Errno::NOENT) if !Path::new("/proc/self/fd").exists() => {
            rfs::linkat(fd, "", CWD, path, rfs::AtFlags::EMPTY_PATH)?;
        }
        other => other?,
    }
    Ok(())
}

/// Opens an existing file, read-write or read-only, close-on-exec and
/// `O_NONBLOCK`, with `extra` flags.
///
/// `O_NONBLOCK`: a FIFO planted where a segment is expected would otherwise
/// block the open until a writer comes (`fifo(7)`); with it the open returns
/// and the empty file is refused as a segment. On a regular file the flag
/// does nothing.
fn open_existing<P: rustix::path::Arg + Copy>(
    path: P,
    writable: bool,
    extra: OFlags,
) -> io::Result<Fd> {
    let access = if writable {
        OFlags::RDWR
    } else {
        OFlags::RDONLY
    };
    with_fd_headroom(|| {
        rfs::openat(
            CWD,
            path,
            access | OFlags::CLOEXEC | OFlags::NONBLOCK | extra,
            Mode::empty(),
        )
        .map(Fd::from)
        .map_err(io::Error::from)
    })
}

/// Opens an existing named file, never following a symbolic link.
pub fn open_named(path: &Path, writable: bool) -> io::Result<Fd> {
    open_existing(path, writable, OFlags::NOFOLLOW)
}

/// Removes a name. Mappings and descriptors of the file stay valid.
pub fn unlink(path: &Path) -> io::Result<()> {
    rfs::unlink(path)?;
    Ok(())
}

/// Renames `from` to `to` in one step, never over an existing `to`
/// (`renameat2(2)` with `RENAME_NOREPLACE`: `EEXIST` if it exists).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    rfs::renameat_with(CWD, from, CWD, to, rfs::RenameFlags::NOREPLACE)?;
    Ok(())
}

/// Opens the file behind descriptor `fd` of process `pid`
/// (`/proc/<pid>/fd/<fd>`): how a process reaches an anonymous segment that a
/// live process holds, when no descriptor could be passed to it.
///
/// The kernel checks that the caller may trace `pid` (same user, in practice).
pub fn open_process_fd(pid: u32, fd: i32, writable: bool) -> io::Result<Fd> {
    // The path is a magic link to the open file: it must be followed.
    open_existing(
        format!("/proc/{pid}/fd/{fd}").as_str(),
        writable,
        OFlags::empty(),
    )
}

/// Duplicates a descriptor (close-on-exec).
pub fn dup(fd: FdRef<'_>) -> io::Result<Fd> {
    with_fd_headroom(|| fd.as_fd().try_clone_to_owned().map(Fd::from))
}

/// Lists the shared-memory directory.
pub fn list_shm_dir() -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(SHM_DIR)? {
        out.push(entry?.path());
    }
    Ok(out)
}

/// A shared mapping of a whole file. Unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// Set when the file's size is not sealed: see [`super::sigbus`].
    guard: Option<super::sigbus::Registration>,
}

// SAFETY: a `Mapping` is a range of addresses valid until drop; it holds no
// thread-bound state. What is done with the bytes is the owner's business.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` gives out only the address and the length.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` shared, readable, and writable if `writable`.
    ///
    /// `len` must be non-zero (`mmap(2)`: "EINVAL ... length was 0"): callers
    /// always map the header, which is at least a page.
    pub fn new(fd: FdRef<'_>, len: usize, writable: bool) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "zero-length mapping",
            ));
        }
        let prot = if writable {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        // SAFETY: a new mapping at an address the kernel chooses aliases no
        // Rust object. The file's size is checked by the caller (the segment
        // size is sealed for memfds and validated against `fstat` for named
        // files) so that the range is backed; should a named file shrink
        // later, the `sigbus` guard registered below keeps the range usable.
        let ptr = unsafe { mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, fd, 0)? };
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        // A file that can shrink (a named file: only memfds can be sealed)
        // would turn an access past its new end into a SIGBUS.
        let guard = (!size_is_sealed(fd))
            .then(|| super::sigbus::register(ptr.as_ptr(), len, if writable { len } else { 0 }));
        Ok(Mapping { ptr, len, guard })
    }

    /// First byte.
    #[must_use]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Makes `[offset, len)` of the mapping read-only.
    pub fn protect_read_only_from(&self, offset: usize) -> io::Result<()> {
        if offset >= self.len {
            return Ok(());
        }
        debug_assert_eq!(offset % page_size(), 0);
        // SAFETY: the range lies inside this mapping (checked above) and
        // `offset` is page-aligned (the data offset is a multiple of the page
        // size). Lowering protection invalidates no Rust reference: the data
        // part is only ever reached through raw pointers.
        unsafe {
            mm::mprotect(
                self.ptr.as_ptr().add(offset).cast::<c_void>(),
                self.len - offset,
                MprotectFlags::READ,
            )?;
        }
        if let Some(g) = &self.guard {
            g.set_writable_len(offset);
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Unregistered first: once unmapped, the range may be reused.
        drop(self.guard.take());
        // SAFETY: `ptr`/`len` are exactly what mmap returned, unmapped once.
        let _ = unsafe { mm::munmap(self.ptr.as_ptr().cast::<c_void>(), self.len) };
    }
}

/// This process's id.
#[must_use]
pub fn current_pid() -> u32 {
    process::getpid().as_raw_nonzero().get() as u32
}

/// When a process started, in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`). With the pid, it names one process for the life of
/// the machine: a pid reused later has another start time.
pub fn process_start_ticks(pid: u32) -> io::Result<u64> {
    task_stat(pid).map(|s| s.start_ticks)
}

/// Whether `pid` has exited but not been reaped (state `Z` or `X`).
#[must_use]
pub fn is_zombie(pid: u32) -> bool {
    task_stat(pid).is_ok_and(|s| s.exited)
}

/// Free bytes of the file system that holds `fd` (tmpfs: its size limit).
pub fn free_bytes_of(fd: FdRef<'_>) -> io::Result<u64> {
    let st = rfs::fstatvfs(fd)?;
    Ok(st.f_bavail * st.f_frsize)
}

/// Sends `payload` with one descriptor attached over a Unix socket
/// (`sendmsg(2)` with an `SCM_RIGHTS` control message).
///
/// The receiver gets its own descriptor of the same open file (`unix(7)`:
/// "the effect is as if ... dup(2)"), valid whatever the sender does next.
/// The descriptor travels with the first byte of `payload`; on a stream
/// socket the rest of `payload` is sent after it if the first call sent only
/// part. `MSG_NOSIGNAL`: a closed peer is `EPIPE`, not a `SIGPIPE`.
pub fn send_with_fd(sock: FdRef<'_>, payload: &[u8], fd: FdRef<'_>) -> io::Result<()> {
    if payload.is_empty() {
        // Linux delivers no ancillary data without at least one byte.
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty payload"));
    }
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other(
            "control buffer too small for one descriptor",
        ));
    }
    let sent = loop {
        match rnet::sendmsg(
            sock,
            &[IoSlice::new(payload)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Err(Errno::INTR) => {}
            other => break other?,
        }
    };
    send_all(sock, &payload[sent..])
}

fn send_all(sock: FdRef<'_>, mut rest: &[u8]) -> io::Result<()> {
    while !rest.is_empty() {
        match rnet::send(sock, rest, SendFlags::NOSIGNAL) {
            Err(Errno::INTR) => {}
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Receives exactly `buf.len()` bytes and the one descriptor sent with them
/// by [`send_with_fd`] (`recvmsg(2)`, `MSG_CMSG_CLOEXEC`).
///
/// Returns `None` for the descriptor if none came with the first byte.
/// Descriptors beyond the first, or that arrive with later bytes, are closed
/// (rustix closes what is left in the control buffer when it is dropped), so
/// a peer cannot make this process leak descriptors. A peer that closes
/// before `buf` is full is `UnexpectedEof`.
pub fn recv_with_fd(sock: FdRef<'_>, buf: &mut [u8]) -> io::Result<Option<Fd>> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rnet::recvmsg(
            sock,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(Errno::INTR) => {}
            other => break other?,
        }
    };
    let mut fd = None;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m {
            if fd.is_none() {
                fd = fds.next().map(Fd::from);
            }
            // Any further descriptors are dropped, and so closed, here.
            fds.for_each(drop);
        }
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(io::Error::other("more descriptors were sent than one"));
    }
    if msg.bytes == 0 && !buf.is_empty() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    recv_exact(sock, &mut buf[msg.bytes..])?;
    Ok(fd)
}

/// This process's soft address-space limit (`RLIMIT_AS`), `None` if unlimited.
#[must_use]
pub fn address_space_limit() -> Option<u64> {
    process::getrlimit(Resource::As).current
}

/// This process's hard limit of open descriptors (`RLIMIT_NOFILE`), `None`
/// if unlimited.
#[must_use]
pub fn open_files_hard_limit() -> Option<u64> {
    process::getrlimit(Resource::Nofile).maximum
}

/// Total RAM plus swap of the machine (`sysinfo(2)`): no segment larger
/// than this can ever be reserved.
#[must_use]
pub fn memory_total() -> u64 {
    let si = rustix::system::sysinfo();
    let unit = u64::from(si.mem_unit.max(1));
    (si.totalram as u64)
        .saturating_add(si.totalswap as u64)
        .saturating_mul(unit)
}

// ---------------------------------------------------------------------------
// Threads and futexes: what the locks of lock.rs, rwlock.rs, barrier.rs and
// event.rs stand on.
// ---------------------------------------------------------------------------

/// The calling thread's id (`gettid(2)`): the id a lock word records.
#[must_use]
pub fn current_tid() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

/// When the calling thread started, in clock ticks since boot (field 22 of
/// `/proc/thread-self/stat`).
pub fn current_thread_start_ticks() -> io::Result<u64> {
    read_task_stat("/proc/thread-self/stat").map(|s| s.start_ticks)
}

/// `/proc/<tid>/stat` of any thread id, not only of a process leader: the
/// kernel serves `/proc/<tid>` for every thread although it lists only the
/// leaders, and the start time there is the thread's own.
pub fn task_stat(tid: u32) -> io::Result<TaskStat> {
    read_task_stat(&format!("/proc/{tid}/stat"))
}

fn read_task_stat(path: &str) -> io::Result<TaskStat> {
    let mut buf = String::new();
    File::open(path)?.read_to_string(&mut buf)?;
    let malformed = || io::Error::other("malformed /proc/<pid>/stat");
    // Field 2, the command name, is in parentheses and may hold anything:
    // count fields after the last ')'. Field 3 is the state.
    let rest = buf
        .rfind(')')
        .map(|i| &buf[i + 1..])
        .ok_or_else(malformed)?;
    let mut fields = rest.split_whitespace();
    let state = fields.next().ok_or_else(malformed)?;
    let threads: u64 = fields
        .nth(20 - 4)
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    let start_ticks = fields
        .nth(22 - 21)
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    Ok(TaskStat {
        start_ticks,
        exited: state == "Z" || state == "X",
        threads: threads.min(u64::from(u32::MAX)) as u32,
    })
}

/// Whether a task with this id exists, by `kill(tid, 0)`: `Some(true)` if it
/// exists and this process may signal it, `Some(false)` if it exists and
/// belongs to another user (`EPERM`), `None` if there is none (`ESRCH`).
/// A thread id works as well as a process id (the kernel finds any task).
#[must_use]
pub fn task_exists(tid: u32) -> Option<bool> {
    // An id past i32::MAX names no task (and, negative, `kill` would read it
    // as a process group, or as "every process" for -1).
    let pid = i32::try_from(tid).ok().and_then(process::Pid::from_raw)?;
    match process::test_kill_process(pid) {
        Ok(()) => Some(true),
        Err(Errno::SRCH) => None,
        Err(_) => Some(false),
    }
}

static FORKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn count_fork_in_child() {
    FORKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How many times this process's ancestry forked into it: changes in the
/// child of every `fork(2)` made after the first call.
///
/// A thread keeps its thread-local storage across `fork`, but the child's
/// thread has a new thread id: whatever caches the thread id checks this
/// counter. No safe wrapper offers `pthread_atfork(3)`, hence raw libc.
#[must_use]
pub fn fork_generation() -> u64 {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        // SAFETY: registers a handler that only increments an atomic, which
        // is async-signal-safe as a forked child's handler must be.
        // `pthread_atfork` fails only with ENOMEM; then the count stays
        // fixed and ids are re-read only per thread.
        unsafe {
            libc::pthread_atfork(None, None, Some(count_fork_in_child));
        }
    });
    FORKS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sleeps while the 32-bit `word` holds `expected`, at most `timeout`
/// (`FUTEX_WAIT`, shared: the word may be in memory shared between
/// processes; the kernel keys the wait by the file page and offset, so every
/// process mapping that page meets the same queue).
///
/// From `futex(2)`: "the loading of the futex word's value, the comparison
/// of that value with the expected value, and the actual blocking will
/// happen atomically", so a wake between the caller's last look at the word
/// and the sleep is not lost.
pub fn futex_wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) -> io::Result<FutexWake> {
    use rustix::thread::futex;
    let ts = timeout.map(|d| futex::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    });
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Ok(()) => Ok(FutexWake::Woken),
        Err(Errno::AGAIN) => Ok(FutexWake::Changed),
        Err(Errno::TIMEDOUT) => Ok(FutexWake::TimedOut),
        Err(Errno::INTR) => Ok(FutexWake::Interrupted),
        Err(e) => Err(e.into()),
    }
}

/// Wakes at most `n` sleepers on `word` (`FUTEX_WAKE`, shared).
pub fn futex_wake(word: &AtomicU32, n: u32) {
    use rustix::thread::futex;
    // Fails only for a bad address, which a reference cannot be.
    let _ = futex::wake(word, futex::Flags::empty(), n.min(i32::MAX as u32));
}

/// Wakes every sleeper on `word`.
pub fn futex_wake_all(word: &AtomicU32) {
    futex_wake(word, i32::MAX as u32);
}

// ---------------------------------------------------------------------------
// Waiting on several words, and the death watch: what the ring's waits
// stand on.
// ---------------------------------------------------------------------------

const _: () = assert!(
    super::watched::WAITERS == rustix::thread::futex::WAITERS
        && super::watched::OWNER_DIED == rustix::thread::futex::OWNER_DIED
        && super::watched::TID_MASK
            == !(rustix::thread::futex::WAITERS | rustix::thread::futex::OWNER_DIED),
    "a watched word's bits are the kernel's robust futex bits"
);

/// Sleeps while each word of `words` holds its value, at most `timeout`
/// (`futex_waitv(2)`, Linux 5.16: shared 32-bit futexes, as [`futex_wait`];
/// the timeout becomes an absolute `CLOCK_MONOTONIC` deadline, so a call
/// the kernel restarts after a signal does not wait longer).
///
/// From the kernel's documentation of futex2: the call "returns the index of
/// the first woken futex"; as with `FUTEX_WAIT`, loading each word,
/// comparing it and queueing the sleeper happen atomically, so a wake after
/// the caller's last look is not lost (`EAGAIN`: a word differed).
///
/// # Errors
/// An [`ErrorKind::Unsupported`] error (`ENOSYS`) on kernels before 5.16:
/// the caller then sleeps on one word at a time. `InvalidInput` for more
/// than [`WAITV_MAX`](super::WAITV_MAX) words.
pub fn futex_waitv(
    words: &[(&AtomicU32, u32)],
    timeout: Option<Duration>,
) -> io::Result<WaitvWake> {
    use rustix::thread::futex;
    if words.len() > super::WAITV_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "futex_waitv waits on at most 128 words",
        ));
    }
    let waiters: Vec<futex::Wait> = words
        .iter()
        .map(|&(word, val)| {
            let mut w = futex::Wait::new();
            w.val = u64::from(val);
            w.uaddr = futex::WaitPtr::new(word.as_ptr().cast::<c_void>());
            // No FUTEX2_PRIVATE: the words are shared between processes.
            w.flags = futex::WaitFlags::SIZE_U32;
            w
        })
        .collect();
    let deadline = timeout.map(|d| {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let nanos = now.tv_nsec + i64::from(d.subsec_nanos());
        futex::Timespec {
            tv_sec: now
                .tv_sec
                .saturating_add(d.as_secs().min(i64::MAX as u64 / 2) as i64)
                .saturating_add(nanos / 1_000_000_000),
            tv_nsec: nanos % 1_000_000_000,
        }
    });
    match futex::waitv(
        &waiters,
        futex::WaitvFlags::empty(),
        deadline.as_ref(),
        futex::ClockId::Monotonic,
    ) {
        Ok(i) => Ok(WaitvWake::Woken(i)),
        Err(Errno::AGAIN) => Ok(WaitvWake::Changed),
        Err(Errno::TIMEDOUT) => Ok(WaitvWake::TimedOut),
        Err(Errno::INTR) => Ok(WaitvWake::Interrupted),
        Err(e) => Err(e.into()),
    }
}

/// The kernel's `struct robust_list` (`set_robust_list(2)`).
#[repr(C)]
struct RobustList {
    next: *mut RobustList,
}

/// The kernel's `struct robust_list_head`.
#[repr(C)]
struct RobustListHead {
    list: RobustList,
    futex_offset: libc::c_long,
    list_op_pending: *mut RobustList,
}

/// A robust list of one entry, whose futex word is the watched word.
#[repr(C)]
struct OneEntryList {
    head: RobustListHead,
    entry: RobustList,
}

/// The watched word's address, handed to the watch's thread.
struct WordPtr(*const AtomicU32);

// SAFETY: the pointer is only dereferenced as an atomic, by the watch's
// thread, while the caller of `watch_death` keeps the word mapped.
unsafe impl Send for WordPtr {}

/// A thread whose end the kernel reports in a word of shared memory: see
/// [`watch_death`]. Dropping it clears the word and ends the thread.
#[derive(Debug)]
pub struct DeathWatch {
    thread: Option<std::thread::JoinHandle<()>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The process that started the thread: a forked child has no such
    /// thread, only a copy of this object.
    pid: u32,
}

/// Starts a death watch on `word`: a small thread ("ndshare-watch") that
/// writes its thread id into the word and sleeps until the watch is
/// dropped, registered with the kernel so that its death, however it comes,
/// marks the word.
///
/// How: the thread registers a robust futex list (`set_robust_list(2)`) of
/// one entry whose futex word is `word`. From the kernel's robust futex ABI
/// (Documentation/locking/robust-futex-ABI.rst): when a thread exits, in
/// any way — `SIGKILL` included, and at `execve(2)` — the kernel walks its
/// list and for each word whose bits 0-29 hold the thread's id "it sets bit
/// 30 (`FUTEX_OWNER_DIED`)", keeps bit 31 (`FUTEX_WAITERS`), "and if bit 31
/// was set, it does a futex wake on that address" (shared, one waiter). So a
/// process that waits on the word with `FUTEX_WAITERS` set in it
/// ([`futex_waitv`]) is woken when the watching process ends, with no
/// polling. The list belongs to the C library in every other thread;
/// this thread saves the C library's registration first and puts it back
/// before it ends, and never takes a lock the C library would list.
///
/// Dropping the watch clears the word (only if it still holds the thread's
/// id), wakes every process waiting on it, and ends the thread. In a forked
/// child the thread does not exist: dropping the child's copy does nothing.
///
/// # Safety
/// `word` must point to a 4-aligned `u32` in a shared, writable mapping
/// that stays mapped, at that address, until the watch is dropped (or this
/// process exits or calls `execve`): the kernel writes to the address when
/// the thread ends. Every access to the word, in every process, must be
/// atomic.
///
/// # Errors
/// The thread cannot start (`EAGAIN`: too many threads), or the kernel has
/// no robust futexes (`ENOSYS`).
///
/// # Example
/// The seam is private to the crate, so this runs as the unit test
/// `tests::a_death_watch_names_its_thread_until_dropped` rather than as a
/// doctest:
/// ```ignore
/// use std::sync::atomic::{AtomicU32, Ordering};
/// // A static stays mapped for ever; a ring uses a word of its mapping.
/// static WORD: AtomicU32 = AtomicU32::new(0);
/// // SAFETY: a static lives as long as the process.
/// let watch = unsafe { sys::watch_death(&raw const WORD)? };
/// assert_ne!(WORD.load(Ordering::SeqCst), 0); // the watch's thread id
/// drop(watch);
/// assert_eq!(WORD.load(Ordering::SeqCst), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn watch_death(word: *const AtomicU32) -> io::Result<DeathWatch> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<io::Result<()>>(1);
    let target = WordPtr(word);
    let stop_in_thread = std::sync::Arc::clone(&stop);
    let thread = with_signals_blocked(|| {
        std::thread::Builder::new()
            .name("ndshare-watch".into())
            .stack_size(64 * 1024)
            .spawn(move || watch_thread(&target, &stop_in_thread, &ready_tx))
    })?;
    let started = ready_rx
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the watch thread ended at its start")));
    if let Err(e) = started {
        let _ = thread.join();
        return Err(e);
    }
    Ok(DeathWatch {
        thread: Some(thread),
        stop,
        pid: current_pid(),
    })
}

/// Runs `f` with every signal blocked in the calling thread, so that a
/// thread it starts inherits a full mask: no handler of this process (which
/// may take a lock, or write to a wake-up pipe) ever runs on the watch's
/// thread, and a signal meant to interrupt a wait is delivered to another
/// thread than it.
fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the set it is given; pthread_sigmask
    // reads the full set and writes the old mask into `old`, both valid
    // pointers to sigset_t. The mask is restored below.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_BLOCK, all.as_ptr(), old.as_mut_ptr());
    }
    let out = f();
    // SAFETY: restores the mask saved above, a valid initialised sigset_t.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut());
    }
    out
}

/// The body of a watch's thread (see [`watch_death`]).
fn watch_thread(
    word: &WordPtr,
    stop: &std::sync::atomic::AtomicBool,
    ready: &std::sync::mpsc::SyncSender<io::Result<()>>,
) {
    use std::sync::atomic::Ordering::{Acquire, SeqCst};
    let mut saved_head: *mut RobustListHead = std::ptr::null_mut();
    let mut saved_len: libc::size_t = 0;
    // SAFETY: `get_robust_list(0, ...)` writes the calling thread's list
    // head and its length into the two out-pointers, both valid for writes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0,
            &raw mut saved_head,
            &raw mut saved_len,
        )
    };
    if rc != 0 {
        let _ = ready.send(Err(io::Error::last_os_error()));
        return;
    }
    let mut list = Box::new(OneEntryList {
        head: RobustListHead {
            list: RobustList {
                next: std::ptr::null_mut(),
            },
            futex_offset: 0,
            list_op_pending: std::ptr::null_mut(),
        },
        entry: RobustList {
            next: std::ptr::null_mut(),
        },
    });
    let entry = &raw mut list.entry;
    // A circular list: head -> entry -> head. The kernel finds the futex
    // word of an entry at its address plus `futex_offset`.
    list.head.list.next = entry;
    list.entry.next = &raw mut list.head.list;
    list.head.futex_offset = (word.0 as isize).wrapping_sub(entry as isize) as libc::c_long;
    // SAFETY: registers a list the kernel only reads (and whose futex word
    // it writes) when this thread ends. The list lives in `list`, which is
    // freed only after the C library's registration is put back below, so
    // the kernel never walks freed memory; its word is valid until then by
    // the caller's promise (`watch_death`'s `# Safety`).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_set_robust_list,
            &raw const list.head,
            size_of::<RobustListHead>(),
        )
    };
    if rc != 0 {
        let _ = ready.send(Err(io::Error::last_os_error()));
        return;
    }
    // SAFETY: the word is 4-aligned, mapped and accessed only atomically,
    // until the watch is dropped, which joins this thread first.
    let word = unsafe { &*word.0 };
    let tid = current_tid();
    // The id is stored after the list is registered: from now on the
    // thread's end, however it comes, marks the word.
    word.store(tid, SeqCst);
    let _ = ready.send(Ok(()));
    while !stop.load(Acquire) {
        std::thread::park();
    }
    // The word is cleared while the list is still registered, and only if
    // it still names this thread; then every waiter looks again.
    let cleared = word.fetch_update(SeqCst, SeqCst, |v| {
        (v & super::watched::TID_MASK == tid).then_some(0)
    });
    if cleared.is_ok_and(|v| v & super::watched::WAITERS != 0) {
        futex_wake_all(word);
    }
    // SAFETY: puts back the registration saved above, exactly as the C
    // library made it (or none); after this the kernel no longer knows
    // `list`, which is freed when this function returns.
    unsafe {
        libc::syscall(libc::SYS_set_robust_list, saved_head, saved_len);
    }
    drop(list);
}

impl Drop for DeathWatch {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        if current_pid() != self.pid {
            // A forked child: the thread was not copied, there is nothing to
            // stop or join (joining would wait for ever).
            std::mem::forget(thread);
            return;
        }
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        thread.thread().unpark();
        let _ = thread.join();
    }
}

/// A listening Unix stream socket bound to the abstract `name` (`unix(7)`:
/// no file, gone with its last descriptor), close-on-exec.
pub fn listen_abstract(name: &[u8], backlog: i32) -> io::Result<Fd> {
    let sock = unix_stream_socket()?;
    rnet::bind(&sock, &rnet::SocketAddrUnix::new_abstract_name(name)?)?;
    rnet::listen(&sock, backlog)?;
    Ok(sock)
}

fn unix_stream_socket() -> io::Result<Fd> {
    Ok(rnet::socket_with(
        rnet::AddressFamily::UNIX,
        rnet::SocketType::STREAM,
        rnet::SocketFlags::CLOEXEC,
        None,
    )?
    .into())
}

/// The next connection of `listener`, close-on-exec.
pub fn accept(listener: FdRef<'_>) -> io::Result<Fd> {
    loop {
        match rnet::accept_with(listener, rnet::SocketFlags::CLOEXEC) {
            Err(Errno::INTR) => {}
            other => return Ok(other?.into()),
        }
    }
}

/// A Unix stream socket connected to the abstract `name`, close-on-exec.
pub fn connect_abstract(name: &[u8]) -> io::Result<Fd> {
    let sock = unix_stream_socket()?;
    let addr = rnet::SocketAddrUnix::new_abstract_name(name)?;
    loop {
        match rnet::connect(&sock, &addr) {
            Err(Errno::INTR) => {}
            other => break other?,
        }
    }
    Ok(sock)
}

/// The uid of the process at the other end of a Unix socket, as it was at
/// `connect` (`SO_PEERCRED`).
pub fn peer_uid(sock: FdRef<'_>) -> io::Result<u32> {
    Ok(rnet::sockopt::socket_peercred(sock)?.uid.as_raw())
}

/// This process's real uid.
#[must_use]
pub fn uid() -> u32 {
    process::getuid().as_raw()
}

/// Makes every send and receive on `sock` fail after `timeout` of waiting
/// (`SO_SNDTIMEO`, `SO_RCVTIMEO`: `EAGAIN`).
pub fn set_socket_timeouts(sock: FdRef<'_>, timeout: Duration) -> io::Result<()> {
    rnet::sockopt::set_socket_timeout(sock, rnet::sockopt::Timeout::Recv, Some(timeout))?;
    rnet::sockopt::set_socket_timeout(sock, rnet::sockopt::Timeout::Send, Some(timeout))?;
    Ok(())
}

/// Sends all of `bytes` (`MSG_NOSIGNAL`).
pub fn send_bytes(sock: FdRef<'_>, bytes: &[u8]) -> io::Result<()> {
    send_all(sock, bytes)
}

/// Receives exactly `buf.len()` bytes; `UnexpectedEof` if the peer closes first.
pub fn recv_exact(sock: FdRef<'_>, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match rnet::recv(sock, &mut buf[done..], RecvFlags::empty()) {
            Err(Errno::INTR) => {}
            Ok((0, _)) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok((n, _)) => done += n,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Fills `buf` from the kernel's random source (`getrandom(2)`).
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match rustix::rand::getrandom(&mut buf[done..], rustix::rand::GetRandomFlags::empty()) {
            Err(Errno::INTR) => {}
            Ok(n) => done += n,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Registers handlers run around every `fork(2)` of this process
/// (`pthread_atfork(3)`): `prepare` in the forking thread before the fork,
/// `parent` and `child` after it in each process. No safe wrapper offers
/// it, hence raw libc.
///
/// # Safety
/// `child` runs in a child of a possibly multi-threaded process, where only
/// the forking thread exists: it must not wait for anything another thread
/// could have held at the fork, except what `prepare` took.
pub unsafe fn register_fork_handlers(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) -> io::Result<()> {
    // SAFETY: the caller vouches for the handlers (see `# Safety`).
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Receives what has arrived already, up to `buf.len()` bytes, without
/// waiting (`MSG_DONTWAIT`): 0 if nothing has, or the peer closed.
pub fn recv_ready(sock: FdRef<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rnet::recv(sock, &mut *buf, RecvFlags::DONTWAIT) {
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => return Ok(0),
            Ok((n, _)) => return Ok(n),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::{futex_waitv, watch_death, WaitvWake};

    #[test]
    fn a_death_watch_names_its_thread_until_dropped() {
        static WORD: AtomicU32 = AtomicU32::new(0);
        // SAFETY: a static lives as long as the process.
        let watch = unsafe { watch_death(&raw const WORD) }.unwrap();
        let tid = WORD.load(Ordering::SeqCst);
        assert_ne!(tid, 0);
        assert_ne!(tid, super::current_tid());
        assert!(std::path::Path::new(&format!("/proc/self/task/{tid}")).exists());
        drop(watch);
        assert_eq!(WORD.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn futex_waitv_says_which_word_changed_or_that_time_ran_out() {
        let (a, b) = (AtomicU32::new(1), AtomicU32::new(2));
        assert_eq!(
            futex_waitv(&[(&a, 1), (&b, 3)], None).unwrap(),
            WaitvWake::Changed
        );
        assert_eq!(
            futex_waitv(&[(&a, 1), (&b, 2)], Some(Duration::from_millis(1))).unwrap(),
            WaitvWake::TimedOut
        );
        std::thread::scope(|s| {
            s.spawn(|| {
                while b.load(Ordering::SeqCst) == 2 {
                    super::futex_wake(&b, 1);
                    std::thread::yield_now();
                }
            });
            let woke = futex_waitv(&[(&a, 1), (&b, 2)], None).unwrap();
            b.store(0, Ordering::SeqCst);
            assert_eq!(woke, WaitvWake::Woken(1));
        });
    }
}
