//! The segment format: header, layout and dtype descriptors.

pub mod dtype;
pub mod file;
pub mod header;
pub mod layout;
