//! The descriptor server across real processes.
//!
//! The parent offers a descriptor; a child process (this test binary re-run,
//! filtered to the same test, with `NDSHARE_TEST_CHILD` set) fetches it. A
//! peer of another uid is refused by `SO_PEERCRED`; that cannot be tested
//! here, since the tests run as one user (as root, a test could not drop to
//! another uid without also losing access to the parent's socket namespace
//! checks it means to exercise).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use ndshare::transport::fdserver::{self, Key, KEY_LEN};
use ndshare::Error;

mod common;
use common::{assert_success, run_child, CHILD};

const CONTENT: &[u8] = b"offered through the descriptor server";

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A file with [`CONTENT`], already unlinked: only its descriptors reach it.
fn offered_file(tag: &str) -> File {
    let path = std::env::temp_dir().join(format!("ndshare-fdserver-{tag}-{}", std::process::id()));
    let mut f = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    f.write_all(CONTENT).unwrap();
    f
}

fn is_refused(e: &Error) -> bool {
    e.to_string().contains("no longer offers this descriptor")
}

#[test]
fn offer_is_taken_once_by_another_process() {
    if let Ok(arg) = std::env::var(CHILD) {
        let (address, key) = arg.split_once(' ').unwrap();
        let (address, key): (Vec<u8>, Key) = (unhex(address), unhex(key).try_into().unwrap());
        let file = File::from(fdserver::fetch(&address, &key).unwrap());
        let mut got = vec![0u8; CONTENT.len()];
        file.read_exact_at(&mut got, 0).unwrap();
        assert_eq!(got, CONTENT);
        let again = fdserver::fetch(&address, &key).unwrap_err();
        assert!(is_refused(&again), "{again}");
        return;
    }
    let file = offered_file("once");
    let (address, key) = fdserver::offer(file.as_fd()).unwrap();
    drop(file); // the offer holds its own duplicate
    assert_eq!(address[0], 0, "an abstract socket address");
    assert!(address[1..].starts_with(b"ndshare-fd-"));
    assert_eq!(key.len(), KEY_LEN);
    let out = run_child(
        "offer_is_taken_once_by_another_process",
        &format!("{} {}", hex(&address), hex(&key)),
    );
    assert_success(&out);
    assert!(fdserver::wait_until_taken(Duration::from_secs(10)));
    // Taken by the child: refused to this process too.
    let again = fdserver::fetch(&address, &key).unwrap_err();
    assert!(is_refused(&again), "{again}");
}

#[test]
fn unknown_key_and_absent_server_are_errors() {
    let file = offered_file("unknown");
    let (address, key) = fdserver::offer(file.as_fd()).unwrap();
    let mut wrong = key;
    wrong[0] ^= 1;
    assert!(is_refused(&fdserver::fetch(&address, &wrong).unwrap_err()));
    // Still offered under the right key; the last offer taken ends the wait.
    assert!(!fdserver::wait_until_taken(Duration::ZERO));
    let fd = fdserver::fetch(&address, &key).unwrap();
    let mut got = vec![0u8; CONTENT.len()];
    File::from(fd).read_exact_at(&mut got, 0).unwrap();
    assert_eq!(got, CONTENT);

    let mut gone = b"\0ndshare-fd-".to_vec();
    gone.extend_from_slice(hex(&[0u8; 16]).as_bytes());
    let e = fdserver::fetch(&gone, &key).unwrap_err();
    assert!(
        e.to_string().contains("cannot reach the sending process"),
        "{e}"
    );
    assert!(matches!(
        fdserver::fetch(b"/not/abstract", &key),
        Err(Error::InvalidHandle(_))
    ));
}

#[test]
fn stalled_peer_does_not_hold_up_others() {
    use std::io::Read;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};

    let (first, second) = (offered_file("stalled-1"), offered_file("stalled-2"));
    let (address, stalled_key) = fdserver::offer(first.as_fd()).unwrap();
    let (_, key) = fdserver::offer(second.as_fd()).unwrap();
    // A peer that sends half its key, then nothing.
    let addr = SocketAddr::from_abstract_name(&address[1..]).unwrap();
    let mut stalled = UnixStream::connect_addr(&addr).unwrap();
    stalled.write_all(&stalled_key[..KEY_LEN / 2]).unwrap();
    // Served meanwhile...
    let fd = fdserver::fetch(&address, &key).unwrap();
    let mut got = vec![0u8; CONTENT.len()];
    File::from(fd).read_exact_at(&mut got, 0).unwrap();
    assert_eq!(got, CONTENT);
    // ...while the stalled peer's connection still waits for the rest.
    stalled.write_all(&stalled_key[KEY_LEN / 2..]).unwrap();
    let mut reply = Vec::new();
    stalled.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"+");
}
