//! Rings from Rust: order, exactly-once delivery, broadcast, overwrite
//! counts, close, a ring of another protocol version, and processes that die
//! while another waits with no timeout (real child processes, killed with
//! `SIGKILL`: only the death can end the wait).

use std::collections::HashSet;
use std::io::BufRead;
use std::os::unix::fs::FileExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ndshare::{Delivery, Error, RawArray, RawRing, Ring, SharedArray, Wait};

mod common;
use common::Name;

fn secs(s: u64) -> Wait<'static> {
    Wait::timeout(Duration::from_secs(s))
}

#[test]
fn queue_delivers_in_order_then_ends_when_closed() {
    let ring = Ring::<u64>::create(&[3], 4, Delivery::Queue, None).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..1000u64 {
                let mut slot = ring.put_with(secs(10)).unwrap();
                slot.view_mut::<u64>().unwrap().fill(i);
                slot.commit().unwrap();
            }
            ring.close();
        });
        let mut next = 0;
        while let Some(item) = ring.get_with(None, secs(10)).unwrap() {
            assert_eq!(item.view::<u64>().unwrap().as_slice().unwrap(), &[next; 3]);
            assert_eq!(item.seq(), next);
            next += 1;
        }
        assert_eq!(next, 1000);
    });
    let st = ring.stats();
    assert_eq!((st.put, st.got, st.closed), (1000, 1000, true));
    assert!(matches!(
        ring.put_with(secs(1)),
        Err(Error::RingClosed { .. })
    ));
}

#[test]
fn queue_gives_each_item_to_exactly_one_of_many_consumers() {
    const PER: u64 = 20_000;
    let ring = Ring::<u64>::create(&[], 8, Delivery::Queue, None).unwrap();
    let seen: Vec<Vec<u64>> = std::thread::scope(|s| {
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let ring = &ring;
                s.spawn(move || {
                    for i in 0..PER {
                        ring.push(&(p * PER + i).to_le_bytes(), secs(20)).unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let ring = &ring;
                s.spawn(move || {
                    let mut got = Vec::new();
                    while let Some(item) = ring.get_with(None, secs(20)).unwrap() {
                        got.push(u64::from_le_bytes(item.bytes().try_into().unwrap()));
                    }
                    got
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        ring.close();
        consumers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let all: Vec<u64> = seen.concat();
    assert_eq!(all.len() as u64, 3 * PER);
    assert_eq!(
        all.iter().copied().collect::<HashSet<_>>().len() as u64,
        3 * PER
    );
}

#[test]
fn broadcast_gives_every_subscriber_every_item() {
    let ring = RawRing::create("<i4", 4, &[2], 3, Delivery::Broadcast, None).unwrap();
    let subs: Vec<_> = (0..3).map(|_| ring.subscribe().unwrap()).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..500i32 {
                let mut slot = ring.put_with(secs(10)).unwrap();
                slot.view_mut::<i32>().unwrap().fill(i);
                slot.commit().unwrap();
            }
            ring.close();
        });
        for &sub in &subs {
            let ring = &ring;
            s.spawn(move || {
                let mut n = 0;
                while let Some(item) = ring.get_with(Some(sub), secs(10)).unwrap() {
                    assert_eq!(item.view::<i32>().unwrap()[[1]], n);
                    assert_eq!(item.missed(), 0);
                    n += 1;
                }
                assert_eq!(n, 500);
            });
        }
    });
    assert_eq!(ring.stats().got, 1500);
    assert_eq!(ring.stats().dropped, 0);
}

#[test]
fn overwrite_counts_exactly_what_a_subscriber_missed() {
    let ring = RawRing::create("<u8", 8, &[], 4, Delivery::Overwrite, None).unwrap();
    let sub = ring.subscribe().unwrap();
    for i in 0..10u64 {
        ring.push(&i.to_le_bytes(), secs(1)).unwrap();
    }
    // Items 0..6 were overwritten; 6, 7, 8, 9 remain.
    let first = ring.get_with(Some(sub), secs(1)).unwrap().unwrap();
    assert_eq!((first.seq(), first.missed()), (6, 6));
    assert_eq!(u64::from_le_bytes(first.bytes().try_into().unwrap()), 6);
    // While it is held, its slot is not overwritten: the next put (item
    // 10, the same slot) waits.
    assert!(matches!(
        ring.put_with(Wait::timeout(Duration::from_millis(100))),
        Err(Error::Timeout)
    ));
    assert_eq!(u64::from_le_bytes(first.bytes().try_into().unwrap()), 6);
    drop(first);
    for i in 10..13u64 {
        ring.push(&i.to_le_bytes(), secs(1)).unwrap();
    }
    // 7 and 8 were overwritten meanwhile.
    let next = ring.get_with(Some(sub), secs(1)).unwrap().unwrap();
    assert_eq!((next.seq(), next.missed()), (9, 2));
    drop(next);
    assert_eq!(ring.stats().dropped, 8);
}

#[test]
fn full_ring_blocks_the_producer_until_its_timeout() {
    let ring = RawRing::create("|u1", 1, &[], 2, Delivery::Queue, None).unwrap();
    ring.push(&[1], secs(1)).unwrap();
    ring.push(&[2], secs(1)).unwrap();
    assert!(matches!(
        ring.put_with(Wait::timeout(Duration::from_millis(50))),
        Err(Error::Timeout)
    ));
    assert!(matches!(
        ring.get_with(None, Wait::timeout(Duration::ZERO))
            .map(|o| o.map(|i| i.bytes()[0])),
        Ok(Some(1))
    ));
    // The slot went back when the item was dropped.
    ring.push(&[3], secs(1)).unwrap();
}

#[test]
fn an_aborted_slot_is_skipped() {
    let ring = RawRing::create("|u1", 1, &[], 4, Delivery::Queue, None).unwrap();
    drop(ring.put().unwrap()); // dropped uncommitted
    ring.push(&[7], secs(1)).unwrap();
    ring.close();
    assert_eq!(ring.get().unwrap().unwrap().bytes(), &[7]);
    assert!(ring.get().unwrap().is_none());
    assert_eq!(ring.stats().abandoned, 1);
}

#[test]
fn array_readers_refuse_a_ring_and_ring_readers_an_array() {
    // Removed when the test ends, passed or failed.
    let guard = Name::new("ring-kind");
    let name = guard.0.clone();
    let ring = RawRing::create("<f4", 4, &[2, 2], 2, Delivery::Queue, Some(&name)).unwrap();
    assert_eq!(ring.segment().header().kind, ndshare::format::KIND_RING);
    let e = RawArray::attach(&name, ndshare::Access::ReadWrite).unwrap_err();
    assert!(matches!(e, Error::TypeMismatch { .. }), "{e}");
    assert!(e.to_string().contains("ring"), "{e}");
    assert!(matches!(
        SharedArray::<u8>::attach(&name),
        Err(Error::TypeMismatch { .. })
    ));
    let again = Ring::<f32>::attach(&name).unwrap();
    assert_eq!((again.shape(), again.capacity()), (&[2u64, 2][..], 2));
    assert!(matches!(
        Ring::<f64>::attach(&name),
        Err(Error::TypeMismatch { .. })
    ));
    ndshare::unlink(&name).unwrap();

    let arr = ndshare::Builder::new()
        .name(&name)
        .zeros::<u8>(&[8192])
        .unwrap();
    assert!(matches!(
        RawRing::attach(&name),
        Err(Error::TypeMismatch { .. })
    ));
    arr.unlink().unwrap();
}

const ROLE: &str = "NDSHARE_RING_ROLE";

/// Child role: take one item from the named ring, say so, and sleep holding it.
#[test]
fn child_holds_an_item() {
    let Ok(name) = std::env::var(ROLE) else {
        return;
    };
    let ring = RawRing::attach(&name).unwrap();
    let item = ring.get_with(None, secs(10)).unwrap().unwrap();
    println!("holding {}", item.bytes()[0]);
    std::thread::sleep(Duration::from_secs(60));
    drop(item);
}

/// Child role: put one item into the named ring, say so, and live on
/// without closing it.
#[test]
fn child_produces_and_sleeps() {
    let Ok(name) = std::env::var(PRODUCER_ROLE) else {
        return;
    };
    let ring = RawRing::attach(&name).unwrap();
    ring.push(&[5], secs(10)).unwrap();
    println!("produced");
    std::thread::sleep(Duration::from_secs(60));
}

const PRODUCER_ROLE: &str = "NDSHARE_RING_PRODUCER_ROLE";

/// Child role: claim a slot of the named ring, say so, and sleep without
/// committing it.
#[test]
fn child_claims_and_sleeps() {
    let Ok(name) = std::env::var(WRITER_ROLE) else {
        return;
    };
    let ring = RawRing::attach(&name).unwrap();
    let slot = ring.put_with(secs(10)).unwrap();
    println!("claimed");
    std::thread::sleep(Duration::from_secs(60));
    drop(slot);
}

const WRITER_ROLE: &str = "NDSHARE_RING_WRITER_ROLE";

/// Child role: adopt subscriber `INDEX` of the ring `NAME` (the role's
/// value: `NAME INDEX`), take one item, say so, and sleep holding it.
#[test]
fn child_subscriber_holds_an_item() {
    let Ok(value) = std::env::var(SUBSCRIBER_ROLE) else {
        return;
    };
    let (name, index) = value.split_once(' ').unwrap();
    let ring = RawRing::attach(name).unwrap();
    let sub = ndshare::Subscriber::from_index(index.parse().unwrap());
    ring.adopt(sub).unwrap();
    let item = ring.get_with(Some(sub), secs(10)).unwrap().unwrap();
    println!("holding {}", item.bytes()[0]);
    std::thread::sleep(Duration::from_secs(60));
    drop(item);
}

const SUBSCRIBER_ROLE: &str = "NDSHARE_RING_SUBSCRIBER_ROLE";

/// Runs child test `test` with `role` set to the ring's name, and waits
/// until it prints a line with `said` in it.
fn start_child(test: &str, role: &str, name: &str, said: &str) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(role, name)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // libtest prints the test's name on the same line, before it.
    while !line.contains(said) {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended");
    }
    (child, line)
}

/// This thread's id (`/proc/thread-self` links to `<pid>/task/<tid>`).
fn my_tid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

/// Waits until thread `tid` of this process sleeps in a futex wait (its
/// system call, in `/proc/self/task/<tid>/syscall`).
fn wait_until_asleep(tid: u32) {
    let waits = [
        libc::SYS_futex.to_string(),
        libc::SYS_futex_waitv.to_string(),
    ];
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let syscall =
            std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).unwrap_or_default();
        if syscall
            .split_whitespace()
            .next()
            .is_some_and(|nr| waits.iter().any(|w| w == nr))
        {
            return;
        }
        assert!(Instant::now() < give_up, "thread {tid} never went to sleep");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many times thread `tid` of this process has gone to sleep.
fn voluntary_switches(tid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Thread `tid`, asleep in a wait with no timeout, stays asleep while
/// nothing happens: it never wakes to look for dead processes.
fn assert_stays_asleep(tid: u32) {
    wait_until_asleep(tid);
    let before = voluntary_switches(tid);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        voluntary_switches(tid) - before,
        0,
        "the waiter woke while idle"
    );
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_consumer_killed_holding_a_slot_lets_a_producer_waiting_forever_go_on() {
    let guard = Name::new("ring-kill");
    let name = guard.0.clone();
    let ring = RawRing::create("|u1", 1, &[], 1, Delivery::Queue, Some(&name)).unwrap();
    ring.push(&[42], secs(1)).unwrap();
    let (child, line) = start_child("child_holds_an_item", ROLE, &name, "holding");
    assert!(line.trim().ends_with("holding 42"), "{line}");
    // The only slot is held: a put must wait ...
    assert!(matches!(
        ring.put_with(Wait::timeout(Duration::from_millis(100))),
        Err(Error::Timeout)
    ));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let putter = s.spawn(|| {
            tx.send(my_tid()).unwrap();
            ring.push(&[43], Wait::forever())
        });
        assert_stays_asleep(rx.recv().unwrap());
        kill(child);
        // ... with no timeout, until the holder is dead: then its slot comes
        // back, the item lost.
        putter.join().unwrap().unwrap();
    });
    ring.check_buffers().unwrap();
    assert_eq!(ring.stats().lost, 1);
    assert_eq!(
        ring.get_with(None, secs(1)).unwrap().unwrap().bytes(),
        &[43]
    );
    ndshare::unlink(&name).unwrap();
}

#[test]
fn a_producer_killed_ends_the_stream_for_a_consumer_waiting_forever() {
    let guard = Name::new("ring-kill-producer");
    let name = guard.0.clone();
    let ring = RawRing::create("|u1", 1, &[], 4, Delivery::Queue, Some(&name)).unwrap();
    let (child, _) = start_child(
        "child_produces_and_sleeps",
        PRODUCER_ROLE,
        &name,
        "produced",
    );
    assert_eq!(ring.get().unwrap().unwrap().bytes(), &[5]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let consumer = s.spawn(|| {
            tx.send(my_tid()).unwrap();
            ring.get().map(|item| item.map(|i| i.bytes().to_vec()))
        });
        assert_stays_asleep(rx.recv().unwrap());
        kill(child);
        // The producer's death ends the stream: the wait, which has no
        // timeout, returns the end.
        assert_eq!(consumer.join().unwrap().unwrap(), None);
    });
    let reason = ring.end_reason().unwrap();
    assert!(reason.contains("exited without closing"), "{reason}");
    assert_eq!(ring.stats().producers, 0);
    ring.check_buffers().unwrap();
    ndshare::unlink(&name).unwrap();
}

#[test]
fn a_producer_killed_while_writing_leaves_a_record_that_keeps_its_buffer_until_skipped() {
    let guard = Name::new("ring-kill-writer");
    let name = guard.0.clone();
    let ring = RawRing::create("|u1", 1, &[], 2, Delivery::Queue, Some(&name)).unwrap();
    let (child, _) = start_child("child_claims_and_sleeps", WRITER_ROLE, &name, "claimed");
    kill(child);
    ring.reap().unwrap();
    assert_eq!(ring.stats().abandoned, 1);
    ring.check_buffers().unwrap();
    ring.push(&[5], secs(1)).unwrap();
    // Record 0 stays abandoned, with its buffer, until a consumer skips
    // it: item 2, whose record it is, waits.
    assert!(matches!(
        ring.put_with(Wait::timeout(Duration::ZERO)),
        Err(Error::Timeout)
    ));
    ring.close();
    assert_eq!(ring.get().unwrap().unwrap().bytes(), &[5]);
    assert!(ring.get().unwrap().is_none());
    ring.check_buffers().unwrap();
    ndshare::unlink(&name).unwrap();
}

#[test]
fn a_subscriber_killed_holding_an_item_gives_its_buffer_back() {
    let guard = Name::new("ring-kill-subscriber");
    let name = guard.0.clone();
    let ring = RawRing::create("|u1", 1, &[], 2, Delivery::Broadcast, Some(&name)).unwrap();
    let sub = ring.subscribe().unwrap();
    ring.push(&[42], secs(1)).unwrap();
    ring.push(&[43], secs(1)).unwrap();
    let role = format!("{name} {}", sub.index());
    let (child, line) = start_child(
        "child_subscriber_holds_an_item",
        SUBSCRIBER_ROLE,
        &role,
        "holding",
    );
    assert!(line.trim().ends_with("holding 42"), "{line}");
    // Item 0 is held, item 1 unread: the ring is full.
    assert!(matches!(
        ring.put_with(Wait::timeout(Duration::from_millis(100))),
        Err(Error::Timeout)
    ));
    ring.check_buffers().unwrap();
    kill(child);
    ring.reap().unwrap();
    assert_eq!(ring.stats().subscribers, 0);
    ring.check_buffers().unwrap();
    // With no subscriber left, both buffers are back on the stack: the
    // claim takes the one given back last, item 1's.
    let claim = ring.claim(secs(1)).unwrap();
    assert_eq!((claim.seq, claim.slot), (2, 1));
    ring.commit(claim).unwrap();
    ring.check_buffers().unwrap();
    ndshare::unlink(&name).unwrap();
}

#[test]
fn a_ring_of_protocol_version_1_is_refused_with_its_version() {
    let guard = Name::new("ring-v1");
    let name = guard.0.clone();
    let ring = RawRing::create("<f4", 4, &[2], 2, Delivery::Queue, Some(&name)).unwrap();
    let seg = ring.segment();
    let data_at = seg.data_ptr() as u64 - seg.base_ptr() as u64;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(guard.path())
        .unwrap();
    file.write_all_at(&1u32.to_le_bytes(), data_at + 8).unwrap();
    let e = RawRing::attach(&name).unwrap_err();
    let Error::Corrupt(msg) = &e else {
        panic!("expected Error::Corrupt, got {e:?}")
    };
    assert!(
        msg.contains("ring protocol version 1 is not supported"),
        "{msg}"
    );
    assert!(msg.contains("reads version 2"), "{msg}");
}
