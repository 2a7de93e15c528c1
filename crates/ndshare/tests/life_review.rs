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
        while !ndshare::lifetime::unlink_if_same(&name.0, target).expect("unlink_if_same") {
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
