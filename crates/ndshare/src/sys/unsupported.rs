//! Backend for systems ndshare does not support yet: same signatures as
//! `linux.rs`, every call failing with [`io::ErrorKind::Unsupported`], so the
//! crate builds everywhere and says why it cannot work. A port fills these in
//! (e.g. `shm_open` + `SCM_RIGHTS` on the BSDs and macOS).

use std::io;
use std::path::{Path, PathBuf};

use super::{ErrorKind, Fd, FdRef, FileInfo, FutexWake, TaskStat, WaitvWake};

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

/// Sorts an error of this backend: what it returns is
/// [`ErrorKind::Unsupported`].
#[must_use]
pub fn error_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::Unsupported => ErrorKind::Unsupported,
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        io::ErrorKind::OutOfMemory => ErrorKind::OutOfMemory,
        io::ErrorKind::Interrupted => ErrorKind::Interrupted,
        _ => ErrorKind::Other,
    }
}

/// The error number of a kind: none, as this backend does not know how
/// the system numbers its errors.
#[must_use]
pub fn errno_of(_kind: ErrorKind) -> Option<i32> {
    None
}

/// The error of a reservation that can never succeed.
#[must_use]
pub fn out_of_memory() -> io::Error {
    io::ErrorKind::OutOfMemory.into()
}

/// Unsupported.
pub fn file_info(_: FdRef<'_>) -> io::Result<FileInfo> {
    unsupported()
}
/// Unsupported.
pub fn path_info(_: &Path) -> io::Result<FileInfo> {
    unsupported()
}
/// Unsupported.
pub fn memfd(_: &str) -> io::Result<Fd> {
    unsupported()
}
/// Unsupported.
pub fn reserve(_: FdRef<'_>, _: u64) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn write_all_at(_: FdRef<'_>, _: &[u8], _: u64) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn read_at(_: FdRef<'_>, _: &mut [u8], _: u64) -> io::Result<usize> {
    unsupported()
}
/// Unsupported.
pub fn seal_size(_: FdRef<'_>) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
#[must_use]
pub fn size_is_sealed(_: FdRef<'_>) -> bool {
    false
}
/// Unsupported.
pub fn create_unnamed_in_shm(_: u32) -> io::Result<Fd> {
    unsupported()
}
/// Unsupported.
pub fn publish(_: FdRef<'_>, _: &Path) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn open_named(_: &Path, _: bool) -> io::Result<Fd> {
    unsupported()
}
/// Unsupported.
pub fn unlink(_: &Path) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn rename_noreplace(_: &Path, _: &Path) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn open_process_fd(_: u32, _: i32, _: bool) -> io::Result<Fd> {
    unsupported()
}
/// Unsupported.
pub fn dup(_: FdRef<'_>) -> io::Result<Fd> {
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
    pub fn new(_: FdRef<'_>, _: usize, _: bool) -> io::Result<Mapping> {
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
/// Unknown: `None`, as if unlimited.
#[must_use]
pub fn address_space_limit() -> Option<u64> {
    None
}
/// Unknown: `None`, as if unlimited.
#[must_use]
pub fn open_files_hard_limit() -> Option<u64> {
    None
}
/// Unknown: 0, which no size check treats as a limit.
#[must_use]
pub fn memory_total() -> u64 {
    0
}
/// Unsupported.
pub fn free_bytes_of(_: FdRef<'_>) -> io::Result<u64> {
    unsupported()
}
/// Unsupported.
pub fn send_with_fd(_: FdRef<'_>, _: &[u8], _: FdRef<'_>) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn recv_with_fd(_: FdRef<'_>, _: &mut [u8]) -> io::Result<Option<Fd>> {
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

/// Unsupported.
pub fn futex_waitv(
    _: &[(&std::sync::atomic::AtomicU32, u32)],
    _: Option<std::time::Duration>,
) -> io::Result<WaitvWake> {
    unsupported()
}

/// Never constructed on this platform.
#[derive(Debug)]
pub struct DeathWatch {
    _never: std::convert::Infallible,
}

/// Unsupported.
///
/// # Safety
/// None needed: watches nothing.
///
/// # Errors
/// Always [`io::ErrorKind::Unsupported`].
///
/// # Example
/// ```ignore
/// // SAFETY: nothing is registered.
/// assert!(unsafe { sys::watch_death(std::ptr::null()) }.is_err());
/// ```
pub unsafe fn watch_death(_: *const std::sync::atomic::AtomicU32) -> io::Result<DeathWatch> {
    unsupported()
}

/// Unsupported.
pub fn listen_abstract(_: &[u8], _: i32) -> io::Result<Fd> {
    unsupported()
}
/// Unsupported.
pub fn accept(_: FdRef<'_>) -> io::Result<Fd> {
    unsupported()
}
/// Unsupported.
pub fn connect_abstract(_: &[u8]) -> io::Result<Fd> {
    unsupported()
}
/// Unsupported.
pub fn peer_uid(_: FdRef<'_>) -> io::Result<u32> {
    unsupported()
}
/// Unsupported: 0.
#[must_use]
pub fn uid() -> u32 {
    0
}
/// Unsupported.
pub fn set_socket_timeouts(_: FdRef<'_>, _: std::time::Duration) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn send_bytes(_: FdRef<'_>, _: &[u8]) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn recv_exact(_: FdRef<'_>, _: &mut [u8]) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn random_bytes(_: &mut [u8]) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
///
/// # Safety
/// None needed: registers nothing.
pub unsafe fn register_fork_handlers(
    _: extern "C" fn(),
    _: extern "C" fn(),
    _: extern "C" fn(),
) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn recv_ready(_: FdRef<'_>, _: &mut [u8]) -> io::Result<usize> {
    unsupported()
}
