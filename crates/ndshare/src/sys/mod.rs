//! The platform seam: every OS call ndshare makes goes through this module.
//!
//! One backend is chosen here, in one line, as memmap2 does. Each backend has
//! the same signatures; `unsupported.rs` returns [`io::ErrorKind::Unsupported`]
//! everywhere so that the crate still builds on other systems and says why it
//! cannot work there.
//!
//! [`io::ErrorKind::Unsupported`]: std::io::ErrorKind::Unsupported

#[cfg_attr(target_os = "linux", path = "linux.rs")]
#[cfg_attr(not(target_os = "linux"), path = "unsupported.rs")]
mod imp;

#[cfg(target_os = "linux")]
pub mod sigbus;

pub use imp::*;
