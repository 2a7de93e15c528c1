//! What memory backs a segment, and where a new anonymous one is made.
//!
//! Every process that maps a segment pays about one page fault per page it
//! touches, so the page size sets the cost of sharing. Anonymous segments of
//! at least [`HUGE_THRESHOLD`] bytes are made, in this order of preference:
//!
//! 1. in the directory named by `NDSHARE_HUGE_DIR`, if it is a tmpfs (e.g.
//!    one mounted with `huge=always`);
//! 2. in a private tmpfs mounted with `huge=within_size` in a user and mount
//!    namespace, once per process (`sys::huge::private_huge_tmpfs`): no root,
//!    no system setting;
//! 3. as a memfd, advised to take huge pages (`MADV_HUGEPAGE`) when
//!    `/sys/kernel/mm/transparent_hugepage/shmem_enabled` is `advise`;
//! 4. as a plain memfd.
//!
//! A file of the first two kinds is made with `O_TMPFILE`: it never has a
//! name, and the kernel frees it with its last descriptor and mapping, as it
//! does a memfd. Such a file cannot be sealed (only memfds can); its mappings
//! are guarded against truncation as named arrays' are (`sys::sigbus`).
//!
//! `NDSHARE_HUGE_PAGES=0` turns all of this off for the process;
//! [`crate::Builder::huge_pages`] (`huge_pages=False` in Python) for one array.
//! Smaller segments gain nothing (a huge page is 2 MiB) and stay memfds. Any
//! failure falls back to the next choice silently; the private tmpfs is
//! tried once per process, and its failure remembered.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

use crate::segment::Segment;
use crate::sys::huge::{self, FsKind};
use crate::sys::{self, Fd, FdRef};

/// Anonymous segments of at least this many bytes (header included) go on
/// huge pages where the system allows. Measured (docs/benchmarks.md): from
/// 2 MiB, one huge page, creating and touching a segment costs a tenth or
/// less of a memfd's; below, the file gets no huge page at all.
pub const HUGE_THRESHOLD: u64 = 2 << 20;

/// The kind of memory behind a segment ([`Segment::backing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backing {
    /// An anonymous memfd (`memfd_create(2)`), sealed against resizing.
    Memfd,
    /// An anonymous, never-named file on a tmpfs that gives huge pages.
    HugeTmpfs,
    /// An anonymous, never-named file on a tmpfs without huge pages (a
    /// `NDSHARE_HUGE_DIR` mounted without `huge=`).
    Tmpfs,
    /// A file on hugetlbfs: reserved huge pages.
    Hugetlb,
    /// A named array's file in the shared-memory directory (/dev/shm).
    Shm,
    /// Anything else (a descriptor from another implementation).
    Other,
}

impl Backing {
    /// The name Python's `SharedArray.info().backing` and the CLI give.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Backing::Memfd => "memfd",
            Backing::HugeTmpfs => "huge-tmpfs",
            Backing::Tmpfs => "tmpfs",
            Backing::Hugetlb => "hugetlb",
            Backing::Shm => "shm",
            Backing::Other => "other",
        }
    }
}

impl fmt::Display for Backing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is still to be done to a new anonymous file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Made {
    /// Space reserved already (a tmpfs file is reserved here, so that a
    /// full tmpfs falls back to a memfd).
    pub(crate) reserved: bool,
    /// A memfd, to be sealed.
    pub(crate) sealable: bool,
    /// Map it with `MADV_HUGEPAGE`.
    pub(crate) advise_huge: bool,
}

/// Whether `NDSHARE_HUGE_PAGES=0` (or `false`, `no`, `off`) turned huge pages
/// off for this process.
fn disabled_by_env() -> bool {
    std::env::var_os("NDSHARE_HUGE_PAGES").is_some_and(|v| {
        matches!(
            v.to_string_lossy().trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        )
    })
}

/// The directory `NDSHARE_HUGE_DIR` names, opened once per process, if it
/// is a tmpfs directory. (hugetlbfs is not taken: its mappings must be
/// whole huge pages long.)
fn user_dir() -> Option<FdRef<'static>> {
    static DIR: OnceLock<Option<Fd>> = OnceLock::new();
    DIR.get_or_init(|| {
        let path = std::env::var_os("NDSHARE_HUGE_DIR")?;
        let fd = huge::open_dir(Path::new(&path)).ok()?;
        (huge::fs_kind(fd.borrow()).ok()? == FsKind::Tmpfs).then_some(fd)
    })
    .as_ref()
    .map(Fd::borrow)
}

/// This process's private huge-page tmpfs, mounted at the first call; `None`
/// if it cannot be made here (remembered: it is not tried again).
fn private_dir() -> Option<FdRef<'static>> {
    static DIR: OnceLock<Option<Fd>> = OnceLock::new();
    DIR.get_or_init(|| huge::private_huge_tmpfs(sys::memory_total().max(HUGE_THRESHOLD)).ok())
        .as_ref()
        .map(Fd::borrow)
}

/// A reserved file of `len` bytes in `dir`; `None` if the directory cannot
/// hold it (no space: the caller falls back to a memfd).
fn tmpfile_in(dir: FdRef<'_>, len: u64) -> Option<Fd> {
    let fd = huge::create_tmpfile_in(dir).ok()?;
    sys::reserve(fd.borrow(), len).ok()?;
    Some(fd)
}

/// A new file for an anonymous segment of `len` bytes: on huge pages if
/// `huge` and the system allows (see the module documentation), else a
/// memfd.
pub(crate) fn create_anonymous(len: u64, huge: bool) -> io::Result<(Fd, Made)> {
    let want_huge = huge && len >= HUGE_THRESHOLD && !disabled_by_env();
    if want_huge {
        for dir in [user_dir, private_dir] {
            if let Some(fd) = dir().and_then(|d| tmpfile_in(d, len)) {
                let made = Made {
                    reserved: true,
                    sealable: false,
                    advise_huge: false,
                };
                return Ok((fd, made));
            }
        }
    }
    let made = Made {
        reserved: false,
        sealable: true,
        advise_huge: want_huge && huge::shmem_thp_advise(),
    };
    Ok((sys::memfd("ndshare")?, made))
}

impl Segment {
    /// The kind of memory behind this segment, read from its file
    /// (`fstatfs(2)`, and the name the kernel gives a memfd) and, for a
    /// tmpfs file, from the page size of this process's mapping.
    ///
    /// # Example
    /// ```
    /// use ndshare::{Backing, Layout, Order, Segment};
    /// let small = Segment::create(Layout::contiguous(&[16], 8, Order::C)?, "<f8", None, 0o600)?;
    /// assert_eq!(small.backing(), Backing::Memfd); // under 2 MiB: always a memfd
    /// # Ok::<(), ndshare::Error>(())
    /// ```
    #[must_use]
    pub fn backing(&self) -> Backing {
        match huge::fs_kind(self.fd_ref()) {
            Ok(FsKind::Memfd) => Backing::Memfd,
            Ok(FsKind::Hugetlbfs) => Backing::Hugetlb,
            Ok(FsKind::Tmpfs) if self.header().is_named() => Backing::Shm,
            Ok(FsKind::Tmpfs) if self.page_size() > huge::base_page_size() => Backing::HugeTmpfs,
            Ok(FsKind::Tmpfs) => Backing::Tmpfs,
            Ok(FsKind::Other) | Err(_) => Backing::Other,
        }
    }

    /// The size of the pages the kernel gives this process's mapping of the
    /// segment: 4096 on x86-64, or the huge page size (2 MiB) when the
    /// mapping takes huge pages (`/proc/self/smaps`: `KernelPageSize`, and
    /// `THPeligible` for tmpfs and memfds).
    #[must_use]
    pub fn page_size(&self) -> u64 {
        huge::mapping_page_size(&self.map)
            .ok()
            .flatten()
            .unwrap_or(huge::base_page_size())
    }
}
