//! Share n-dimensional arrays between processes with zero copies.
//!
//! A [`Segment`] is one shared file — an anonymous memfd that can never leak,
//! or a named file in /dev/shm — holding a versioned header
//! ([`header`], documented in docs/format.md) and the array data. Python
//! (the `ndshare` package), Rust and C programs map the same segments.
//!
//! Every OS call is in [`sys`], the one platform seam.
#![deny(missing_docs)]

pub mod dtype;
pub mod error;
pub mod header;
pub mod layout;
mod limits;
pub mod liveness;
pub mod name;
pub mod registry;
mod sealing;
pub mod segment;
pub mod sys;

pub use dtype::Element;
pub use error::{Error, Result};
pub use header::Header;
pub use layout::{Layout, Order};
pub use liveness::ProcessStamp;
pub use segment::{unlink, Access, Segment};
