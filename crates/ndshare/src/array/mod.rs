//! The arrays over a segment: typed, raw, and the builder that makes them.

pub(crate) mod builder;
pub(crate) mod raw;
pub(crate) mod typed;
