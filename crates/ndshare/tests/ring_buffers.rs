//! The slot buffers of rings, which records point to: every buffer is in
//! exactly one place (on the free-buffer stack, or in one record) after
//! every step of random sequences of claim, commit, abort, take, release,
//! subscribe and unsubscribe in the three delivery modes, while items come
//! out in order and intact — exactly once in a queue, to every subscriber
//! in broadcast, with exact missed counts in overwrite. And a stream whose
//! consumers keep up goes through one buffer, whatever the capacity.

use std::collections::HashSet;
use std::time::Duration;

use ndshare::{Claim, Delivery, Error, RawRing, Subscriber, Taken, Wait};
use proptest::prelude::*;

fn now() -> Wait<'static> {
    Wait::timeout(Duration::ZERO)
}

/// The item in slot buffer `slot`: a `u64`.
fn read(ring: &RawRing, slot: u32) -> u64 {
    let mut bytes = [0u8; 8];
    let at = ring.slot_offset(slot);
    // SAFETY: `slot_offset` checked the index; the buffer lies in the
    // mapped data and is 8 bytes long (the ring's items are `<u8` scalars);
    // this thread is the only one using the ring.
    unsafe {
        std::ptr::copy_nonoverlapping(ring.segment().data_ptr().add(at), bytes.as_mut_ptr(), 8);
    };
    u64::from_le_bytes(bytes)
}

fn write(ring: &RawRing, slot: u32, v: u64) {
    let at = ring.slot_offset(slot);
    // SAFETY: as in `read`; the buffer belongs to a claim of this thread.
    unsafe {
        std::ptr::copy_nonoverlapping(
            v.to_le_bytes().as_ptr(),
            ring.segment().data_ptr().add(at),
            8,
        );
    };
}

#[derive(Debug, Clone)]
enum Op {
    Claim,
    Commit(usize),
    Abort(usize),
    Take(usize),
    Release(usize),
    Subscribe,
    Unsubscribe(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Claim),
        3 => (0..8usize).prop_map(Op::Commit),
        1 => (0..8usize).prop_map(Op::Abort),
        4 => (0..8usize).prop_map(Op::Take),
        3 => (0..8usize).prop_map(Op::Release),
        1 => Just(Op::Subscribe),
        1 => (0..8usize).prop_map(Op::Unsubscribe),
    ]
}

/// What became of an item, by sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Writing,
    Ready,
    Aborted,
    /// Queue: taken by a consumer.
    Held,
    /// Queue: taken and released.
    Released,
}

#[derive(Debug)]
struct Sub {
    id: Subscriber,
    /// The head when it subscribed: it gets every item from there on.
    start: u64,
    cursor: u64,
    held: Option<Taken>,
    /// Missed items not yet reported.
    missed: u64,
    got: Vec<u64>,
    reported_missed: u64,
}

/// The ring as its documented guarantees describe it, item by item.
struct Model {
    delivery: Delivery,
    cap: u64,
    items: Vec<Item>,
    tail: u64,
    claims: Vec<Claim>,
    held: Vec<Taken>,
    delivered: Vec<u64>,
    subs: Vec<Sub>,
    gets: u64,
}

impl Model {
    fn head(&self) -> u64 {
        self.items.len() as u64
    }

    fn claimable(&self) -> bool {
        let head = self.head();
        if head < self.cap {
            return true;
        }
        let o = head - self.cap;
        match (self.delivery, self.items[o as usize]) {
            (Delivery::Queue, Item::Released) => true,
            (Delivery::Queue, Item::Aborted) => self.tail > o,
            (Delivery::Queue, _) | (_, Item::Writing) => false,
            (d, _) => self.subs.iter().all(|s| {
                s.held.map(|t| t.seq) != Some(o) && (d == Delivery::Overwrite || s.cursor > o)
            }),
        }
    }

    /// The item a queue consumer gets now.
    fn take_queue(&mut self) -> Option<u64> {
        loop {
            if self.tail == self.head() {
                return None;
            }
            match self.items[self.tail as usize] {
                Item::Ready => {
                    self.items[self.tail as usize] = Item::Held;
                    self.tail += 1;
                    return Some(self.tail - 1);
                }
                Item::Aborted => self.tail += 1,
                _ => return None,
            }
        }
    }

    /// The item and missed count subscriber `i` gets now.
    fn take_sub(&mut self, i: usize) -> Option<(u64, u64)> {
        let (head, cap) = (self.head(), self.cap);
        let s = &mut self.subs[i];
        loop {
            if s.cursor == head {
                return None;
            }
            let next = s.cursor.max(head.saturating_sub(cap));
            s.missed += next - s.cursor;
            s.cursor = next;
            match self.items[next as usize] {
                Item::Ready => {
                    s.cursor = next + 1;
                    return Some((next, std::mem::take(&mut s.missed)));
                }
                Item::Aborted => s.cursor = next + 1,
                _ => return None,
            }
        }
    }

    /// What subscriber `s` got is what its delivery promises, up to its
    /// cursor.
    fn check_sub(&self, s: &Sub) {
        let committed: Vec<u64> = (s.start..s.cursor)
            .filter(|&q| self.items[q as usize] == Item::Ready)
            .collect();
        if self.delivery == Delivery::Broadcast {
            assert_eq!(s.got, committed, "broadcast: every item, in order");
            assert_eq!(s.reported_missed + s.missed, 0);
        } else {
            assert!(s.got.windows(2).all(|w| w[0] < w[1]), "{:?}", s.got);
            assert!(s.got.iter().all(|q| committed.contains(q)));
            let not_got = (committed.len() - s.got.len()) as u64;
            let missed = s.reported_missed + s.missed;
            assert!(
                not_got <= missed && missed <= s.cursor - s.start - s.got.len() as u64,
                "{not_got} committed items not got, {missed} missed"
            );
        }
    }
}

/// Runs `ops` against a ring and the model, checking after every step.
fn run(delivery: Delivery, cap: u32, ops: &[Op]) {
    let ring = RawRing::create("<u8", 8, &[], cap, delivery, None).unwrap();
    let mut m = Model {
        delivery,
        cap: u64::from(cap),
        items: Vec::new(),
        tail: 0,
        claims: Vec::new(),
        held: Vec::new(),
        delivered: Vec::new(),
        subs: Vec::new(),
        gets: 0,
    };
    for op in ops {
        step(&ring, &mut m, op);
        check(&ring, &m);
    }
    // Drain: every claim committed, every item released, every item read.
    while !m.claims.is_empty() {
        step(&ring, &mut m, &Op::Commit(0));
    }
    while !m.held.is_empty() {
        step(&ring, &mut m, &Op::Release(0));
    }
    if delivery == Delivery::Queue {
        while m.tail < m.head() {
            step(&ring, &mut m, &Op::Take(0));
            step(&ring, &mut m, &Op::Release(0));
        }
        let committed: Vec<u64> = (0..m.head())
            .filter(|&q| m.items[q as usize] == Item::Released)
            .collect();
        assert_eq!(m.delivered, committed, "queue: every item once, in order");
    } else {
        for i in 0..m.subs.len() {
            while m.subs[i].cursor < m.head() {
                step(&ring, &mut m, &Op::Take(i));
            }
            m.check_sub(&m.subs[i]);
        }
        while !m.subs.is_empty() {
            step(&ring, &mut m, &Op::Unsubscribe(0));
        }
    }
    check(&ring, &m);
    // Nothing is held: every buffer is free, and `cap` claims in a row get
    // them all.
    let slots: HashSet<u32> = (0..cap).map(|_| ring.claim(now()).unwrap().slot).collect();
    assert_eq!(slots.len(), cap as usize);
    ring.check_buffers().unwrap();
}

/// Entry `k` of `n` (any `k`), if there is one.
fn pick(k: usize, n: usize) -> Option<usize> {
    (n > 0).then(|| k % n)
}

fn step(ring: &RawRing, m: &mut Model, op: &Op) {
    match *op {
        Op::Claim => match ring.claim(now()) {
            Ok(c) => {
                assert!(m.claimable(), "claimed {c:?} from a full ring");
                assert_eq!(c.seq, m.head());
                write(ring, c.slot, c.seq);
                m.items.push(Item::Writing);
                m.claims.push(c);
            }
            Err(Error::Timeout) => assert!(!m.claimable(), "a claimable ring refused a claim"),
            Err(e) => panic!("claim: {e}"),
        },
        Op::Commit(k) | Op::Abort(k) => {
            let Some(i) = pick(k, m.claims.len()) else {
                return;
            };
            let c = m.claims.remove(i);
            assert_eq!(read(ring, c.slot), c.seq, "a claimed buffer was reused");
            if matches!(op, Op::Commit(_)) {
                ring.commit(c).unwrap();
                m.items[c.seq as usize] = Item::Ready;
            } else {
                ring.abort(c).unwrap();
                m.items[c.seq as usize] = Item::Aborted;
            }
        }
        Op::Take(k) => take(ring, m, k),
        Op::Release(k) => release(ring, m, k),
        Op::Subscribe if m.delivery == Delivery::Queue => {
            assert!(matches!(ring.subscribe(), Err(Error::InvalidShape(_))));
        }
        Op::Subscribe => {
            if m.subs.len() < 3 {
                let id = ring.subscribe().unwrap();
                m.subs.push(Sub {
                    id,
                    start: m.head(),
                    cursor: m.head(),
                    held: None,
                    missed: 0,
                    got: Vec::new(),
                    reported_missed: 0,
                });
            }
        }
        Op::Unsubscribe(k) => {
            let Some(i) = pick(k, m.subs.len()) else {
                return;
            };
            let sub = m.subs.remove(i);
            m.check_sub(&sub);
            ring.unsubscribe(sub.id).unwrap();
        }
    }
}

/// A take: from the queue, or by subscriber `k`.
fn take(ring: &RawRing, m: &mut Model, k: usize) {
    if m.delivery == Delivery::Queue {
        let expected = m.take_queue();
        match ring.take(None, now()) {
            Ok(Some(t)) => {
                assert_eq!(Some(t.seq), expected);
                assert_eq!(read(ring, t.slot), t.seq, "item {} arrived damaged", t.seq);
                m.delivered.push(t.seq);
                m.held.push(t);
                m.gets += 1;
            }
            Err(Error::Timeout) => assert_eq!(expected, None),
            other => panic!("take: {other:?}"),
        }
        return;
    }
    let Some(i) = pick(k, m.subs.len()) else {
        return;
    };
    let expected = m.take_sub(i);
    let sub = &mut m.subs[i];
    match ring.take(Some(sub.id), now()) {
        Ok(Some(t)) => {
            assert_eq!(Some((t.seq, t.missed)), expected);
            assert_eq!(read(ring, t.slot), t.seq, "item {} arrived damaged", t.seq);
            // Taking released the previous item.
            sub.held = Some(t);
            sub.got.push(t.seq);
            sub.reported_missed += t.missed;
            m.gets += 1;
        }
        Err(Error::Timeout) => assert_eq!(expected, None),
        other => panic!("take: {other:?}"),
    }
}

/// A release: of held queue item `k`, or of subscriber `k`'s item.
fn release(ring: &RawRing, m: &mut Model, k: usize) {
    if m.delivery == Delivery::Queue {
        let Some(i) = pick(k, m.held.len()) else {
            return;
        };
        let t = m.held.remove(i);
        ring.release(t).unwrap();
        m.items[t.seq as usize] = Item::Released;
    } else if let Some(i) = pick(k, m.subs.len()) {
        if let Some(t) = m.subs[i].held.take() {
            ring.release(t).unwrap();
        }
    }
}

/// After every step: the buffers are where they should be, the ones in
/// use still hold their items, and the counters agree with the model.
fn check(ring: &RawRing, m: &Model) {
    if let Err(e) = ring.check_buffers() {
        panic!("{e}");
    }
    let mut in_use = HashSet::new();
    for c in &m.claims {
        assert!(in_use.insert(c.slot), "buffer {} claimed twice", c.slot);
        assert_eq!(read(ring, c.slot), c.seq);
    }
    for t in m
        .held
        .iter()
        .chain(m.subs.iter().filter_map(|s| s.held.as_ref()))
    {
        assert!(
            !m.claims.iter().any(|c| c.slot == t.slot),
            "buffer {} is written while item {} in it is read",
            t.slot,
            t.seq
        );
        assert_eq!(
            read(ring, t.slot),
            t.seq,
            "item {} changed while held",
            t.seq
        );
    }
    let st = ring.stats();
    let count = |what: Item| m.items.iter().filter(|&&i| i == what).count() as u64;
    assert_eq!(st.abandoned, count(Item::Aborted));
    assert_eq!(
        st.put,
        m.head() - count(Item::Writing) - count(Item::Aborted)
    );
    assert_eq!(st.got, m.gets);
    assert_eq!(st.lost, 0);
}

fn delivery() -> impl Strategy<Value = Delivery> {
    prop::sample::select(vec![
        Delivery::Queue,
        Delivery::Broadcast,
        Delivery::Overwrite,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_buffer_is_in_one_place_and_items_arrive_as_promised(
        delivery in delivery(),
        cap in 1u32..=4,
        ops in prop::collection::vec(op(), 0..80),
    ) {
        run(delivery, cap, &ops);
    }
}

/// Puts `n` items, each taken and released before the next put, and
/// returns the buffers they went through.
fn buffers_of_a_stream_that_keeps_up(delivery: Delivery, n: u64) -> HashSet<u32> {
    let ring = RawRing::create("<u8", 8, &[], 8, delivery, None).unwrap();
    let sub = delivery.is_broadcast().then(|| ring.subscribe().unwrap());
    let mut seen = HashSet::new();
    for i in 0..n {
        ring.push(&i.to_le_bytes(), now()).unwrap();
        let t = ring.take(sub, now()).unwrap().unwrap();
        assert_eq!((t.seq, read(&ring, t.slot)), (i, i));
        seen.insert(t.slot);
        ring.release(t).unwrap();
    }
    ring.check_buffers().unwrap();
    seen
}

#[test]
fn a_stream_whose_consumers_keep_up_goes_through_one_buffer() {
    for delivery in [Delivery::Queue, Delivery::Broadcast, Delivery::Overwrite] {
        assert_eq!(
            buffers_of_a_stream_that_keeps_up(delivery, 50),
            HashSet::from([0]),
            "{delivery:?}"
        );
    }
}
