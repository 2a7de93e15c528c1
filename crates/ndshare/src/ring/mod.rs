//! Streams of n-d arrays between processes: a ring of fixed-shape slots in
//! one segment, with backpressure, futex waits and recovery from processes
//! that die holding a slot, which the kernel reports to waiters through the
//! member table. The protocol is in docs/format.md, "Rings".

pub(crate) mod control;
pub(crate) mod member;
pub(crate) mod raw;
pub(crate) mod typed;
