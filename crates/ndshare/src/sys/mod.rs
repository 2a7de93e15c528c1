//! The platform seam: every OS call ndshare makes goes through this module.
//!
//! One backend is chosen here, in one line, as memmap2 does. Each backend has
//! the same signatures; `unsupported.rs` returns [`io::ErrorKind::Unsupported`]
//! everywhere so that the crate still builds on other systems and says why it
//! cannot work there (the core turns that into `Error::Unsupported`). To
//! check on Linux that it still compiles and refuses every operation, build
//! with `RUSTFLAGS='--cfg ndshare_unsupported'` (`make check-unsupported`).
//!
//! The seam has a vocabulary of its own, so that no other module of the core
//! is shaped by one system: descriptors are [`Fd`] and [`FdRef`] (`fd.rs`),
//! failures are [`io::Error`](std::io::Error)s that [`error_kind`] sorts into the
//! [`ErrorKind`]s the core acts on. Error numbers, `rustix` and `libc` appear
//! in the backends only.

use std::sync::atomic::{AtomicU32, AtomicU64};

#[cfg_attr(all(target_os = "linux", not(ndshare_unsupported)), path = "linux.rs")]
#[cfg_attr(
    not(all(target_os = "linux", not(ndshare_unsupported))),
    path = "unsupported.rs"
)]
mod imp;

#[cfg(all(target_os = "linux", not(ndshare_unsupported)))]
pub mod sigbus;

#[cfg_attr(all(target_os = "linux", not(ndshare_unsupported)), path = "huge.rs")]
#[cfg_attr(
    not(all(target_os = "linux", not(ndshare_unsupported))),
    path = "huge_unsupported.rs"
)]
pub mod huge;

mod fd;

pub use fd::{Fd, FdRef};
pub use imp::*;

/// The start of every named array's file name in [`SHM_DIR`]: ndshare's
/// files among other programs'. It lives beside the directory, at the
/// bottom of the crate, because error messages name it too.
pub const FILE_PREFIX: &str = "ndshare.";

/// What the core does about a failed OS call: the seam's sorting of the
/// system's error numbers (see each backend's [`error_kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(all(target_os = "linux", not(ndshare_unsupported))),
    allow(dead_code, reason = "the unsupported backend runs out of nothing")
)]
pub enum ErrorKind {
    /// The file or name does not exist (`ENOENT`).
    NotFound,
    /// The name exists already (`EEXIST`).
    AlreadyExists,
    /// Not allowed (`EACCES`, `EPERM`).
    PermissionDenied,
    /// Memory, or address space, ran out (`ENOMEM`).
    OutOfMemory,
    /// The file system (or the memory behind a memfd) has no room for the
    /// file (`ENOSPC`, `EFBIG`).
    NoSpace,
    /// This process has no descriptor left (`EMFILE`).
    TooManyOpenFiles,
    /// The system's table of open files is full (`ENFILE`).
    FileTableFull,
    /// A signal arrived during the call (`EINTR`).
    Interrupted,
    /// The operation does not exist here: the unsupported backend, or a
    /// kernel without the call (`ENOSYS`).
    Unsupported,
    /// Anything else: reported as it is.
    Other,
}

/// How many pages of named arrays cut short under a mapping ndshare has
/// replaced with zeros in this process: each one is an access that would
/// otherwise have been a fatal `SIGBUS` (see the crate documentation,
/// "Sharing and soundness").
#[must_use]
pub fn truncated_pages_replaced() -> u64 {
    #[cfg(all(target_os = "linux", not(ndshare_unsupported)))]
    return sigbus::pages_replaced();
    #[cfg(not(all(target_os = "linux", not(ndshare_unsupported))))]
    return 0;
}

/// What `fstat` tells about an open segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// Device of the file system.
    pub dev: u64,
    /// Inode: with `dev`, names the memory itself, whatever fd or name reaches it.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Whether it is a regular file (not a FIFO, socket or device).
    pub regular: bool,
}

/// What `/proc/<tid>/stat` says about a task (a thread or a process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskStat {
    /// Start time in clock ticks since boot (field 22).
    pub start_ticks: u64,
    /// Whether the task has exited and waits to be reaped (state `Z` or `X`).
    pub exited: bool,
    /// Threads of its process not yet gone (field 20, `num_threads`), an
    /// exited leader included: a process whose main thread ended first
    /// shows as a zombie while its other threads still run.
    pub threads: u32,
}

/// How a [`futex_wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(all(target_os = "linux", not(ndshare_unsupported))),
    allow(dead_code, reason = "the unsupported backend never waits")
)]
pub enum FutexWake {
    /// Woken by [`futex_wake`] (or spuriously).
    Woken,
    /// The word no longer held the expected value (`EAGAIN`).
    Changed,
    /// The timeout elapsed (`ETIMEDOUT`).
    TimedOut,
    /// A signal arrived (`EINTR`).
    Interrupted,
}

/// Most words one [`futex_waitv`] waits on (the kernel's
/// `FUTEX_WAITV_MAX`).
pub const WAITV_MAX: usize = 128;

/// How a [`futex_waitv`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(all(target_os = "linux", not(ndshare_unsupported))),
    allow(dead_code, reason = "the unsupported backend never waits")
)]
pub enum WaitvWake {
    /// Woken on the word of this index (or spuriously).
    Woken(usize),
    /// A word no longer held its expected value (`EAGAIN`).
    Changed,
    /// The timeout elapsed (`ETIMEDOUT`).
    TimedOut,
    /// A signal arrived (`EINTR`).
    Interrupted,
}

/// The bits of a word a [`DeathWatch`] watches: the kernel's robust futex
/// bits (`FUTEX_TID_MASK`, `FUTEX_OWNER_DIED`, `FUTEX_WAITERS` of
/// `futex(2)`), which a ring's member table uses as they are.
pub mod watched {
    /// Bits 0-29: the thread id of the watch (0: no watch).
    pub const TID_MASK: u32 = 0x3fff_ffff;
    /// Bit 30: set by the kernel when the watching thread ended.
    pub const OWNER_DIED: u32 = 0x4000_0000;
    /// Bit 31: set by a process that sleeps on the word, so that the kernel
    /// and the watch wake it.
    pub const WAITERS: u32 = 0x8000_0000;
}

/// The 32-bit half of a 64-bit word that a futex waits on: `high` picks
/// bits 32..64, else bits 0..32.
///
/// Futexes are 32 bits; ndshare's lock words are 64 bits so that one
/// compare-and-swap records an owner's thread id and start time together.
/// Rust code only ever touches the word as a whole; the half is handed to
/// the kernel, which reads it as a 32-bit value. Segment words are
/// little-endian, so bits 0..32 lie at the word's own address.
#[must_use]
pub fn futex_half(word: &AtomicU64, high: bool) -> &AtomicU32 {
    const _: () = assert!(
        cfg!(target_endian = "little"),
        "segment words are little-endian"
    );
    let at = usize::from(high) * 4;
    #[allow(clippy::cast_ptr_alignment, reason = "an 8-aligned word plus 0 or 4")]
    // SAFETY: `at` is 0 or 4, so the result is a 4-aligned, 4-byte part of
    // the 8-byte word, valid for as long as the word is (the returned
    // reference borrows it). Both types are atomic cells, so shared
    // references to overlapping atomics break no aliasing rule; the half is
    // only passed to the futex syscall, never loaded or stored from Rust.
    unsafe {
        &*std::ptr::from_ref(word)
            .cast::<u8>()
            .add(at)
            .cast::<AtomicU32>()
    }
}
