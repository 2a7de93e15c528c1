//! `ArrayReport`: what `ndshare info`/`list` show and Python's
//! `ndshare.info()` returns, as raw values, for arrays made and held by
//! other processes.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{child_arg, Name, CHILD};
use ndshare::named::{self, Status};
use ndshare::{Builder, Order, ProcessStamp};

/// The creator: makes the named array `arg` (3 x 4 float32, F order, mode
/// 0640), says so, and holds it until its stdin closes or it is killed.
#[test]
fn creator() {
    let Some(name) = child_arg() else { return };
    let a = Builder::new()
        .name(&name)
        .order(Order::F)
        .mode(0o640)
        .zeros::<f32>(&[3, 4])
        .unwrap();
    // Straight to the pipe: `println!` may be captured by the test harness.
    let mut out = std::io::stdout();
    writeln!(out, "CREATED").unwrap();
    out.flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(a);
}

#[test]
fn a_report_says_what_the_header_and_the_table_say() {
    let name = Name::new("report");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["creator", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, &name.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open until the creator exits, which writes more.
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    // The harness may have begun the line ("test creator ... ").
    assert!(out
        .by_ref()
        .map(Result::unwrap)
        .any(|l| l.ends_with("CREATED")));
    let pid = child.id();

    let r = named::report(&name.0).unwrap();
    assert_eq!(r.name.as_deref(), Some(name.0.as_str()));
    assert_eq!(r.path, Some(name.path()));
    assert_eq!(r.error, None);
    let h = r.header.as_ref().unwrap();
    assert_eq!(h.dtype, "<f4");
    assert_eq!(
        (h.itemsize, h.shape.as_slice(), h.strides.as_slice()),
        (4, &[3u64, 4][..], &[4i64, 12][..])
    );
    assert_eq!(
        (h.order, h.nbytes, h.header_bytes % 4096),
        (Some(Order::F), 48, 0)
    );
    assert_eq!(h.format_version.0, ndshare::format::VERSION_MAJOR);
    assert!(h.named);
    assert_eq!(h.mode, 0o640);
    assert_eq!(h.creator.pid, pid);
    assert!(h.creator_alive);
    assert_eq!(h.attachers.len(), 1);
    assert_eq!(
        (h.attachers[0].process.pid, h.attachers[0].alive),
        (pid, true)
    );
    assert_eq!((h.live_attachers, h.unregistered_attachers), (1, 0));
    assert!(matches!(
        r.status,
        Some(Status::InUse {
            attachers: 1,
            unregistered: 0
        })
    ));
    // Raw values in the serialized form too: the mode is a number.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["header"]["mode"], 0o640);
    assert_eq!(json["header"]["creator"]["pid"], pid);

    // The same report through the list.
    let listed = named::reports().unwrap();
    assert_eq!(listed.iter().find(|e| e.name == r.name), Some(&r));

    // Killed: its slot is left by a dead process, and its creator is dead.
    child.kill().unwrap();
    child.wait().unwrap();
    let r = named::report(&name.0).unwrap();
    let h = r.header.as_ref().unwrap();
    assert!(!h.creator_alive && !h.attachers[0].alive && h.live_attachers == 0);
    // Mode 0640 lets the group map it unregistered: gc cannot vouch for it.
    assert!(matches!(&r.status, Some(Status::Unverifiable(why)) if why.contains("0640")));
    assert!(!r.is_stale());
}

#[test]
fn an_unusable_file_is_reported_with_the_reason() {
    let name = Name::new("report-garbage");
    std::fs::write(name.path(), b"not a segment".repeat(400)).unwrap();
    let r = named::report(&name.0).unwrap();
    assert!(r.header.is_none());
    let why = r.error.clone().unwrap();
    assert!(why.contains("bad magic"), "{why}");
    assert_eq!(r.status, Some(Status::Unusable(why)));
}

#[test]
fn an_anonymous_segment_has_no_name_path_or_status() {
    let a = ndshare::SharedArray::<i16>::zeros(&[5], Order::C).unwrap();
    let r = a.segment().report().unwrap();
    assert_eq!((r.name, r.path, r.status), (None, None, None));
    let h = r.header.unwrap();
    assert_eq!((h.dtype.as_str(), h.nbytes, h.named), ("<i2", 10, false));
    assert_eq!(h.creator, ProcessStamp::current());
    assert!(h.attachers.is_empty());
}
