//! Races and corner cases of the locks, the event and the descriptor server:
//! every test here failed before its fix.
//! Real threads and forked processes, no stand-ins.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier as StdBarrier};
use std::time::Duration;

use ndshare::{Error, Event, Layout, LockError, Order, Segment, Wait};

mod common;
use common::Name;

/// A segment of one int64, anonymous.
fn segment() -> Segment {
    segment_named(None)
}

/// A segment of one int64, under `name` if given.
fn segment_named(name: Option<&Name>) -> Segment {
    Segment::create(
        Layout::contiguous(&[1], 8, Order::C).unwrap(),
        "<i8",
        name.map(|n| n.0.as_str()),
        0o600,
    )
    .unwrap()
}

/// `n` threads of this process, each holding a read lock of `seg` until
/// [`Readers::release`].
struct Readers {
    go_out: Arc<StdBarrier>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Readers {
    /// Returns once every thread holds its read lock.
    fn hold(seg: &Arc<Segment>, n: usize) -> Readers {
        let all_in = Arc::new(StdBarrier::new(n + 1));
        let go_out = Arc::new(StdBarrier::new(n + 1));
        let threads = (0..n)
            .map(|_| {
                let (seg, all_in, go_out) = (seg.clone(), all_in.clone(), go_out.clone());
                std::thread::spawn(move || {
                    let g = seg.read_lock().unwrap();
                    all_in.wait();
                    go_out.wait();
                    drop(g);
                })
            })
            .collect();
        all_in.wait();
        Readers { go_out, threads }
    }

    /// Lets every thread drop its read lock, and waits until they have.
    fn release(self) {
        self.go_out.wait();
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

/// Runs `child` in a forked copy of this process (only the calling thread
/// exists there) and returns its exit code: `child`'s value, or 101 if it
/// panicked.
fn in_forked_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs only `child` and then `_exit`s: it never
    // returns into the test harness, and glibc makes malloc usable in the
    // child of a multi-threaded process.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: ends the child without running the parent's atexit
        // handlers or destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    let rc = unsafe { libc::waitpid(pid, &raw mut status, 0) };
    assert_eq!(rc, pid);
    assert!(
        libc::WIFEXITED(status),
        "child ended by a signal: {status:#x}"
    );
    libc::WEXITSTATUS(status)
}

/// Opens `/dev/null` until the process is out of descriptors (after
/// lowering its soft limit, so that this takes few files).
fn exhaust_descriptors() -> Vec<File> {
    let lim = libc::rlimit {
        rlim_cur: 256,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain calls with valid pointers to rlimit values.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut old), 0);
        let lim = libc::rlimit {
            rlim_max: old.rlim_max,
            ..lim
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim), 0);
    }
    let mut files = Vec::with_capacity(300);
    while let Ok(f) = File::open("/dev/null") {
        files.push(f);
    }
    files
}

/// A thread that took a lock while it could not read its own start time
/// (no descriptor left to open `/proc/thread-self/stat`) must still be able
/// to release it, and to recognise it as its own, once it can read it.
/// Before the fix the start time was re-read at release: the word then named
/// "another" thread, the release failed with `NotOwner`, and the lock stayed
/// held by a live thread for good (every other locker waited forever).
#[test]
fn a_lock_taken_without_descriptors_is_released_by_its_holder() {
    let seg = segment();
    // Registers the fork counter, so that the child re-reads its identity.
    let _ = ndshare::Owner::current();
    let code = in_forked_child(|| {
        let lock = seg.raw_lock().unwrap();
        let rw = seg.raw_rwlock().unwrap();
        let files = exhaust_descriptors();
        lock.lock(Wait::forever()).unwrap();
        rw.read(Wait::forever()).unwrap();
        drop(files);
        // Descriptors are back: the thread can read its start time now.
        let relock = lock.lock(Wait::timeout(Duration::from_millis(200)));
        if !matches!(relock, Err(Error::Deadlock(_))) {
            return 1;
        }
        if lock.unlock().is_err() || lock.is_locked() {
            return 2;
        }
        if rw.read_unlock().is_err() || rw.readers() != 0 {
            return 3;
        }
        0
    });
    assert_eq!(code, 0);
    assert!(!seg.raw_lock().unwrap().is_locked());
    assert_eq!(seg.raw_rwlock().unwrap().readers(), 0);
}

/// A read guard carried into a forked child is not the child's: dropping it
/// there must leave the parent's readers alone. Before the fix the child,
/// finding no slot with its own id, took one off the overflow count, which
/// belonged to a reader of the parent still reading: a writer could then
/// take the lock while that reader read.
#[test]
fn a_read_guard_dropped_in_a_forked_child_leaves_the_readers_alone() {
    const HELPERS: usize = ndshare::RawRwLock::READER_SLOTS;
    let seg = Arc::new(segment());
    let mine = seg.read_lock().unwrap();
    let helpers = Readers::hold(&seg, HELPERS);
    let rw = seg.raw_rwlock().unwrap();
    // Six slots and one reader counted in the overflow count.
    assert_eq!(rw.readers(), 7);
    let code = in_forked_child(|| {
        let rw = seg.raw_rwlock().unwrap();
        // Not the child's lock: releasing it is refused, and changes nothing.
        let refused = matches!(rw.read_unlock(), Err(Error::NotOwner(_)));
        // SAFETY: this process's copy of the guard, dropped once here; the
        // original is never dropped in this process, which `_exit`s.
        drop(unsafe { std::ptr::read(&raw const mine) });
        i32::from(!refused) + 2 * i32::from(rw.readers() != 7)
    });
    assert_eq!(code, 0);
    assert_eq!(rw.readers(), 7);
    drop(mine);
    helpers.release();
    assert_eq!(rw.readers(), 0);
    assert!(seg.try_write_lock().is_ok());
}

/// The overflow count is the count of the threads that put themselves
/// there: a thread that holds no read lock cannot take another thread's
/// count away (before the fix it could, whenever the count was not zero).
#[test]
fn only_overflow_readers_leave_the_overflow_count() {
    const SLOTS: usize = ndshare::RawRwLock::READER_SLOTS;
    let seg = Arc::new(segment());
    let readers = Readers::hold(&seg, SLOTS + 1);
    let rw = seg.raw_rwlock().unwrap();
    assert_eq!(rw.readers(), 7);
    assert!(matches!(rw.read_unlock(), Err(Error::NotOwner(_))));
    assert_eq!(rw.readers(), 7);
    assert!(matches!(
        seg.try_write_lock(),
        Err(LockError::Failed(Error::Timeout))
    ));
    readers.release();
    assert_eq!(rw.readers(), 0);
}

/// `set()` wakes every waiter (the documented promise, as
/// `threading.Event.set`), even when `clear()` follows at once. Before the
/// fix a waiter woken by the set found the flag clear again and slept on:
/// the set was lost for it, and it waited for its timeout (or forever).
#[test]
fn a_set_followed_by_a_clear_still_wakes_every_waiter() {
    let seg = Event::create().unwrap();
    let ev = Event::open(&seg).unwrap();
    // Word 1 of the event (docs/format.md, "Barrier and event segments"):
    // its low half is 2 once a waiter has announced that it sleeps.
    let words = seg.atomics::<u64>().unwrap();
    let state = words.at(&[1]).unwrap();
    for _ in 0..20 {
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                Event::open(&seg)
                    .unwrap()
                    .wait_timeout(Duration::from_secs(5))
            });
            // Once the waiter has announced itself it waits for the next
            // set, asleep or about to sleep.
            while state.load(Ordering::SeqCst) as u32 != 2 {
                std::thread::yield_now();
            }
            ev.set();
            ev.clear();
            assert!(waiter.join().unwrap().is_ok(), "the waiter missed the set");
        });
        assert!(!ev.is_set());
    }
    // A wait that starts after the pulse waits for the next set.
    assert!(matches!(
        ev.wait_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
}

/// A timeout too large to add to the clock means "no limit", as everywhere
/// else; before the fix it panicked ("overflow when adding duration to
/// instant").
#[test]
fn waiting_for_offers_with_an_unbounded_timeout_does_not_panic() {
    assert!(ndshare::transport::fdserver::wait_until_taken(
        Duration::MAX
    ));
}

/// A process that maps a named array while it cannot read its own start
/// time (one descriptor left: the one `attach` opens) must still count as a
/// live user of the array. Before the fix it registered the start time 0,
/// which no process has: its slot read as dead at once, so `ndshare gc`
/// could remove the name under it and any claimer could take its slot.
#[test]
fn a_process_that_cannot_read_its_start_time_still_counts_as_attached() {
    let name = Name::new("review-attach");
    let seg = segment_named(Some(&name));
    let before = seg.attachers().unwrap().live_count();
    let code = in_forked_child(|| {
        let mut files = exhaust_descriptors();
        drop(files.pop());
        let attached = Segment::attach(&name.0, ndshare::Access::ReadWrite);
        drop(files);
        let Ok(attached) = attached else {
            return 1;
        };
        let Ok(table) = attached.attachers() else {
            return 2;
        };
        // The creator (the parent) and this process.
        i32::from(table.live_count() != before + 1) * 3
    });
    ndshare::unlink(&name.0).unwrap();
    assert_eq!(code, 0);
    // The child's registration went with it (it `_exit`ed without dropping
    // the segment: a dead slot, or an overflow count it left raised).
    assert_eq!(seg.attachers().unwrap().live_processes(), 1);
}

/// A barrier's state word is shared memory that any process holding the
/// segment can write: a count it cannot hold is an error, never a panic.
/// Before the fix an arrival count of 2^32 - 1 overflowed `arrived + 1`,
/// and a count zeroed under a waiter that then gave up underflowed `v - 1`
/// (both panics in debug builds, silent corruption of the round otherwise).
#[test]
fn a_barrier_word_out_of_range_is_an_error_not_a_panic() {
    let seg = ndshare::Barrier::create(2).unwrap();
    let b = ndshare::Barrier::open(&seg).unwrap();
    let words = seg.atomics::<u64>().unwrap();
    let state = words.at(&[2]).unwrap();

    state.store(u64::from(u32::MAX), Ordering::SeqCst);
    assert!(matches!(
        b.wait_timeout(Duration::from_millis(20)),
        Err(Error::Corrupt(_))
    ));
    assert_eq!(state.load(Ordering::SeqCst), u64::from(u32::MAX));

    state.store(0, Ordering::SeqCst);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| b.wait_timeout(Duration::from_millis(300)));
        while b.n_waiting() != 1 {
            std::thread::yield_now();
        }
        // Another process wipes the count while the waiter is counted; the
        // waiter's timeout then breaks the barrier.
        state.store(0, Ordering::SeqCst);
        assert!(matches!(
            waiter.join().unwrap(),
            Err(Error::BrokenBarrier { parties: 2, .. })
        ));
    });
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
}

/// A thread that holds a read lock may take another (the documented
/// `r1`, `r2` example) even while a writer waits: the writer waits for that
/// very thread, so making it wait for the writer deadlocks both. Before the
/// fix the second read waited for the pending writer, and the writer for
/// the first read, until their timeouts (forever, without).
#[test]
fn a_reader_reads_again_while_a_writer_waits_for_it() {
    let seg = Arc::new(segment());
    let r1 = seg.read_lock().unwrap();
    let rw = seg.raw_rwlock().unwrap();
    let writer = {
        let seg = seg.clone();
        std::thread::spawn(move || {
            let w = seg.write_lock_timeout(Duration::from_secs(10));
            let ok = w.is_ok();
            drop(w);
            ok
        })
    };
    // The writer now holds its word and waits for the readers.
    while rw.writer().is_none() {
        std::thread::yield_now();
    }
    let r2 = seg.read_lock_timeout(Duration::from_secs(2));
    assert!(r2.is_ok(), "the second read waited for the writer: {r2:?}");
    assert_eq!(rw.readers(), 2);
    // Another thread, holding no read lock, waits for the writer as before.
    let other = {
        let seg = seg.clone();
        std::thread::spawn(move || {
            matches!(seg.try_read_lock(), Err(LockError::Failed(Error::Timeout)))
        })
    };
    assert!(other.join().unwrap());
    drop(r2);
    drop(r1);
    assert!(writer.join().unwrap());
    assert_eq!((rw.readers(), rw.writer()), (0, None));
}

/// When a writer dies holding the read/write lock, whoever holds the lock
/// next must be told (the data may be half-written). Before the fix a
/// reader that found the dead writer cleared the writer word and woke
/// everyone: a writer waiting too could then take the lock first, cleanly,
/// and write over half-written data unaware; the reader was told only
/// after it. Readers and writers wait for a dead writer, many times over;
/// no writer may hold the lock before a holder was told.
#[test]
fn after_a_writer_dies_the_first_next_holder_is_told() {
    use std::sync::Mutex;
    const READERS: usize = 2;
    const WRITERS: usize = 2;
    let seg = Arc::new(segment());
    for _ in 0..30 {
        let s = seg.clone();
        std::thread::spawn(move || std::mem::forget(s.write_lock().unwrap()))
            .join()
            .unwrap();
        // In the order they held the lock: (a writer?, told?)
        let log = Arc::new(Mutex::new(Vec::new()));
        let start = Arc::new(StdBarrier::new(READERS + WRITERS));
        let threads: Vec<_> = (0..READERS + WRITERS)
            .map(|i| {
                let (seg, log, start) = (seg.clone(), log.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    if i < WRITERS {
                        let (guard, told) = match seg.write_lock() {
                            Ok(g) => (g, false),
                            Err(LockError::OwnerDied { guard, .. }) => (guard, true),
                            Err(e) => panic!("{e}"),
                        };
                        log.lock().unwrap().push((true, told));
                        drop(guard);
                    } else {
                        let (guard, told) = match seg.read_lock() {
                            Ok(g) => (g, false),
                            Err(LockError::OwnerDied { guard, .. }) => (guard, true),
                            Err(e) => panic!("{e}"),
                        };
                        log.lock().unwrap().push((false, told));
                        drop(guard);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let log = log.lock().unwrap();
        assert_eq!(log.len(), READERS + WRITERS);
        // A writer holds the lock alone, and a holder logs while it holds:
        // whoever logged before a writer held the lock before it.
        let told = log.iter().position(|&(_, told)| told);
        let first_writer = log.iter().position(|&(writer, _)| writer);
        assert!(
            told.is_some_and(|t| first_writer.is_some_and(|w| t <= w)),
            "a writer held the lock before anyone was told: {log:?}"
        );
        assert_eq!(
            log.iter().filter(|&&(_, told)| told).count(),
            1,
            "one holder is told: {log:?}"
        );
    }
}

/// `lock_mut` on an array mapped read-only fails with `ReadOnly`; it must
/// not take the lock over from a dead holder on the way and give it back
/// clean. Before the fix it took the lock (told of the dead holder), then
/// found it could not make the mutable view and released the lock: the
/// next taker found a clean lock and was never told about the data its
/// dead holder may have half-written.
#[test]
fn a_read_only_lock_mut_leaves_a_dead_holders_lock_for_the_next_taker() {
    let name = Name::new("review-lockmut");
    let seg = Arc::new(segment_named(Some(&name)));
    let s2 = seg.clone();
    let dead = std::thread::spawn(move || {
        std::mem::forget(s2.lock().unwrap());
        ndshare::Owner::current()
    })
    .join()
    .unwrap();
    let mut ro = ndshare::SharedArray::<i64>::attach_readonly(&name.0).unwrap();
    ndshare::unlink(&name.0).unwrap();
    assert!(matches!(
        ro.lock_mut(),
        Err(LockError::Failed(Error::ReadOnly))
    ));
    match seg.lock() {
        Err(LockError::OwnerDied { previous, guard }) => {
            assert_eq!(previous, dead);
            drop(guard);
        }
        other => panic!("the next taker was not told: {other:?}"),
    };
}

/// A process that `/proc` hides (`hidepid`: another user's process) may be
/// alive: the attacher table and `ndshare gc` must count it so, as the lock
/// does for a holder it cannot see ("a lock is never taken from a holder
/// that might live"). Before the fix an unreadable `/proc/<pid>` meant
/// "dead": another user's process mapping an array looked gone, its slot
/// could be taken, and gc could remove the array under it.
///
/// Needs root (to mount a `hidepid` `/proc` in a private mount namespace of
/// a forked child, then become `nobody` there); elsewhere it says so and
/// checks nothing.
#[test]
fn a_process_hidden_by_hidepid_counts_as_alive() {
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot mount a hidepid /proc, nothing checked");
        return;
    }
    let name = Name::new("review-hidepid");
    let seg = segment_named(Some(&name));
    ndshare::unlink(&name.0).unwrap();
    let me = ndshare::ProcessStamp::current();
    let code = in_forked_child(|| {
        // SAFETY: namespace and mount calls on valid C strings; the mount
        // namespace is this child's own, made private first so nothing
        // propagates to the machine's.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::mount(
                    c"proc".as_ptr(),
                    c"/proc".as_ptr(),
                    c"proc".as_ptr(),
                    0,
                    c"hidepid=invisible".as_ptr().cast(),
                ) != 0
            {
                return 10;
            }
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return 11;
            }
        }
        // The parent (root) is hidden from `nobody` now.
        if std::path::Path::new(&format!("/proc/{}/stat", me.pid)).exists() {
            return 12;
        }
        let alive = me.is_alive();
        let in_use = seg.attachers().is_ok_and(|t| t.in_use());
        i32::from(!alive) + 2 * i32::from(!in_use)
    });
    assert_ne!(code, 10, "cannot mount a hidepid /proc here");
    assert_eq!(code, 0);
}
