//! Named arrays appear whole or not at all: the name is linked only once the
//! header and the data are final, and a failed or killed creation leaves no
//! name behind.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{assert_success, child_arg, run_child, shm_free_bytes, spawn_child, Name};
use ndshare::{Access, Builder, Error, RawArray, SharedArray};

const MIB: usize = 1 << 20;

/// 64 MiB, long enough to write that a kill lands mid-way (a debug build
/// copies it element by element), if /dev/shm has room for it twice over.
fn array_len() -> Option<usize> {
    let free = shm_free_bytes();
    let len = 64 * MIB;
    (free > (2 * len + 16 * MIB) as u64).then_some(len)
}

/// The child makes a named array of `len` bytes of 7 (`kind`: through
/// `from_slice` or `from_array`) and waits to be killed; the parent kills it
/// the moment the name appears. Whatever the instant, the name is either
/// absent or names an array whose every byte is 7.
#[test]
fn killed_creator_leaves_no_name_or_the_whole_array() {
    const TEST: &str = "killed_creator_leaves_no_name_or_the_whole_array";
    if let Some(arg) = child_arg() {
        let [kind, name, len] = arg.split(' ').collect::<Vec<_>>()[..] else {
            panic!("bad child argument {arg:?}");
        };
        let len: usize = len.parse().expect("length");
        let builder = Builder::new().name(name);
        let _made: SharedArray<u8> = match kind {
            "slice" => builder.from_slice(&vec![7u8; len], &[len]),
            _ => builder.from_array(&ndarray::Array1::from_elem(len, 7u8)),
        }
        .expect("create");
        std::thread::sleep(Duration::from_secs(120));
        return;
    }
    let Some(len) = array_len() else {
        eprintln!("skipped: /dev/shm has less than 144 MiB free");
        return;
    };
    for kind in ["slice", "array"] {
        for _ in 0..3 {
            let name = Name::new("whole");
            let mut child = spawn_child(TEST, &format!("{kind} {} {len}", name.0));
            let deadline = Instant::now() + Duration::from_secs(60);
            while !Path::new(&name.path()).exists() {
                if let Some(status) = child.try_wait().expect("wait") {
                    panic!("the creator ended ({status}) without naming the array");
                }
                assert!(
                    Instant::now() < deadline,
                    "the creator never named the array"
                );
            }
            child.kill().expect("SIGKILL the creator");
            child.wait().expect("reap the creator");
            match RawArray::attach(&name.0, Access::ReadOnly) {
                Err(Error::NotFound { .. }) => {}
                Ok(a) => {
                    #[allow(clippy::naive_bytecount, reason = "one count, in a test")]
                    let done = a.as_bytes().iter().filter(|b| **b == 7).count();
                    assert_eq!(
                        (done, a.layout().shape()),
                        (len, &[len as u64][..]),
                        "{kind}: only {done} of {len} bytes were written when the name appeared"
                    );
                }
                Err(e) => panic!("{kind}: {e}"),
            }
        }
    }
}

/// A creation that fails after its file exists (here: the mapping, in a
/// process whose address space is too small for it) leaves no name, and the
/// name can be taken right after.
#[test]
fn failed_creation_leaves_no_name() {
    const TEST: &str = "failed_creation_leaves_no_name";
    if let Some(name) = child_arg() {
        let len = 64 * MIB;
        let src = vec![7u8; len];
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let vm_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmSize:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmSize");
        let limit = (vm_kib << 10) + (32 << 20);
        let lim = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: setrlimit reads the struct, which lives across the call.
        let set = unsafe { libc::setrlimit(libc::RLIMIT_AS, &raw const lim) };
        assert_eq!(set, 0, "setrlimit");
        let err = Builder::new()
            .name(&name)
            .from_slice(&src, &[len])
            .expect_err("the mapping cannot fit");
        assert!(matches!(err, Error::OutOfMemory { .. }), "{err}");
        return;
    }
    if array_len().is_none() {
        eprintln!("skipped: /dev/shm has less than 144 MiB free");
        return;
    }
    let name = Name::new("failed");
    assert_success(&run_child(TEST, &name.0));
    assert!(
        !Path::new(&name.path()).exists(),
        "a failed creation left its name"
    );
    let a = Builder::new()
        .name(&name.0)
        .from_slice(&[1u32, 2, 3], &[3])
        .expect("the name is free");
    assert_eq!(
        SharedArray::<u32>::attach(&name.0)
            .expect("attach")
            .as_slice(),
        a.as_slice()
    );
}

/// Creating over an existing name fails with [`Error::AlreadyExists`],
/// says what to do, and leaves the existing array as it was.
#[test]
fn creation_over_an_existing_name_changes_nothing() {
    let name = Name::new("exists");
    let first = Builder::new()
        .name(&name.0)
        .from_slice(&[1i64, 2, 3], &[3])
        .expect("create");
    let err = Builder::new()
        .name(&name.0)
        .from_slice(&[9i64, 9, 9, 9], &[4])
        .expect_err("the name is taken");
    assert!(
        matches!(&err, Error::AlreadyExists { name: n } if *n == name.0),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("ndshare.attach({:?})", name.0))
            && msg.contains(&format!("ndshare rm {}", name.0)),
        "{msg}"
    );
    let seen = SharedArray::<i64>::attach(&name.0).expect("attach");
    assert_eq!(
        (seen.as_slice(), first.name()),
        (&[1, 2, 3][..], Some(name.0.as_str()))
    );
}

/// A missing name says where the named arrays are listed.
#[test]
fn missing_name_points_to_the_list() {
    let name = Name::new("missing");
    let err = SharedArray::<u8>::attach(&name.0).expect_err("no such array");
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("`ndshare list`"), "{err}");
}
