//! Share n-dimensional arrays between processes with zero copies.
//!
//! A [`Segment`] is one shared file — an anonymous memfd that can never leak,
//! or a named file in /dev/shm — holding a versioned header
//! ([`Header`]; the bytes are in [`format`](mod@format) and docs/format.md) and the
//! array data. Python
//! (the `ndshare` package), Rust and C programs map the same segments.
//!
//! Every OS call goes through one private module, the platform seam; on a
//! system other than Linux every operation returns [`Error::Unsupported`].
//!
//! # Rust API
//!
//! [`SharedArray<T>`] is a typed array with `ndarray` views; [`RawArray`]
//! the same for any dtype, as bytes; [`Builder`] names a new array or picks
//! its order; [`Handle`] tells another process where to find an array.
//! [`Ring<T>`] and [`RawRing`] stream n-d items between processes.
//!
//! ```
//! use ndshare::{Builder, SharedArray};
//! # let name = format!("doc-crate-{}", std::process::id());
//! // One process makes a named float32 image stack ...
//! let mut stack = Builder::new().name(&name).zeros::<f32>(&[4, 64, 64])?;
//! stack.view_mut()?.fill(0.5);
//!
//! // ... another (here the same one) maps it by name, type-checked, and
//! // Python could do the same: `ndshare.attach(name)`.
//! let mut seen = SharedArray::<f32>::attach(&name)?;
//! seen.view_mut()?[[3, 10, 10]] = 2.0;
//! assert_eq!(stack.view()[[3, 10, 10]], 2.0);
//!
//! stack.unlink()?; // the name goes; the memory when the last mapping goes
//! # Ok::<(), ndshare::Error>(())
//! ```
//!
//! # Sharing and soundness
//!
//! Within one process the borrow rules protect the data as for any Rust
//! value: [`SharedArray::view`] borrows the array shared,
//! [`SharedArray::view_mut`] exclusively, so safe code cannot make a `&mut`
//! element that aliases another reference made through the same value.
//!
//! The compiler cannot see past the process: another process that maps the
//! same segment — or a second `SharedArray` mapping it in this process — can
//! write the data while a view of it is alive, as with any shared memory
//! (POSIX `shm_open`, `mmap` of a file). ndshare's position, and the reason
//! its API is safe, is the one memory-mapping libraries take for memory
//! meant to be shared:
//!
//! - Elements are [`Element`] types only — numbers, valid for every bit
//!   pattern — so a concurrent write can give a stale or torn *value*, never
//!   an invalid one (no `bool` of 2, no dangling reference). Other dtypes are
//!   reached as bytes through [`RawArray`].
//! - The segment's size cannot change under a mapping: anonymous arrays are
//!   memfds sealed against shrinking, and every header field is checked
//!   against the file's real size before use, so element addresses always lie
//!   in mapped memory.
//! - A read-only mapping ([`Access::ReadOnly`]) is enforced by the MMU: no
//!   view of it can write.
//!
//! What remains is the ordinary discipline of shared memory: a program that
//! needs a consistent snapshot while others write must agree with them on
//! when to write (a lock, a message, a barrier). Values read without such an
//! agreement may be any mix of old and new. And since Rust's model has the
//! target of a shared reference stay unchanged while it is borrowed, the
//! compiler may reuse a value it has read instead of reading memory again:
//! never poll array data for another process's write (a loop on
//! `view()[i] == 0` may never end); signal through a lock, a socket or an
//! atomic instead, then take a new view.
//!
//! One case is outside what ndshare can prevent: a process with write
//! permission on a *named* array's file may truncate it (named files cannot
//! be sealed). An access to the cut-off pages would raise `SIGBUS`; ndshare's
//! handler replaces each such page with zeros in this process instead
//! ([`truncated_pages_replaced`] counts them), so the program goes on, but
//! what it reads there is no
//! longer the array and what it writes there reaches nobody. Give named
//! arrays to processes you trust with them (permission bits `0o600` by
//! default).
#![deny(missing_docs)]

mod array;
mod error;
pub mod format;
mod human;
mod limits;
mod liveness;
pub mod named;
#[cfg(unix)]
mod os_fd;
mod ring;
mod segment;
mod sync;
mod sys;
pub mod transport;

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctest;

pub use array::builder::Builder;
pub use array::raw::RawArray;
pub use array::typed::SharedArray;
pub use error::{Error, Result};
pub use format::dtype::Element;
pub use format::header::Header;
pub use format::layout::{Layout, Order};
pub use human::size as human_size;
pub use liveness::ProcessStamp;
pub use ring::control::Delivery;
pub use ring::raw::{Claim, RawRing, ReadSlot, RingStats, Subscriber, Taken, WriteSlot};
pub use ring::typed::Ring;
pub use segment::{unlink, Access, Backing, Segment, DEFAULT_MODE, HUGE_THRESHOLD};
pub use sync::atomic::{AtomicElement, AtomicView, Op as AtomicOp, RawBuffer};
pub use sync::barrier::Barrier;
pub use sync::event::Event;
pub use sync::lock::{Acquired, LockError, LockGuard, LockResult, LockedMut, RawLock};
pub use sync::owner::Owner;
pub use sync::rwlock::{RawRwLock, ReadGuard, WriteGuard};
pub use sync::wait::Wait;
pub use sys::{truncated_pages_replaced, FileInfo};
pub use transport::handle::Handle;
pub use transport::locator::Locator;

/// What several modules' unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    use crate::{Layout, Order, Segment};

    /// An anonymous segment of one int64: its header holds every lock.
    pub(crate) fn segment() -> Segment {
        Segment::create(
            Layout::contiguous(&[1], 8, Order::C).unwrap(),
            "<i8",
            None,
            0o600,
        )
        .unwrap()
    }
}
