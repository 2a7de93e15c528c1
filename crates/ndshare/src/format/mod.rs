//! The segment format: header, layout and dtype descriptors.

pub mod dtype;
pub mod header;
pub mod layout;
