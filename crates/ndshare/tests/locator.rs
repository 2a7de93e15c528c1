//! `Locator::open`: an array another process sent by reference is reached
//! by its name while that still names it, else through the sender's
//! descriptor, and otherwise is `Error::Unreachable` saying why each route
//! failed — never another array's data.

mod common;

use std::io::{BufRead, BufReader, Lines, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use common::{child_arg, Name, CHILD};
use ndshare::{Access, Builder, Error, Locator, SharedArray};

/// The sender: makes an array (named `arg`, or anonymous if `arg` is
/// empty) filled with 7, unlinks the name, prints its locator, and holds
/// the array until its stdin closes.
#[test]
fn sender() {
    let Some(name) = child_arg() else { return };
    let mut b = Builder::new();
    if !name.is_empty() {
        b = b.name(&name);
    }
    let mut a = b.zeros::<u64>(&[512]).unwrap();
    a.as_slice_mut().unwrap().fill(7);
    let f = a.segment().file_info();
    // Unlinked before the locator is printed: the reader goes on as soon as
    // it has the line (stdout is line-buffered), and must find no name.
    if !name.is_empty() {
        a.unlink().unwrap();
    }
    // Straight to the pipe: `println!` may be captured by the test harness.
    let mut out = std::io::stdout();
    writeln!(
        out,
        "LOCATOR {} {} {} {}",
        f.dev,
        f.ino,
        std::process::id(),
        a.segment().fd().as_raw_fd()
    )
    .unwrap();
    out.flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(a);
}

/// The sender, its stdin (close it to let it exit), the rest of its
/// output (kept open until it exits) and the locator it printed.
type Sender = (Child, ChildStdin, Lines<BufReader<ChildStdout>>, Locator);

fn start_sender(name: Option<&str>) -> Sender {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["sender", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name.unwrap_or(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    // The harness may have begun the line ("test sender ... ").
    let line = out
        .by_ref()
        .map(Result::unwrap)
        .find_map(|l| Some(l.split_once("LOCATOR ")?.1.to_owned()))
        .expect("the sender prints its locator");
    let n: Vec<u64> = line.split(' ').map(|t| t.parse().unwrap()).collect();
    let locator = Locator {
        name: name.map(str::to_owned),
        dev: n[0],
        ino: n[1],
        pid: u32::try_from(n[2]).unwrap(),
        fd: i32::try_from(n[3]).unwrap(),
    };
    (child, stdin, out, locator)
}

fn sum(seg: ndshare::Segment) -> u64 {
    let a = ndshare::RawArray::from_segment(seg).typed::<u64>().unwrap();
    a.as_slice().iter().sum()
}

fn unreachable(err: &Error) -> String {
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    err.to_string()
}

#[test]
fn an_unlinked_name_is_reached_through_the_sender_until_it_dies() {
    let name = Name::new("locator-unlinked");
    let (mut child, stdin, _out, at) = start_sender(Some(&name.0));
    // The sender unlinked the name: its descriptor still reaches the memory.
    assert_eq!(sum(at.open(Access::ReadOnly).unwrap()), 7 * 512);
    // The name now names another array: it is not taken for the one sent.
    let other = Builder::new().name(&name.0).zeros::<u64>(&[512]).unwrap();
    let seg = at.open(Access::ReadWrite).unwrap();
    assert_eq!((seg.file_info().dev, seg.file_info().ino), (at.dev, at.ino));
    assert_eq!(sum(seg), 7 * 512);
    // Once the sender is gone, both routes fail, each saying why.
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    let msg = unreachable(&at.open_described(Access::ReadOnly, "array x").unwrap_err());
    assert!(
        msg.starts_with(&format!(
            "cannot reach the array x sent by process {}: ",
            at.pid
        )),
        "{msg}"
    );
    assert!(
        msg.contains("by name: the name now names another array"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("process {} has exited", at.pid)),
        "{msg}"
    );
    assert!(
        msg.contains("A named array is reached by its name"),
        "{msg}"
    );
    other.unlink().unwrap();
    let msg = unreachable(&at.open(Access::ReadOnly).unwrap_err());
    assert!(
        msg.contains(&format!("by name: no shared array named {:?}", name.0)),
        "{msg}"
    );
}

#[test]
fn an_anonymous_array_is_reached_while_its_sender_holds_it() {
    let (mut child, stdin, _out, at) = start_sender(None);
    let seg = at.open(Access::ReadWrite).unwrap();
    assert_eq!(sum(seg), 7 * 512);
    drop(stdin);
    child.wait().unwrap();
    let msg = unreachable(&at.open(Access::ReadOnly).unwrap_err());
    assert!(
        msg.starts_with("cannot reach the anonymous shared array sent by process"),
        "{msg}"
    );
    assert!(!msg.contains("by name"), "{msg}");
    assert!(msg.contains("has exited"), "{msg}");
    assert!(
        msg.contains("to a process of the same user on the same machine"),
        "{msg}"
    );
}

#[test]
fn a_descriptor_now_naming_another_file_is_refused() {
    // This process is the sender: the number names another array now.
    let a = SharedArray::<u64>::zeros(&[4], ndshare::Order::C).unwrap();
    let b = SharedArray::<u64>::zeros(&[4], ndshare::Order::C).unwrap();
    let f = a.segment().file_info();
    let at = Locator {
        name: None,
        dev: f.dev,
        ino: f.ino,
        pid: std::process::id(),
        fd: b.segment().fd().as_raw_fd(),
    };
    let msg = unreachable(&at.open(Access::ReadOnly).unwrap_err());
    assert!(msg.contains("now refers to another file"), "{msg}");
}
