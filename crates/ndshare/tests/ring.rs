//! Rings from Rust: order, exactly-once delivery, broadcast, overwrite
//! counts, close, and a consumer that dies holding a slot (a real child
//! process, killed with `SIGKILL`).

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

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

#[test]
fn a_consumer_killed_holding_a_slot_does_not_wedge_the_ring() {
    let guard = Name::new("ring-kill");
    let name = guard.0.clone();
    let ring = RawRing::create("|u1", 1, &[], 1, Delivery::Queue, Some(&name)).unwrap();
    ring.push(&[42], secs(1)).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holds_an_item",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, &name)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // libtest prints the test's name on the same line, before it.
    while !line.contains("holding") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "child ended"
        );
    }
    assert!(line.trim().ends_with("holding 42"), "{line}");
    // The only slot is held: a put must wait ...
    assert!(matches!(
        ring.put_with(Wait::timeout(Duration::from_millis(100))),
        Err(Error::Timeout)
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    // ... until the holder is dead: then its slot comes back, the item lost.
    ring.push(&[43], secs(10)).unwrap();
    assert_eq!(ring.stats().lost, 1);
    assert_eq!(
        ring.get_with(None, secs(1)).unwrap().unwrap().bytes(),
        &[43]
    );
    ndshare::unlink(&name).unwrap();
}
