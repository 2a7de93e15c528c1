//! The lock, the read/write lock and atomics between real processes, from
//! Rust. The test binary runs itself as the child process, with the role in
//! an environment variable.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use ndshare::{Access, Layout, LockError, Order, Segment, SharedArray};

const ROLE: &str = "NDSHARE_TEST_ROLE";
const NAME: &str = "NDSHARE_TEST_NAME";

/// Runs this test binary's test `test` as a child with `role`.
fn spawn(test: &str, role: &str, name: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(NAME, name)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The role this process plays, if it is a child.
fn role() -> Option<(String, String)> {
    Some((std::env::var(ROLE).ok()?, std::env::var(NAME).ok()?))
}

mod common;
use common::unique_name as unique;

/// A named segment of two int64, removed from /dev/shm when dropped.
struct Named(Segment);

impl Named {
    fn new(tag: &str) -> Named {
        let layout = Layout::contiguous(&[2], 8, Order::C).unwrap();
        Named(Segment::create(layout, "<i8", Some(&unique(tag)), 0o600).unwrap())
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = ndshare::unlink(self.0.name().unwrap());
    }
}

const INCREMENTS: i64 = 10_000;

#[test]
fn locked_and_atomic_increments_are_exact_across_processes() {
    const TEST: &str = "locked_and_atomic_increments_are_exact_across_processes";
    if let Some((_, name)) = role() {
        let mut arr = SharedArray::<i64>::attach(&name).unwrap();
        for _ in 0..INCREMENTS {
            {
                let mut locked = arr.lock_mut().unwrap();
                locked[[0]] += 1; // a read and a write: only the lock keeps them together
            }
            let counters = arr.segment().atomics::<i64>().unwrap();
            counters.at(&[1]).unwrap().fetch_add(1, Ordering::SeqCst);
        }
        return;
    }
    let seg = Named::new("inc");
    let name = seg.0.name().unwrap().to_owned();
    let children: Vec<_> = (0..4).map(|_| Reaped(spawn(TEST, "inc", &name))).collect();
    for mut c in children {
        assert!(c.0.wait().unwrap().success());
    }
    let counters = seg.0.atomics::<i64>().unwrap();
    assert_eq!(
        counters.at(&[0]).unwrap().load(Ordering::SeqCst),
        4 * INCREMENTS
    );
    assert_eq!(
        counters.at(&[1]).unwrap().load(Ordering::SeqCst),
        4 * INCREMENTS
    );
}

/// A child that takes `role`'s lock, says so, and waits to be killed.
fn hold_forever(role: &str, name: &str) -> ! {
    let seg = Segment::attach(name, Access::ReadWrite).unwrap();
    match role {
        "lock" => std::mem::forget(seg.lock().unwrap()),
        "read" => std::mem::forget(seg.read_lock().unwrap()),
        _ => std::mem::forget(seg.write_lock().unwrap()),
    }
    // The harness runs the test on a thread of its own: say which.
    println!("holding {}", ndshare::Owner::current().tid);
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// A child process, killed if the test fails before it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a child holding `role`'s lock, kills it; returns the holder's
/// thread id.
fn kill_holder(test: &str, role: &str, name: &str) -> u32 {
    let mut child = Reaped(spawn(test, role, name));
    // The child's test harness prints its own words first, on the same line.
    let out = BufReader::new(child.0.stdout.take().unwrap());
    let tid = out
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split_once("holding ")
                .and_then(|(_, t)| t.trim().parse().ok())
        })
        .expect("the child never held the lock");
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    tid
}

#[test]
fn a_holder_killed_is_reported_to_the_next_taker() {
    const TEST: &str = "a_holder_killed_is_reported_to_the_next_taker";
    if let Some((role, name)) = role() {
        hold_forever(&role, &name);
    }
    let seg = Named::new("kill");
    let name = seg.0.name().unwrap().to_owned();

    let dead = kill_holder(TEST, "lock", &name);
    match seg.0.lock() {
        Err(LockError::OwnerDied { previous, guard }) => {
            assert_eq!(previous.tid, dead);
            drop(guard);
        }
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    assert!(seg.0.try_lock().is_ok());

    let dead = kill_holder(TEST, "write", &name);
    match seg.0.read_lock() {
        Err(LockError::OwnerDied { previous, .. }) => assert_eq!(previous.tid, dead),
        other => panic!("expected OwnerDied, got {other:?}"),
    }

    kill_holder(TEST, "read", &name);
    assert_eq!(seg.0.raw_rwlock().unwrap().readers(), 1);
    // The writer clears the dead reader; nobody is told (readers change nothing).
    assert!(seg.0.write_lock().is_ok());
    assert_eq!(seg.0.raw_rwlock().unwrap().readers(), 0);
}

/// A barrier of three parties between processes: the child waits; the
/// parent's abort breaks its wait, a reset makes the barrier usable again,
/// and a parent's timeout breaks the child's next wait. The child prints what each wait returned.
#[test]
fn barrier_abort_reset_and_timeout_reach_another_process() {
    const TEST: &str = "barrier_abort_reset_and_timeout_reach_another_process";
    let outcome = |r: ndshare::Result<u32>| match r {
        Ok(i) => format!("index {i}"),
        Err(ndshare::Error::BrokenBarrier { parties, .. }) => format!("broken {parties}"),
        Err(e) => format!("error {e}"),
    };
    if let Some((_, handle)) = role() {
        let seg = handle
            .parse::<ndshare::Handle>()
            .unwrap()
            .open(Access::ReadWrite)
            .unwrap();
        let b = ndshare::Barrier::open(&seg).unwrap();
        for round in 0..3 {
            if round > 0 {
                // A broken barrier fails at once: wait for the parent's reset.
                while b.is_broken() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            println!("outcome: {}", outcome(b.wait()));
        }
        return;
    }
    let seg = ndshare::Barrier::create(3).unwrap();
    let b = ndshare::Barrier::open(&seg).unwrap();
    let mut child = Reaped(spawn(TEST, "wait", &ndshare::Handle::of(&seg).to_string()));
    // The child's test harness prints its own words first, on the same line.
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut next = || loop {
        let line = lines.next().expect("the child's output").unwrap();
        if let Some((_, said)) = line.split_once("outcome: ") {
            return said.to_owned();
        }
    };
    let until_waiting = || {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while b.n_waiting() != 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the child never waited"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    until_waiting();
    b.abort();
    assert_eq!(next(), "broken 3");
    assert!(b.is_broken());
    b.reset();
    until_waiting();
    // This process is two of the three parties.
    let mut two = std::thread::scope(|s| {
        let other = s.spawn(|| b.wait());
        [b.wait().unwrap(), other.join().unwrap().unwrap()]
    });
    two.sort_unstable();
    assert_eq!(two, [1, 2]);
    assert_eq!(next(), "index 0");
    until_waiting();
    match b.wait_timeout(Duration::from_millis(50)) {
        Err(e @ ndshare::Error::BrokenBarrier { .. }) => assert_eq!(
            e.to_string(),
            "barrier of 3 parties: 2 arrived before the timeout of 0.05 s"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(next(), "broken 3");
    assert!(child.0.wait().unwrap().success());
}
