//! Huge pages for anonymous segments, without root and without a system
//! setting.
//!
//! Every process that maps a segment pays about one page fault per page it
//! touches; with 2 MiB pages instead of 4 KiB ones, 512 times fewer. The
//! kernel's own tmpfs mount, which backs memfds, uses huge pages only if
//! `/sys/kernel/mm/transparent_hugepage/shmem_enabled` says so (`never` on
//! many systems). A tmpfs *mount* has its own `huge=` option, and any user may
//! mount one inside a new user and mount namespace (`user_namespaces(7)`:
//! tmpfs is mountable there). [`private_huge_tmpfs`] does that in a short-lived
//! helper process and hands the mounted directory back by descriptor; files
//! made in it with `O_TMPFILE` are unlinked from birth and freed by the kernel
//! with their last descriptor and mapping, exactly like memfds.
//!
//! The directory stays usable after the helper exits: an open descriptor
//! keeps its mount alive even once the namespace that held the mount is gone
//! (the mount is then detached, reachable by no path).

use std::ffi::{CStr, CString};
use std::fs;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use rustix::fs::{self as rfs, Mode, OFlags};
use rustix::mount::{self, MountFlags, MountPropagationFlags};
use rustix::net::{self as rnet, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::process::{self, Pid, WaitOptions};
use rustix::thread::UnshareFlags;

use super::{Fd, FdRef, Mapping};

/// `statfs(2)`'s `f_type` of tmpfs (and of memfds, which live on the kernel's
/// internal tmpfs mount).
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// `statfs(2)`'s `f_type` of hugetlbfs.
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6_u32 as i64;

/// The file system an open file lives on, as far as backing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    /// A memfd (`memfd_create(2)`).
    Memfd,
    /// Any other file on a tmpfs.
    Tmpfs,
    /// A file on hugetlbfs (or a `MFD_HUGETLB` memfd).
    Hugetlbfs,
    /// Anything else.
    Other,
}

/// Which file system holds `fd` (`fstatfs(2)`); a memfd is told from other
/// tmpfs files by the name the kernel gives it (`/proc/self/fd/<n>` reads
/// `/memfd:<label> (deleted)`).
pub fn fs_kind(fd: FdRef<'_>) -> io::Result<FsKind> {
    let st = rfs::fstatfs(fd)?;
    #[allow(clippy::useless_conversion, reason = "f_type is i32 on some targets")]
    let kind = i64::from(st.f_type);
    if kind == HUGETLBFS_MAGIC {
        return Ok(FsKind::Hugetlbfs);
    }
    if kind != TMPFS_MAGIC {
        return Ok(FsKind::Other);
    }
    let link = fs::read_link(format!("/proc/self/fd/{}", fd.number()))?;
    Ok(
        if link.as_os_str().as_encoded_bytes().starts_with(b"/memfd:") {
            FsKind::Memfd
        } else {
            FsKind::Tmpfs
        },
    )
}

/// Opens a directory to create files in (`O_PATH | O_DIRECTORY`).
pub fn open_dir(path: &Path) -> io::Result<Fd> {
    Ok(rfs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?
    .into())
}

/// A new file in directory `dir` that never has a name (`O_TMPFILE |
/// O_EXCL`: `open(2)` says such a file cannot be linked into the file
/// system later), readable and writable by this user only. Like a memfd, it
/// is freed when its last descriptor and mapping go.
pub fn create_tmpfile_in(dir: FdRef<'_>) -> io::Result<Fd> {
    let fd = rfs::openat(
        dir,
        c".",
        OFlags::TMPFILE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    // O_TMPFILE applies the umask; 0600 is meant exactly.
    rfs::fchmod(&fd, Mode::from_raw_mode(0o600))?;
    Ok(fd.into())
}

/// The machine's base page size.
#[must_use]
pub fn base_page_size() -> u64 {
    super::page_size() as u64
}

/// The size of a transparent huge page (`hpage_pmd_size`; 2 MiB on x86-64).
#[must_use]
pub fn pmd_page_size() -> u64 {
    fs::read_to_string("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2 << 20)
}

/// Whether memfds get huge pages on request only
/// (`/sys/kernel/mm/transparent_hugepage/shmem_enabled` is `advise`).
#[must_use]
pub fn shmem_thp_advise() -> bool {
    fs::read_to_string("/sys/kernel/mm/transparent_hugepage/shmem_enabled")
        .is_ok_and(|s| s.contains("[advise]"))
}

/// Asks for huge pages for a mapping (`madvise(MADV_HUGEPAGE)`): under
/// `shmem_enabled = advise`, faults in it then take huge pages.
pub fn advise_huge(map: &Mapping) -> io::Result<()> {
    // SAFETY: the range is exactly a live mapping of this process; the
    // advice changes how its pages are allocated, never their contents.
    unsafe {
        rustix::mm::madvise(
            map.as_ptr().cast(),
            map.len(),
            rustix::mm::Advice::LinuxHugepage,
        )?;
    }
    Ok(())
}

/// The page size the kernel uses for `map`, from this process's
/// `/proc/self/smaps` entry of it: `KernelPageSize` (hugetlb pages), or the
/// transparent huge page size when the mapping may take them (`THPeligible:
/// 1`); `None` if the mapping is not listed.
pub fn mapping_page_size(map: &Mapping) -> io::Result<Option<u64>> {
    let smaps = fs::read_to_string("/proc/self/smaps")?;
    let start = map.as_ptr() as usize;
    let mut inside = false;
    let mut kernel_page = None;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, _)) = first.split_once('-') {
            if !first.ends_with(':') && lo.bytes().all(|b| b.is_ascii_hexdigit()) {
                if inside {
                    break;
                }
                inside = usize::from_str_radix(lo, 16) == Ok(start);
                continue;
            }
        }
        if !inside {
            continue;
        }
        let kb = |l: &str| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        };
        if line.starts_with("KernelPageSize:") {
            kernel_page = kb(line).map(|k| k * 1024);
        } else if line.starts_with("THPeligible:") && kb(line) == Some(1) {
            return Ok(Some(pmd_page_size()));
        }
    }
    Ok(if inside { kernel_page } else { None })
}

/// Why [`private_huge_tmpfs`] failed: the helper's step and its errno.
fn helper_error(step: u8, errno: i32) -> io::Error {
    let what = match step {
        1 => "cannot create a user and mount namespace",
        2 => "cannot write the namespace's uid/gid maps",
        3 => "cannot make the mounts private",
        4 => "cannot mount a tmpfs",
        5 => "cannot open the mounted tmpfs",
        _ => "cannot send the mounted tmpfs",
    };
    let os = io::Error::from_raw_os_error(errno);
    io::Error::new(os.kind(), format!("{what}: {os}"))
}

/// What the helper needs, all of it made before `fork`: the child of a
/// threaded process may not allocate.
struct Plan {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    options: CString,
}

/// Directories the tmpfs may be mounted over, tried in turn. The mount is
/// made in the helper's private mount namespace: it hides nothing from any
/// other process, and is gone with the helper but for the descriptor.
const TARGETS: [&CStr; 3] = [c"/tmp", c"/dev", c"/"];

/// Mounts a private tmpfs with `huge=within_size` (huge pages for every
/// 2 MiB of a file that its size covers), at most `size` bytes, mode 0700,
/// and returns a descriptor of its root directory (`O_PATH`).
///
/// A helper process is forked: it enters a new user namespace (mapping this
/// process's uid and gid to themselves) and mount namespace, mounts the
/// tmpfs there, sends the directory's descriptor back over a socket pair
/// (`SCM_RIGHTS`) and exits; this process reaps it. A process that may not
/// create user namespaces (seccomp, `user.max_user_namespaces = 0`,
/// `kernel.unprivileged_userns_clone = 0`, `AppArmor`) gets the error; with
/// `CAP_SYS_ADMIN` a mount namespace alone is enough and is tried next.
///
/// A process that changed its uid (a daemon dropping root) is not dumpable
/// (`prctl(2)`, `PR_SET_DUMPABLE`), so its helper cannot write its own
/// `/proc/self/uid_map`: it gets the error. Making the helper dumpable would
/// expose a copy of the memory of a process that was root to its new user.
pub fn private_huge_tmpfs(size: u64) -> io::Result<Fd> {
    let (uid, gid) = (process::geteuid().as_raw(), process::getegid().as_raw());
    let plan = Plan {
        uid_map: format!("{uid} {uid} 1").into_bytes(),
        gid_map: format!("{gid} {gid} 1").into_bytes(),
        options: CString::new(format!("huge=within_size,size={size},mode=0700"))
            .map_err(io::Error::other)?,
    };
    let (ours, theirs) = rnet::socketpair(
        rnet::AddressFamily::UNIX,
        rnet::SocketType::STREAM,
        rnet::SocketFlags::CLOEXEC,
        None,
    )?;
    super::set_socket_timeouts(ours.as_fd().into(), Duration::from_secs(10))?;

    // Signals stay blocked in the helper: no handler of this process (which
    // might take a lock or write to a wake-up pipe) ever runs there.
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the set it is given; pthread_sigmask
    // reads the full set and writes the old mask into `old`, both valid
    // pointers to sigset_t. Blocking signals in this thread is undone below.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_BLOCK, all.as_ptr(), old.as_mut_ptr());
    }
    // SAFETY: `clone` with only `SIGCHLD` is `fork(2)` without the
    // `pthread_atfork` handlers (which could take locks other threads hold).
    // The child is a copy of a possibly multi-threaded process in which only
    // this thread exists: it must not allocate or take any lock. It runs
    // `helper`, which makes raw system calls only (rustix's `linux_raw`
    // backend: no libc, no errno) on data prepared above, and leaves with
    // `_exit`, so no destructor and no exit handler of this process runs
    // there. The parent's side only reads the return value.
    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
    if pid == 0 {
        helper(theirs.as_fd(), &plan);
    }
    let fork_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above, a valid initialised sigset_t.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut());
    }
    drop(theirs);
    if pid < 0 {
        return Err(fork_error);
    }
    let pid = Pid::from_raw(pid as i32).ok_or_else(|| io::Error::other("clone gave pid 0"))?;
    let mut status = [0u8; 5];
    let got = super::recv_with_fd(ours.as_fd().into(), &mut status);
    if got.is_err() {
        // A helper that hangs (it never should) is not waited for forever.
        let _ = process::kill_process(pid, process::Signal::KILL);
    }
    // Reaped unless interrupted; an error otherwise means SIGCHLD is
    // ignored by this process, which reaps its children itself.
    while let Err(rustix::io::Errno::INTR) = process::waitpid(Some(pid), WaitOptions::empty()) {}
    let fd = got?;
    let errno = i32::from_le_bytes([status[1], status[2], status[3], status[4]]);
    match (status[0], fd) {
        (0, Some(fd)) => Ok(fd),
        (0, None) => Err(io::Error::other("the helper sent no descriptor")),
        (step, _) => Err(helper_error(step, errno)),
    }
}

/// The helper's body, in the forked child: raw system calls only, then
/// `_exit`. Reports `[step, errno]` to the parent, with the directory's
/// descriptor on success.
fn helper(sock: BorrowedFd<'_>, plan: &Plan) -> ! {
    let (step, errno, dir) = match helper_steps(plan) {
        Ok(dir) => (0u8, 0i32, Some(dir)),
        Err((step, e)) => (step, e.raw_os_error(), None),
    };
    let e = errno.to_le_bytes();
    let msg = [step, e[0], e[1], e[2], e[3]];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(d) = &dir {
        fds = [d.as_fd()];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    let sent = rnet::sendmsg(
        sock,
        &[IoSlice::new(&msg)],
        &mut control,
        SendFlags::NOSIGNAL,
    );
    let code = i32::from(sent != Ok(msg.len()));
    // SAFETY: `_exit` ends the child at once, running nothing of the
    // parent's (no atexit handler, no destructor, no stdio flush).
    unsafe { libc::_exit(code) }
}

fn helper_steps(plan: &Plan) -> Result<OwnedFd, (u8, rustix::io::Errno)> {
    let step = |n: u8| move |e: rustix::io::Errno| (n, e);
    // SAFETY: this process has one thread and shares no file table (neither
    // flag is FILES): nothing can observe the change but this process.
    let user = match unsafe {
        rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNS)
    } {
        Ok(()) => true,
        // SAFETY: as above.
        Err(e) => match unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) } {
            Ok(()) => false,
            Err(_) => return Err((1, e)),
        },
    };
    if user {
        // Writing "deny" first is what allows an unprivileged gid_map (a
        // kernel older than 3.19 has no such file, and needs none).
        match write_file(c"/proc/self/setgroups", b"deny") {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err((2, e)),
        }
        write_file(c"/proc/self/uid_map", &plan.uid_map).map_err(step(2))?;
        write_file(c"/proc/self/gid_map", &plan.gid_map).map_err(step(2))?;
    }
    mount::mount_change(
        c"/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(step(3))?;
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    let mut last = rustix::io::Errno::NOENT;
    for target in TARGETS {
        match mount::mount(
            c"ndshare",
            target,
            c"tmpfs",
            flags,
            Some(plan.options.as_c_str()),
        ) {
            Ok(()) => {
                return rfs::open(
                    target,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(step(5));
            }
            Err(e) => last = e,
        }
    }
    Err((4, last))
}

fn write_file(path: &CStr, bytes: &[u8]) -> rustix::io::Result<()> {
    let fd = rfs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    let n = rustix::io::write(&fd, bytes)?;
    if n == bytes.len() {
        Ok(())
    } else {
        Err(rustix::io::Errno::IO)
    }
}
