//! The arrays over a segment: typed, raw, and the builder that makes them.

pub mod builder;
pub mod raw;
pub mod typed;
