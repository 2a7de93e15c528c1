//! `Segment::from_process_fd`: the memory another process holds, or a
//! reason why not — never another file's data.

use std::os::fd::AsRawFd;

use ndshare::{Access, Error, Layout, Order, Segment};

fn segment() -> Segment {
    let layout = Layout::contiguous(&[16], 8, Order::C).unwrap();
    Segment::create(layout, "<f8", None, 0o600).unwrap()
}

fn id(seg: &Segment) -> (u64, u64) {
    let f = seg.file_info();
    (f.dev, f.ino)
}

fn reason(err: Error) -> String {
    match err {
        Error::Unreachable { reason, .. } => reason,
        other => panic!("expected Error::Unreachable, got {other:?}"),
    }
}

#[test]
fn reaches_a_live_holders_segment() {
    let seg = segment();
    let fd = seg.fd().as_raw_fd();
    let other =
        Segment::from_process_fd(std::process::id(), fd, id(&seg), Access::ReadWrite).unwrap();
    assert_eq!(id(&other), id(&seg));
    // SAFETY: both mappings hold 128 data bytes and are alive; nothing
    // else writes them.
    unsafe {
        seg.data_ptr().add(127).write(0xA5);
        assert_eq!(other.data_ptr().add(127).read(), 0xA5);
    }
}

#[test]
fn another_file_behind_the_number_is_refused() {
    let a = segment();
    let b = segment();
    let err = Segment::from_process_fd(
        std::process::id(),
        b.fd().as_raw_fd(),
        id(&a),
        Access::ReadOnly,
    )
    .unwrap_err();
    assert!(reason(err).contains("now refers to another file"));
}

#[test]
fn a_closed_descriptor_of_a_live_process() {
    let a = segment();
    // A number no descriptor of this process has (tests run in threads:
    // a number just closed could be taken again at once).
    let closed = 999_999;
    let err =
        Segment::from_process_fd(std::process::id(), closed, id(&a), Access::ReadOnly).unwrap_err();
    let why = reason(err);
    assert!(why.contains("has closed it"), "{why}");
}

#[test]
fn an_exited_process() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let a = segment();
    let err =
        Segment::from_process_fd(pid, a.fd().as_raw_fd(), id(&a), Access::ReadOnly).unwrap_err();
    let why = reason(err);
    assert!(why.contains(&format!("process {pid} has exited")), "{why}");
}
