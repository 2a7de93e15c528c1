//! Hands descriptors to other processes of the same user, on request.
//!
//! A process *offers* a descriptor: the server keeps a duplicate under a
//! random 128-bit key and returns its address and the key. Whoever connects
//! first with that key gets the descriptor (`SCM_RIGHTS`), once; any other
//! request is refused. The server listens on an abstract Unix socket (no
//! file to remove), checks each peer's uid (`SO_PEERCRED`: the same as this
//! process's), and runs on threads of its own, so that serving never waits
//! for the caller (in Python: for the GIL).
//!
//! The protocol: the receiver connects and sends the key (16 bytes); the
//! server answers `+` with the descriptor attached, or `-`, and closes.
//!
//! Fork: the offers and the listening socket are the parent's. A child must
//! close its copies without waiting for the table's lock, which a thread
//! that does not exist in the child may have held at the fork; fork
//! handlers take the lock before the fork, so the child has it free and the
//! table whole (see `fork_prepare` below).

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::sys::{self, Fd, FdRef};

/// Length of an offer's key in bytes.
pub const KEY_LEN: usize = 16;
/// An offer's key.
pub type Key = [u8; KEY_LEN];
/// Longest the server waits for one peer's key or for its reply to leave.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a receiver waits for the server's answer.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

const TAKEN: u8 = b'+';
const REFUSED: u8 = b'-';
const NAME_PREFIX: &str = "ndshare-fd-";

/// The server of this process.
struct Table {
    /// The listening socket; `None` before the first offer and in a forked child.
    listener: Option<Fd>,
    /// Where receivers connect: a NUL, then the abstract name.
    address: Vec<u8>,
    /// Offers not taken yet.
    offers: HashMap<Key, Fd>,
    /// Offers taken, their descriptor not sent yet.
    sending: HashMap<Key, Fd>,
}

/// A lock that a fork handler can take in one callback and release in
/// another (no guard object spans the fork): 0 free, 1 held, 2 held with
/// waiters (a futex, as in Drepper's "Futexes Are Tricky").
struct TableLock {
    word: AtomicU32,
    table: UnsafeCell<Option<Table>>,
}

// SAFETY: `table` is only reached through `lock` (or by the fork handlers,
// which hold the lock), so one thread at a time.
unsafe impl Sync for TableLock {}

static TABLE: TableLock = TableLock {
    word: AtomicU32::new(0),
    table: UnsafeCell::new(None),
};

/// Offers plus descriptors being sent; changed under the lock, waited on by
/// [`wait_until_taken`].
static PENDING: AtomicU32 = AtomicU32::new(0);

fn lock_raw() {
    if TABLE
        .word
        .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return;
    }
    while TABLE.word.swap(2, Ordering::Acquire) != 0 {
        // A wake or a changed word both mean: try again.
        let _ = sys::futex_wait(&TABLE.word, 2, None);
    }
}

fn unlock_raw() {
    if TABLE.word.swap(0, Ordering::Release) == 2 {
        sys::futex_wake(&TABLE.word, 1);
    }
}

/// Holds the table's lock; the table is reached through it.
struct Guard {
    _private: (),
}

impl Guard {
    #[allow(
        clippy::unused_self,
        reason = "the borrow of the guard is what makes the access exclusive"
    )]
    fn table(&mut self) -> &mut Option<Table> {
        // SAFETY: a `Guard` exists only while this thread holds the lock, and
        // the `&mut self` borrow keeps this the only reference.
        unsafe { &mut *TABLE.table.get() }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        unlock_raw();
    }
}

/// Takes the table's lock. Never held across a blocking call.
fn lock() -> Guard {
    lock_raw();
    Guard { _private: () }
}

extern "C" fn fork_prepare() {
    lock_raw();
}

extern "C" fn fork_parent() {
    unlock_raw();
}

extern "C" fn fork_child() {
    // SAFETY: `fork_prepare` took the lock in the forking thread, which is
    // this thread in the child: nobody else can reach the table.
    let table = unsafe { &mut *TABLE.table.get() };
    if let Some(t) = table {
        // Closes the parent's duplicates (close(2) is async-signal-safe;
        // draining frees no memory).
        t.offers.drain().for_each(drop);
        t.sending.drain().for_each(drop);
        drop(t.listener.take());
    }
    PENDING.store(0, Ordering::Relaxed);
    // No other thread exists to be woken.
    TABLE.word.store(0, Ordering::Release);
}

fn register_fork_handlers() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut outcome = Ok(());
    ONCE.call_once(|| {
        // SAFETY: `fork_child` only touches the table, whose lock
        // `fork_prepare` took, closes descriptors and stores atomics.
        outcome = unsafe { sys::register_fork_handlers(fork_prepare, fork_parent, fork_child) };
    });
    outcome.map_err(|e| Error::io("cannot register the descriptor server's fork handlers", e))
}

fn random_key() -> Result<Key> {
    let mut key = [0u8; KEY_LEN];
    sys::random_bytes(&mut key).map_err(|e| Error::io("cannot read random bytes", e))?;
    Ok(key)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(unix)]
pub use crate::os_fd::{fetch, offer};

/// [`offer`] in the seam's terms.
pub(crate) fn offer_fd(fd: FdRef<'_>) -> Result<(Vec<u8>, Key)> {
    register_fork_handlers()?;
    let dup = sys::dup(fd).map_err(|e| Error::io("cannot duplicate the descriptor to offer", e))?;
    let key = random_key()?;
    let name = format!("{NAME_PREFIX}{}", hex(&random_key()?));
    let mut guard = lock();
    let table = guard.table().get_or_insert_with(|| Table {
        listener: None,
        address: Vec::new(),
        offers: HashMap::new(),
        sending: HashMap::new(),
    });
    if table.listener.is_none() {
        let listener = sys::listen_abstract(name.as_bytes(), 256)
            .map_err(|e| Error::io("cannot start the descriptor server", e))?;
        let raw = listener.borrow().number();
        std::thread::Builder::new()
            .name("ndshare-fd-server".into())
            .spawn(move || serve(raw))
            .map_err(|e| Error::io("cannot start the descriptor server's thread", e))?;
        table.listener = Some(listener);
        table.address = [b"\0", name.as_bytes()].concat();
    }
    table.offers.insert(key, dup);
    PENDING.fetch_add(1, Ordering::Release);
    Ok((table.address.clone(), key))
}

/// Accepts connections forever. A receiver sends its key as soon as it is
/// connected, so the key is usually there at the accept: such a request is
/// served at once, on this thread (the answer is one byte on a new socket,
/// which never waits for room). Any other connection is served on a thread
/// of its own, so that a stalled peer delays nobody else.
fn serve(listener: i32) {
    let uid = sys::uid();
    loop {
        // SAFETY: the listening socket is kept open in the table for the
        // life of this process; only a forked child closes its copy, and
        // this thread does not exist there.
        let listener = unsafe { FdRef::from_number(listener) };
        let Ok(conn) = sys::accept(listener) else {
            // Out of descriptors or an aborted connection (the listener
            // itself is never closed here): try again.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if !sys::peer_uid(conn.borrow()).is_ok_and(|peer| peer == uid) {
            continue;
        }
        let mut key = [0u8; KEY_LEN];
        let Ok(ready) = sys::recv_ready(conn.borrow(), &mut key) else {
            continue;
        };
        if ready == KEY_LEN {
            if sys::set_socket_timeouts(conn.borrow(), CONNECTION_TIMEOUT).is_ok() {
                let _ = answer(conn, &key);
            }
            continue;
        }
        // If no thread can start, the connection is closed: the receiver
        // sees an error rather than waiting.
        let _ = std::thread::Builder::new()
            .name("ndshare-fd-conn".into())
            .spawn(move || {
                if sys::set_socket_timeouts(conn.borrow(), CONNECTION_TIMEOUT)
                    .and_then(|()| sys::recv_exact(conn.borrow(), &mut key[ready..]))
                    .is_ok()
                {
                    let _ = answer(conn, &key);
                }
            });
    }
}

/// Sends the descriptor offered under `key` and forgets the offer, or
/// refuses. The connection is closed before the offer counts as taken, so
/// that a process woken by [`wait_until_taken`] holds nothing of it.
fn answer(conn: Fd, key: &Key) -> io::Result<()> {
    let raw = {
        let mut guard = lock();
        let Some(table) = guard.table() else {
            return sys::send_bytes(conn.borrow(), &[REFUSED]);
        };
        let Some(fd) = table.offers.remove(key) else {
            drop(guard);
            return sys::send_bytes(conn.borrow(), &[REFUSED]);
        };
        let raw = fd.borrow().number();
        table.sending.insert(*key, fd);
        raw
    };
    // SAFETY: the descriptor stays open in `sending` until this thread
    // removes it below (a forked child's copy of the table is the child's).
    let fd = unsafe { FdRef::from_number(raw) };
    let sent = sys::send_with_fd(conn.borrow(), &[TAKEN], fd);
    drop(conn);
    {
        let mut guard = lock();
        if let Some(table) = guard.table() {
            drop(table.sending.remove(key));
        }
        PENDING.fetch_sub(1, Ordering::Release);
    }
    sys::futex_wake_all(&PENDING);
    sent
}

/// Waits, at most `timeout`, until every offer of this process was taken
/// and its descriptor sent. Returns whether none is left. A timeout too
/// large to represent waits as long as it takes.
#[must_use]
pub fn wait_until_taken(timeout: Duration) -> bool {
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let pending = PENDING.load(Ordering::Acquire);
        if pending == 0 {
            return true;
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return false;
        }
        let _ = sys::futex_wait(&PENDING, pending, left);
    }
}

/// [`fetch`] in the seam's terms.
pub(crate) fn fetch_fd(address: &[u8], key: &Key) -> Result<Fd> {
    let Some(name) = address.strip_prefix(b"\0") else {
        return Err(Error::InvalidHandle(format!(
            "\"{}\" is not a descriptor server's address",
            address.escape_ascii()
        )));
    };
    let unreachable = |e| Error::io("cannot reach the sending process's descriptor server", e);
    let conn = sys::connect_abstract(name).map_err(unreachable)?;
    sys::set_socket_timeouts(conn.borrow(), FETCH_TIMEOUT).map_err(unreachable)?;
    sys::send_bytes(conn.borrow(), key).map_err(unreachable)?;
    let mut reply = [0u8; 1];
    let fd = sys::recv_with_fd(conn.borrow(), &mut reply).map_err(unreachable)?;
    match fd {
        Some(fd) if reply[0] == TAKEN => Ok(fd),
        _ => Err(Error::io(
            "the sending process no longer offers this descriptor",
            io::ErrorKind::ConnectionRefused.into(),
        )),
    }
}
