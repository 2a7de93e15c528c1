//! The attacher table and gc's policy, across real segments, threads and
//! processes.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};

use ndshare::format::{offset, ATTACH_SLOTS, ATTACH_SLOT_LEN};
use ndshare::named::{self, Outcome, Registered, Status};
use ndshare::{Access, Layout, Order, ProcessStamp, Segment};

mod common;

/// A named array that is unlinked when the test ends, however it ends.
struct Named(String);

impl Named {
    fn new(tag: &str) -> Named {
        Named(common::unique_name(tag))
    }

    fn create(&self) -> Segment {
        let layout = Layout::contiguous(&[4, 4], 8, Order::C).unwrap();
        Segment::create(layout, "<f8", Some(&self.0), 0o600).unwrap()
    }

    fn attach(&self) -> Segment {
        Segment::attach(&self.0, Access::ReadWrite).unwrap()
    }

    fn status(&self) -> Status {
        named::inspect(&self.0).unwrap().status()
    }

    /// Writes `bytes` at `at` in the array's file, as another (possibly
    /// hostile or older) program could.
    fn poke(&self, at: usize, bytes: &[u8]) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/dev/shm/ndshare.{}", self.0))
            .unwrap();
        f.write_all_at(bytes, at as u64).unwrap();
    }

    fn poke_slot(&self, slot: usize, pid: u32, seq: u32, start: u64) {
        let mut b = Vec::new();
        b.extend_from_slice(&pid.to_le_bytes());
        b.extend_from_slice(&seq.to_le_bytes());
        b.extend_from_slice(&start.to_le_bytes());
        self.poke(offset::ATTACHERS + slot * ATTACH_SLOT_LEN, &b);
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = ndshare::unlink(&self.0);
    }
}

#[test]
fn creator_and_attachers_register_and_release() {
    let n = Named::new("reg");
    let me = ProcessStamp::current();
    let creator = n.create();
    assert_eq!(creator.registered(), Registered::Slot(0));
    let a = n.attach();
    assert_eq!(a.registered(), Registered::Slot(1));
    // A named segment that arrives by descriptor registers too.
    let b = Segment::from_borrowed_fd(a.fd(), Access::ReadOnly).unwrap();
    assert_eq!(b.registered(), Registered::Slot(2));

    let t = creator.attachers().unwrap();
    let seen: Vec<_> = t
        .attachers
        .iter()
        .map(|x| (x.slot, x.process, x.alive))
        .collect();
    assert_eq!(seen, vec![(0, me, true), (1, me, true), (2, me, true)]);
    assert_eq!((t.live_processes(), t.overflow), (1, 0));
    assert_eq!(
        n.status(),
        Status::InUse {
            attachers: 1,
            unregistered: 0
        }
    );

    drop(a);
    let slots: Vec<_> = creator
        .attachers()
        .unwrap()
        .attachers
        .iter()
        .map(|x| x.slot)
        .collect();
    assert_eq!(slots, vec![0, 2]);
    drop(b);
    drop(creator);
    assert!(named::inspect(&n.0)
        .unwrap()
        .attachers
        .unwrap()
        .attachers
        .is_empty());
    // Nobody maps it, but its creator (this process) lives.
    assert_eq!(n.status(), Status::CreatorAlive);
}

#[test]
fn anonymous_segments_do_not_register() {
    let seg = Segment::create(
        Layout::contiguous(&[3], 4, Order::C).unwrap(),
        "<i4",
        None,
        0o600,
    )
    .unwrap();
    assert_eq!(seg.registered(), Registered::No);
    assert!(seg.attachers().unwrap().attachers.is_empty());
}

#[test]
fn a_full_table_counts_overflow_and_frees_it() {
    let n = Named::new("full");
    let mut held = vec![n.create()];
    for _ in 1..ATTACH_SLOTS {
        held.push(n.attach());
    }
    let slots: Vec<_> = held.iter().map(Segment::registered).collect();
    assert_eq!(
        slots,
        (0..ATTACH_SLOTS).map(Registered::Slot).collect::<Vec<_>>()
    );

    let extra = n.attach();
    assert_eq!(extra.registered(), Registered::Overflow);
    let t = extra.attachers().unwrap();
    assert_eq!(
        (t.attachers.len(), t.overflow, t.live_count()),
        (ATTACH_SLOTS, 1, 2)
    );
    assert_eq!(
        n.status(),
        Status::InUse {
            attachers: 1,
            unregistered: 1
        }
    );
    drop(extra);
    assert_eq!(held[0].attachers().unwrap().overflow, 0);

    // A freed slot is taken by the next attacher.
    held.remove(17);
    let again = n.attach();
    assert_eq!(again.registered(), Registered::Slot(17));
}

#[test]
fn concurrent_attachers_never_share_a_slot() {
    let n = Named::new("race");
    let creator = n.create();
    let per_thread = 9;
    let threads = (ATTACH_SLOTS - 1) / per_thread;
    let segments: Vec<Segment> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| (0..per_thread).map(|_| n.attach()).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut slots: Vec<usize> = segments
        .iter()
        .map(|s| match s.registered() {
            Registered::Slot(i) => i,
            other => panic!("not in a slot: {other:?}"),
        })
        .collect();
    slots.sort_unstable();
    assert_eq!(slots, (1..ATTACH_SLOTS).collect::<Vec<_>>());
    std::thread::scope(|s| {
        let mut rest = segments;
        while !rest.is_empty() {
            let chunk: Vec<Segment> = rest.drain(..per_thread.min(rest.len())).collect();
            s.spawn(move || drop(chunk));
        }
    });
    let t = creator.attachers().unwrap();
    assert_eq!(
        t.attachers.iter().map(|a| a.slot).collect::<Vec<_>>(),
        vec![0]
    );
}

#[test]
fn reused_pids_count_as_dead_and_their_slots_are_reclaimed() {
    let n = Named::new("reuse");
    let me = ProcessStamp::current();
    let creator = n.create();
    // Every other slot names this very pid with another start time: the
    // processes they describe are gone, and the pid now belongs to us.
    for slot in 1..ATTACH_SLOTS {
        n.poke_slot(slot, me.pid, 2, me.start_ticks + 1);
    }
    let t = creator.attachers().unwrap();
    assert_eq!((t.attachers.len(), t.live().count()), (ATTACH_SLOTS, 1));

    let a = n.attach();
    assert_eq!(a.registered(), Registered::Slot(1));
    drop(a);
    drop(creator);
    assert_eq!(n.status(), Status::CreatorAlive);

    // The creator too: its pid is alive (ours) but not with that start time.
    n.poke(offset::CREATOR_START, &(me.start_ticks + 1).to_le_bytes());
    assert_eq!(n.status(), Status::Stale);

    let dry = named::collect_where(true, |x| x == n.0).unwrap();
    assert_eq!(dry.len(), 1);
    assert!(matches!(dry[0].outcome, Outcome::WouldRemove));
    assert!(named::inspect(&n.0).is_ok());
    let done = named::collect_where(false, |x| x == n.0).unwrap();
    assert!(matches!(done[0].outcome, Outcome::Removed), "{:?}", done[0]);
    assert!(matches!(
        named::inspect(&n.0),
        Err(ndshare::Error::NotFound { .. })
    ));
}

#[test]
fn a_claim_in_progress_counts_while_its_pid_exists() {
    let n = Named::new("claim");
    let me = ProcessStamp::current();
    drop(n.create());
    n.poke(offset::CREATOR_START, &(me.start_ticks + 1).to_le_bytes());
    assert_eq!(n.status(), Status::Stale);
    // Odd seq: the claimer has not written its start time yet.
    n.poke_slot(5, me.pid, 7, 0);
    assert_eq!(
        n.status(),
        Status::InUse {
            attachers: 1,
            unregistered: 0
        }
    );
    // pid 0 is nobody; a pid above pid_max cannot exist.
    n.poke_slot(5, u32::MAX - 1, 7, 0);
    assert_eq!(n.status(), Status::Stale);
}

#[test]
fn a_raised_overflow_counter_keeps_the_array() {
    let n = Named::new("over");
    drop(n.create());
    n.poke(offset::CREATOR_START, &0u64.to_le_bytes());
    assert_eq!(n.status(), Status::Stale);
    n.poke(offset::ATTACH_OVERFLOW, &1u32.to_le_bytes());
    assert_eq!(
        n.status(),
        Status::InUse {
            attachers: 0,
            unregistered: 1
        }
    );
    let kept = named::collect_where(false, |x| x == n.0).unwrap();
    assert!(matches!(kept[0].outcome, Outcome::Kept));
    assert!(named::inspect(&n.0).is_ok());
}

#[test]
fn doubtful_arrays_are_kept() {
    let n = Named::new("doubt");
    let me = ProcessStamp::current();
    drop(n.create());
    n.poke(offset::CREATOR_START, &(me.start_ticks + 1).to_le_bytes());
    assert_eq!(n.status(), Status::Stale);
    // Readable by others who cannot write it: they could map it unregistered.
    let path = format!("/dev/shm/ndshare.{}", n.0);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    assert!(matches!(n.status(), Status::Unverifiable(ref why) if why.contains("other users")));
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // Written by format 1.0, which kept no table.
    n.poke(offset::VERSION_MINOR, &0u16.to_le_bytes());
    assert!(matches!(n.status(), Status::Unverifiable(ref why) if why.contains("1.0")));
    n.poke(offset::VERSION_MINOR, &1u16.to_le_bytes());
    // Corrupt: a header that attach refuses, flagged unusable and kept.
    n.poke(offset::MAGIC, b"XXXXXXXX");
    assert!(matches!(n.status(), Status::Unusable(ref why) if why.contains("magic")));
    let kept = named::collect_where(false, |x| x == n.0).unwrap();
    assert!(matches!(kept[0].outcome, Outcome::Kept));
}

#[test]
fn unlink_if_same_spares_a_new_array_of_the_same_name() {
    let n = Named::new("same");
    let old = n.create();
    let old_id = (old.file_info().dev, old.file_info().ino);
    ndshare::unlink(&n.0).unwrap();
    let new = n.create();
    assert!(!named::unlink_if_same(&n.0, old_id).unwrap());
    assert!(named::inspect(&n.0).is_ok());
    let new_id = (new.file_info().dev, new.file_info().ino);
    assert!(named::unlink_if_same(&n.0, new_id).unwrap());
    assert!(!named::unlink_if_same(&n.0, new_id).unwrap());
}

/// Run as a separate process by `a_killed_attacher_is_seen_dead`: attaches
/// the array named in `NDSHARE_TEST_HOLD` and waits to be killed.
#[test]
fn hold_for_parent() {
    let Ok(name) = std::env::var("NDSHARE_TEST_HOLD") else {
        return;
    };
    let seg = Segment::attach(&name, Access::ReadOnly).unwrap();
    println!("holding {:?}", seg.registered());
    std::thread::sleep(std::time::Duration::from_secs(120));
}

/// A child process that does not outlive a failed test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_killed_attacher_is_seen_dead() {
    let n = Named::new("kill");
    let me = ProcessStamp::current();
    let creator = n.create();
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "hold_for_parent",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("NDSHARE_TEST_HOLD", &n.0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The test harness may print "test hold_for_parent ... " first on the line.
    let holding = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.contains("holding ")))
        .unwrap()
        .unwrap();
    assert!(holding.ends_with("holding Slot(1)"), "{holding}");
    let t = creator.attachers().unwrap();
    let live: Vec<_> = t.live().map(|a| a.process.pid).collect();
    assert_eq!(live, vec![me.pid, child.id()]);

    drop(creator);
    // The creator lives; a live attacher outranks it in the report.
    assert_eq!(
        n.status(),
        Status::InUse {
            attachers: 1,
            unregistered: 0
        }
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let t = named::inspect(&n.0).unwrap().attachers.unwrap();
    let seen: Vec<_> = t
        .attachers
        .iter()
        .map(|a| (a.slot, a.process.pid, a.alive))
        .collect();
    assert_eq!(seen, vec![(1, child.id(), false)]);
    assert_eq!(n.status(), Status::CreatorAlive);
    // The killed process never freed its slot; the next attacher reuses it
    // once the free ones are gone, and until then takes a free one.
    let again = n.attach();
    assert_eq!(again.registered(), Registered::Slot(0));
    let _ = again.fd().as_fd();
}
