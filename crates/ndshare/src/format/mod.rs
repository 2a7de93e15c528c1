//! The segment format: what a C program, or another language, needs to read
//! and write ndshare segments (docs/format.md describes every field).
//!
//! A segment is a header of [`header_len_for`] bytes, rounded up to
//! [`HEADER_ALIGN`], then the data. The header starts with [`MAGIC`] and the
//! version; [`offset`] gives each fixed field's byte offset.

pub(crate) mod dtype;
pub(crate) mod file;
pub(crate) mod header;
pub(crate) mod layout;
pub(crate) mod ring;

pub use dtype::itemsize_of;
pub use header::{
    header_len_for, offset, ATTACHERS_SINCE_MINOR, ATTACH_SLOTS, ATTACH_SLOT_LEN, FLAG_NAMED,
    HEADER_ALIGN, KIND_ARRAY, KIND_RING, KIND_SINCE_MINOR, MAGIC, MAX_DTYPE_LEN, MAX_NDIM,
    STATE_INIT, STATE_READY, VERSION_MAJOR, VERSION_MINOR,
};
