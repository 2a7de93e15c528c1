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
        std::path::Path::new(&format!("{}/ndshare.{}", ndshare::sys::SHM_DIR, self.0)).exists()
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
        format!("ndshare: no shared array named {:?}\n", missing.0)
    );
    assert_eq!(
        (a.exists(), b.exists()),
        (false, false),
        "names left behind"
    );
    assert_eq!(out.status.code(), Some(1), "exit code");
}
