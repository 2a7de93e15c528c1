//! Backend for systems ndshare does not support yet: same signatures as
//! `linux.rs`, every call failing with [`io::ErrorKind::Unsupported`], so the
//! crate builds everywhere and says why it cannot work. A port fills these in
//! (e.g. `shm_open` + `SCM_RIGHTS` on the BSDs and macOS).

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Where named arrays would live.
pub const SHM_DIR: &str = "/dev/shm";
/// Longest file name.
pub const NAME_MAX: usize = 255;

fn unsupported<T>() -> io::Result<T> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "ndshare supports Linux only for now",
    ))
}

/// The page size.
#[must_use]
pub fn page_size() -> usize {
    4096
}

/// What `fstat` tells about an open segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Whether it is a regular file.
    pub regular: bool,
}

/// Unsupported.
pub fn file_info(_: BorrowedFd<'_>) -> io::Result<FileInfo> {
    unsupported()
}
/// Unsupported.
pub fn memfd(_: &str) -> io::Result<OwnedFd> {
    unsupported()
}
/// Unsupported.
pub fn reserve(_: BorrowedFd<'_>, _: u64) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn seal_size(_: BorrowedFd<'_>) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
#[must_use]
pub fn size_is_sealed(_: BorrowedFd<'_>) -> bool {
    false
}
/// Unsupported.
pub fn create_unnamed_in_shm(_: u32) -> io::Result<OwnedFd> {
    unsupported()
}
/// Unsupported.
pub fn publish(_: BorrowedFd<'_>, _: &Path) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn open_named(_: &Path, _: bool) -> io::Result<OwnedFd> {
    unsupported()
}
/// Unsupported.
pub fn unlink(_: &Path) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn open_process_fd(_: u32, _: i32, _: bool) -> io::Result<OwnedFd> {
    unsupported()
}
/// Unsupported.
pub fn dup(_: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    unsupported()
}
/// Unsupported.
pub fn list_shm_dir() -> io::Result<Vec<PathBuf>> {
    unsupported()
}

/// Never constructed on this platform.
#[derive(Debug)]
pub struct Mapping {
    _never: std::convert::Infallible,
}

impl Mapping {
    /// Unsupported.
    pub fn new(_: BorrowedFd<'_>, _: usize, _: bool) -> io::Result<Mapping> {
        unsupported()
    }
    /// Unreachable: no `Mapping` exists.
    #[must_use]
    pub fn as_ptr(&self) -> *mut u8 {
        match self._never {}
    }
    /// Unreachable: no `Mapping` exists.
    #[must_use]
    pub fn len(&self) -> usize {
        match self._never {}
    }
    /// Unreachable: no `Mapping` exists.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        match self._never {}
    }
    /// Unreachable: no `Mapping` exists.
    pub fn protect_read_only_from(&self, _: usize) -> io::Result<()> {
        match self._never {}
    }
}

/// This process's id.
#[must_use]
pub fn current_pid() -> u32 {
    std::process::id()
}
/// Unsupported.
pub fn process_start_ticks(_: u32) -> io::Result<u64> {
    unsupported()
}
/// Unsupported.
#[must_use]
pub fn is_zombie(_: u32) -> bool {
    false
}
/// Unknown: 0, which no size check treats as a limit.
#[must_use]
pub fn memory_total() -> u64 {
    0
}
/// Unsupported.
pub fn free_bytes_of(_: BorrowedFd<'_>) -> io::Result<u64> {
    unsupported()
}
/// Unsupported.
pub fn send_with_fd(_: BorrowedFd<'_>, _: &[u8], _: BorrowedFd<'_>) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn recv_with_fd(_: BorrowedFd<'_>, _: &mut [u8]) -> io::Result<Option<OwnedFd>> {
    unsupported()
}

/// Unsupported: 0 (no thread ids).
#[must_use]
pub fn current_tid() -> u32 {
    0
}
/// Unsupported.
pub fn current_thread_start_ticks() -> io::Result<u64> {
    unsupported()
}
/// What `/proc/<tid>/stat` would say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskStat {
    /// Start time in clock ticks since boot.
    pub start_ticks: u64,
    /// Whether the task has exited.
    pub exited: bool,
}
/// Unsupported.
pub fn task_stat(_: u32) -> io::Result<TaskStat> {
    unsupported()
}
/// Unsupported: every task counts as existing.
#[must_use]
pub fn task_exists(_: u32) -> Option<bool> {
    Some(false)
}
/// Unsupported: no fork tracking.
#[must_use]
pub fn fork_generation() -> u64 {
    0
}
/// How a [`futex_wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FutexWake {
    /// Woken.
    Woken,
    /// The word changed.
    Changed,
    /// The timeout elapsed.
    TimedOut,
    /// A signal arrived.
    Interrupted,
}
/// Unsupported.
pub fn futex_wait(
    _: &std::sync::atomic::AtomicU32,
    _: u32,
    _: Option<std::time::Duration>,
) -> io::Result<FutexWake> {
    unsupported()
}
/// Unsupported: nothing sleeps, nothing to wake.
pub fn futex_wake(_: &std::sync::atomic::AtomicU32, _: u32) {}
/// Unsupported: nothing sleeps, nothing to wake.
pub fn futex_wake_all(_: &std::sync::atomic::AtomicU32) {}
/// The 32-bit half of a 64-bit word (see the Linux backend).
#[must_use]
pub fn futex_half(
    word: &std::sync::atomic::AtomicU64,
    high: bool,
) -> &std::sync::atomic::AtomicU32 {
    let at = usize::from(high) * 4;
    // SAFETY: `at` is 0 or 4: a 4-aligned, 4-byte part of the 8-byte word,
    // valid as long as the word; atomics may alias shared atomics.
    #[allow(clippy::cast_ptr_alignment, reason = "an 8-aligned word plus 0 or 4")]
    unsafe {
        &*std::ptr::from_ref(word)
            .cast::<u8>()
            .add(at)
            .cast::<std::sync::atomic::AtomicU32>()
    }
}
