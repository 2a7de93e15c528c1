//! How named arrays are removed when their names change under the remover.

mod common;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::Name;
use rustix::fs::{renameat_with, RenameFlags, CWD};

fn id(f: &File) -> (u64, u64) {
    let m = f.metadata().expect("fstat");
    (m.dev(), m.ino())
}

fn links(f: &File) -> u64 {
    f.metadata().expect("fstat").nlink()
}

/// `unlink_if_same(name, F1)` must never remove another file, even when the
/// name is switched between F1 and another file F2 while it runs. A second
/// thread swaps the name and a spare name atomically (`RENAME_EXCHANGE`),
/// over and over, so that the name flips between the two files at every
/// instant; `unlink_if_same` is called until it reports that it removed F1.
/// F2 must still have its name (one link) and F1 none.
#[test]
fn unlink_if_same_never_removes_a_replacement() {
    for round in 0..100 {
        let name = Name::new("swap");
        let spare = Name(format!("{}-spare", name.0));
        let f1 = File::create(name.path()).expect("create F1");
        let f2 = File::create(spare.path()).expect("create F2");
        let target = id(&f1);
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let swapper = {
            let (a, b) = (name.path(), spare.path());
            let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // Fails while one of the two names is missing: retried.
                    if renameat_with(CWD, a.as_str(), CWD, b.as_str(), RenameFlags::EXCHANGE)
                        .is_ok()
                    {
                        swaps.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        while swaps.load(Ordering::Relaxed) < 100 {
            std::thread::yield_now();
        }
        let mut calls = 0u32;
        while !ndshare::named::unlink_if_same(&name.0, target).expect("unlink_if_same") {
            calls += 1;
            assert!(calls < 1_000_000, "F1 never removed");
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().expect("swapper");
        assert_eq!(
            (links(&f1), links(&f2)),
            (0, 1),
            "round {round}: the file removed was not F1"
        );
    }
}

/// Creating a named array where `/proc` is not mounted (a minimal container
/// or sandbox): the name is given through the descriptor itself
/// (`AT_EMPTY_PATH`), and a failure is never "no shared array named ...",
/// which would be a lie about a name being created. Run as root in a mount
/// namespace of its own with `/proc` unmounted.
#[test]
fn create_named_without_proc() {
    if let Some(name) = common::child_arg() {
        assert!(
            !std::path::Path::new("/proc/self").exists(),
            "/proc still mounted"
        );
        let layout = ndshare::Layout::contiguous(&[4], 1, ndshare::Order::C).expect("layout");
        match ndshare::Segment::create(layout, "|u1", Some(&name), 0o600) {
            Ok(seg) => {
                seg.write_data(0, &[1, 2, 3, 4]).expect("write");
                let seen = ndshare::Segment::attach(&name, ndshare::Access::ReadOnly)
                    .expect("attach what was created");
                // SAFETY: 4 bytes of data, written above, no writer now.
                let data = unsafe { std::slice::from_raw_parts(seen.data_ptr(), seen.data_len()) };
                assert_eq!(data, &[1, 2, 3, 4]);
            }
            Err(e) => {
                assert!(!matches!(e, ndshare::Error::NotFound { .. }), "{e}");
                // Only an unprivileged user on a kernel older than 6.10
                // cannot link a descriptor without /proc.
                assert_ne!(rustix::process::geteuid().as_raw(), 0, "{e}");
            }
        }
        return;
    }
    if !rustix::process::geteuid().is_root() || !std::path::Path::new("/usr/bin/unshare").exists() {
        eprintln!("needs root and unshare(1) to unmount /proc in a namespace of its own");
        return;
    }
    let name = Name::new("noproc");
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::process::Command::new("/usr/bin/unshare")
        .args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
        .arg("ulimit -c 0; umount -l /proc && exec \"$0\" \"$@\"")
        .arg(exe)
        .args([
            "create_named_without_proc",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(common::CHILD, &name.0)
        .output()
        .expect("spawn the child");
    common::assert_success(&out);
    assert!(
        std::path::Path::new(&name.path()).exists(),
        "the array was not named"
    );
}
