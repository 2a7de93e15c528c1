//! Keeps a file that shrinks under a mapping from killing the process.
//!
//! `mmap(2)`: "SIGBUS: Attempted access to a page of the buffer that lies
//! beyond the end of the mapped file." Any process that may write a shared
//! file may truncate it (or punch a hole and fill the file system), and every
//! other process that maps it then dies at its next touch of the lost pages.
//!
//! Anonymous segments are memfds sealed with `F_SEAL_SHRINK`, and cannot
//! shrink. A file that has a name cannot be sealed: tmpfs gives files opened
//! by name the `F_SEAL_SEAL` seal, so `F_ADD_SEALS` fails with `EPERM`. Such
//! mappings are registered here, and a `SIGBUS` handler (installed the first
//! time one is registered) replaces a faulting page that lies in a registered
//! mapping with a private page of zeros, with the protection the mapping had,
//! then returns: the access completes. Reads of what was cut off give zeros;
//! writes to it stay private to this process. `SIGBUS`es it does not own go
//! to the handler that was there before, or end the process as they would
//! have without ndshare.
//!
//! The handler is async-signal-safe: it reads atomics and makes one raw
//! `mmap` system call (rustix's `linux_raw` backend: no libc, no `errno`).
//! The table of mappings is a list of fixed blocks that only grows, so the
//! handler never sees memory being freed.

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

use rustix::mm::{self, MapFlags, ProtFlags};

const SLOTS: usize = 128;

/// One registered mapping: `[start, start + len)`, writable on its first
/// `rw_len` bytes.
#[derive(Debug)]
struct Slot {
    claimed: AtomicBool,
    start: AtomicUsize,
    len: AtomicUsize,
    rw_len: AtomicUsize,
}

impl Slot {
    // A template for array initialisers: each use is a fresh slot, which is
    // the point (clippy's lint is about mistaking it for one shared value).
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Slot {
        claimed: AtomicBool::new(false),
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        rw_len: AtomicUsize::new(0),
    };
}

#[derive(Debug)]
struct Block {
    slots: [Slot; SLOTS],
    next: AtomicPtr<Block>,
}

static FIRST: Block = Block {
    slots: [Slot::EMPTY; SLOTS],
    next: AtomicPtr::new(ptr::null_mut()),
};

static PAGE: AtomicUsize = AtomicUsize::new(4096);
static REPLACED: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

fn blocks() -> impl Iterator<Item = &'static Block> {
    let mut next: Option<&'static Block> = Some(&FIRST);
    std::iter::from_fn(move || {
        let cur = next?;
        let p = cur.next.load(Ordering::Acquire);
        // SAFETY: blocks are leaked boxes, never freed, published with
        // release ordering after initialisation.
        next = unsafe { p.as_ref() };
        Some(cur)
    })
}

/// A mapping that the handler protects; unregistered on drop. Drop it
/// before unmapping.
#[derive(Debug)]
pub struct Registration {
    slot: &'static Slot,
}

impl Registration {
    /// Only the first `rw_len` bytes are writable now (after `mprotect`).
    pub fn set_writable_len(&self, rw_len: usize) {
        self.slot.rw_len.store(rw_len, Ordering::Release);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.slot.start.store(0, Ordering::Release);
        self.slot.claimed.store(false, Ordering::Release);
    }
}

/// Protects `[start, start + len)`: a `SIGBUS` for a page in it no longer
/// kills the process (see the module documentation).
pub fn register(start: *mut u8, len: usize, rw_len: usize) -> Registration {
    install();
    let slot = claim();
    slot.len.store(len, Ordering::Release);
    slot.rw_len.store(rw_len, Ordering::Release);
    slot.start.store(start as usize, Ordering::Release);
    Registration { slot }
}

fn claim() -> &'static Slot {
    loop {
        let mut last = &FIRST;
        for block in blocks() {
            for slot in &block.slots {
                if slot
                    .claimed
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    return slot;
                }
            }
            last = block;
        }
        let fresh: &'static Block = Box::leak(Box::new(Block {
            slots: [Slot::EMPTY; SLOTS],
            next: AtomicPtr::new(ptr::null_mut()),
        }));
        let fresh_ptr = ptr::from_ref(fresh).cast_mut();
        if last
            .next
            .compare_exchange(
                ptr::null_mut(),
                fresh_ptr,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // Another thread appended a block first; ours stays unused (a
            // few KiB, once) and the search starts over.
        }
    }
}

/// How many pages the handler has replaced in this process: each one is an
/// access that would otherwise have been a fatal `SIGBUS`.
#[must_use]
pub fn pages_replaced() -> u64 {
    REPLACED.load(Ordering::Relaxed)
}

fn install() {
    INSTALL.call_once(|| {
        PAGE.store(rustix::param::page_size(), Ordering::Relaxed);
        let mut old = MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: a null new action only reads the current one into `old`.
        let rc = unsafe { libc::sigaction(libc::SIGBUS, ptr::null(), old.as_mut_ptr()) };
        // SAFETY: sigaction filled it in; on failure the zeroed value is
        // SIG_DFL with no flags, which is what a fresh process has.
        let old = unsafe { old.assume_init() };
        let _ = PREVIOUS.set(if rc == 0 { old } else { default_action() });
        // SAFETY: an all-zero sigaction is a valid value to fill in.
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = on_sigbus as *const () as usize;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        // SAFETY: sa_mask is a valid sigset_t to initialise; the handler is
        // an `extern "C"` function of the SA_SIGINFO signature that lives for
        // the whole program.
        unsafe {
            libc::sigemptyset(&raw mut new.sa_mask);
            libc::sigaction(libc::SIGBUS, &raw const new, ptr::null_mut());
        }
    });
}

fn default_action() -> libc::sigaction {
    // SAFETY: all-zero is SIG_DFL, empty mask, no flags.
    unsafe { std::mem::zeroed() }
}

/// The page containing `addr` and the protection to give it, if `addr` lies
/// in a registered mapping.
fn lookup(addr: usize) -> Option<(usize, ProtFlags)> {
    for block in blocks() {
        for slot in &block.slots {
            let start = slot.start.load(Ordering::Acquire);
            if start == 0 || addr < start {
                continue;
            }
            let len = slot.len.load(Ordering::Acquire);
            let rw_len = slot.rw_len.load(Ordering::Acquire);
            if addr - start >= len || slot.start.load(Ordering::Acquire) != start {
                continue;
            }
            let page = addr & !(PAGE.load(Ordering::Relaxed) - 1);
            let prot = if addr - start < rw_len {
                ProtFlags::READ | ProtFlags::WRITE
            } else {
                ProtFlags::READ
            };
            return Some((page, prot));
        }
    }
    None
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code == libc::BUS_ADRERR {
        if let Some((page, prot)) = lookup(addr) {
            // SAFETY: the page lies in a mapping this process made and still
            // holds (registered until just before munmap); MAP_FIXED replaces
            // that page of it and nothing else. Rust references into the
            // mapping (atomics in the header, slices and views of the data)
            // see its bytes change, exactly as when another process writes
            // the shared file: the contract every reference into a segment
            // already lives with (crate docs: "the compiler cannot see past
            // the process").
            let done = unsafe {
                mm::mmap_anonymous(
                    page as *mut c_void,
                    PAGE.load(Ordering::Relaxed),
                    prot,
                    MapFlags::PRIVATE | MapFlags::FIXED,
                )
            };
            if done.is_ok() {
                REPLACED.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
    // SAFETY: forwards the kernel's own arguments.
    unsafe { chain(sig, info, ctx, code) };
}

/// Hands a `SIGBUS` that is not ours to whoever had it before.
///
/// # Safety
/// Called only from the signal handler, with the kernel's arguments.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void, code: libc::c_int) {
    let prev = PREVIOUS.get().copied().unwrap_or_else(default_action);
    let handler = prev.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        let from_fault = code > 0;
        if handler == libc::SIG_IGN && !from_fault {
            return; // a SIGBUS sent by kill(2) and ignored before: still ignored
        }
        let dfl = default_action();
        // SAFETY: restoring the default action is async-signal-safe. A fault
        // then repeats on return and ends the process as the kernel would
        // have; a signal sent by kill(2) is sent again, unblocked on return.
        unsafe {
            libc::sigaction(libc::SIGBUS, &raw const dfl, ptr::null_mut());
            if !from_fault {
                libc::raise(libc::SIGBUS);
            }
        }
        return;
    }
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous owner installed this as an SA_SIGINFO handler.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the previous owner installed this as a plain handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}
