//! Huge pages on systems ndshare does not support yet: the same signatures
//! as `huge.rs`, each failing with [`io::ErrorKind::Unsupported`] or
//! answering "no huge pages".

use std::io;
use std::path::Path;

use super::{Fd, FdRef, Mapping};

/// The file system an open file lives on, as far as backing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code, reason = "the same variants as on Linux, never found here")]
pub enum FsKind {
    /// A memfd.
    Memfd,
    /// Any other file on a tmpfs.
    Tmpfs,
    /// A file on hugetlbfs.
    Hugetlbfs,
    /// Anything else.
    Other,
}

fn unsupported<T>() -> io::Result<T> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "ndshare supports Linux only for now",
    ))
}

/// Unsupported.
pub fn fs_kind(_: FdRef<'_>) -> io::Result<FsKind> {
    unsupported()
}
/// Unsupported.
pub fn open_dir(_: &Path) -> io::Result<Fd> {
    unsupported()
}
/// Unsupported.
pub fn create_tmpfile_in(_: FdRef<'_>) -> io::Result<Fd> {
    unsupported()
}
/// Unknown: the usual 4096.
#[must_use]
pub fn base_page_size() -> u64 {
    4096
}
/// Unknown: the usual 2 MiB.
#[must_use]
#[allow(dead_code, reason = "the same functions as on Linux")]
pub fn pmd_page_size() -> u64 {
    2 << 20
}
/// Unknown: no.
#[must_use]
pub fn shmem_thp_advise() -> bool {
    false
}
/// Unsupported.
pub fn advise_huge(_: &Mapping) -> io::Result<()> {
    unsupported()
}
/// Unsupported.
pub fn mapping_page_size(_: &Mapping) -> io::Result<Option<u64>> {
    unsupported()
}
/// Unsupported.
pub fn private_huge_tmpfs(_: u64) -> io::Result<Fd> {
    unsupported()
}
