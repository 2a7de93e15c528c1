//! Helpers that several integration tests share. Each file under `tests/` is
//! a crate of its own and uses some of them (hence `dead_code` is allowed).
#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A name that no other process, and no other call in this one, has used:
/// `rs-<tag>-<pid>-<start time>-<n>`. The start time matters: a killed run
/// may have left its names behind, and a later process may get its pid, but
/// no earlier process had both.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let me = ndshare::ProcessStamp::current();
    format!(
        "rs-{tag}-{}-{}-{}",
        me.pid,
        me.start_ticks,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A unique name whose file in `/dev/shm` is removed when the guard is
/// dropped, however the test ends (whatever the file is: a test may plant a
/// FIFO or garbage under it).
pub struct Name(pub String);

impl Name {
    pub fn new(tag: &str) -> Name {
        Name(unique_name(tag))
    }

    /// Where the name lives in `/dev/shm`.
    pub fn path(&self) -> String {
        format!("{}/ndshare.{}", ndshare::named::SHM_DIR, self.0)
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
    }
}

/// The environment variable that makes a re-run of the test binary the
/// child of a test, and carries the parent's argument.
pub const CHILD: &str = "NDSHARE_TEST_CHILD";

/// The argument the parent gave, if this process is the child.
pub fn child_arg() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// Runs test `test` of this binary in a new process, as the child, with
/// core dumps off (a test may kill its child with `SIGSEGV` on purpose).
pub fn run_child(test: &str, arg: &str) -> Output {
    run_child_under(test, arg, "")
}

/// As [`run_child`], after the shell commands `setup` (limits, traps).
pub fn run_child_under(test: &str, arg: &str, setup: &str) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    Command::new("/bin/sh")
        .args(["-c", &format!("ulimit -c 0; {setup} exec \"$0\" \"$@\"")])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, arg)
        .output()
        .expect("spawn the child test process")
}

/// Fails the test, with the child's output, unless the child succeeded.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "child failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new memfd that may be sealed, as ndshare makes them, but made here: a
/// descriptor "from elsewhere".
pub fn memfd(label: &str) -> std::os::fd::OwnedFd {
    use rustix::fs::MemfdFlags;
    rustix::fs::memfd_create(label, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
        .expect("memfd_create")
}

/// Whether the file behind `fd` is sealed against shrinking.
pub fn size_is_sealed(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    rustix::fs::fcntl_get_seals(fd).is_ok_and(|s| s.contains(rustix::fs::SealFlags::SHRINK))
}

/// RAM and swap of this machine, in bytes.
pub fn memory_total() -> u64 {
    let si = rustix::system::sysinfo();
    (si.totalram as u64 + si.totalswap as u64) * u64::from(si.mem_unit.max(1))
}

/// Free bytes in the shared-memory directory, where named arrays live.
pub fn shm_free_bytes() -> u64 {
    let st = rustix::fs::statvfs(ndshare::named::SHM_DIR).expect("statvfs /dev/shm");
    st.f_bavail * st.f_frsize
}

/// As [`run_child`], without waiting: the caller watches the child and may
/// kill it. Its output is discarded.
pub fn spawn_child(test: &str, arg: &str) -> std::process::Child {
    let exe = std::env::current_exe().expect("test binary path");
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the child test process")
}
