//! Reaching an array from another process: [`Handle`](crate::Handle)s that
//! locate it, descriptors passed over Unix sockets, and the descriptor server
//! ([`fdserver`]) that hands a descriptor to a process that asks with a key.

pub(crate) mod fdpass;
pub mod fdserver;
pub(crate) mod handle;
pub(crate) mod locator;

pub use fdpass::MAGIC as FD_MESSAGE_MAGIC;
