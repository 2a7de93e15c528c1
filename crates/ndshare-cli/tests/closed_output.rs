//! The `ndshare` binary when its output cannot be written.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};

use ndshare::{Layout, Order, Segment};

/// A name of this process's own, unlinked on drop.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Name {
        let me = ndshare::ProcessStamp::current();
        Name(format!("cli-review-{tag}-{}-{}", me.pid, me.start_ticks))
    }

    fn exists(&self) -> bool {
        std::path::Path::new(&format!("{}/ndshare.{}", ndshare::named::SHM_DIR, self.0)).exists()
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = ndshare::unlink(&self.0);
    }
}

fn create(name: &Name) {
    let layout = Layout::contiguous(&[4], 1, Order::C).expect("layout");
    drop(Segment::create(layout, "|u1", Some(&name.0), 0o600).expect("create"));
}

/// Runs `ndshare args` with its stdout a stream whose reader has gone
/// (every write fails with `EPIPE`, as into `| head -1` once head exits).
fn into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = UnixStream::pair().expect("socketpair");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_ndshare"))
        .args(args)
        .stdout(Stdio::from(OwnedFd::from(writer)))
        .output()
        .expect("run ndshare")
}

/// `rm` of several names, one missing, into a closed pipe: the failure is
/// still exit code 1, and every name after the first output is still removed.
#[test]
fn rm_into_a_closed_pipe_removes_every_name_and_reports_the_failure() {
    let (missing, a, b) = (Name::new("missing"), Name::new("a"), Name::new("b"));
    create(&a);
    create(&b);
    let out = into_closed_pipe(&["rm", &missing.0, &a.0, &b.0]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ndshare: no shared array named {:?} (see `ndshare list` for the named arrays)\n",
            missing.0
        )
    );
    assert_eq!(
        (a.exists(), b.exists()),
        (false, false),
        "names left behind"
    );
    assert_eq!(out.status.code(), Some(1), "exit code");
}

/// `gc --verbose` into a closed pipe, as a user who may not remove a stale
/// array (another user's, in the sticky /dev/shm): the first line kept fails
/// to print, and the removal that fails after it must still be reported,
/// on stderr and in the exit code.
#[test]
fn gc_into_a_closed_pipe_still_reports_what_it_could_not_remove() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    const NOBODY: u32 = 65534;
    if !is_root() {
        eprintln!("needs root, to run the command as another user");
        return;
    }
    let prefix = Name::new("gc");
    // Sorted first: kept (its creator, this process, is alive).
    let kept = Name(format!("{}-a", prefix.0));
    create(&kept);
    // Sorted second: stale (its creator's start time names no process),
    // writable by all (so nobody can map it unregistered), root's own.
    let stale = Name(format!("{}-b", prefix.0));
    let layout = Layout::contiguous(&[4], 1, Order::C).expect("layout");
    drop(Segment::create(layout, "|u1", Some(&stale.0), 0o666).expect("create"));
    let path = format!("{}/ndshare.{}", ndshare::named::SHM_DIR, stale.0);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    let me = ndshare::ProcessStamp::current();
    std::os::unix::fs::FileExt::write_all_at(&file, &(me.start_ticks + 1).to_le_bytes(), 72)
        .expect("write the creator's start time");
    let dir = std::env::temp_dir().join(format!("ndshare-review-{}", me.pid));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let exe = dir.join("ndshare");
    std::fs::copy(env!("CARGO_BIN_EXE_ndshare"), &exe).expect("copy the binary");
    let (reader, writer) = UnixStream::pair().expect("socketpair");
    drop(reader);
    let out = Command::new(&exe)
        .args(["gc", "--verbose", "--prefix", &prefix.0])
        .current_dir("/")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::from(OwnedFd::from(writer)))
        .output()
        .expect("run ndshare as nobody");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "ndshare: cannot remove {}: permission denied",
            stale.0
        )) && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "exit code");
    assert!(stale.exists() && kept.exists());
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    })
}
