//! Process-shared synchronisation in segments: locks, barriers, events, atomics.

pub(crate) mod atomic;
pub(crate) mod barrier;
pub(crate) mod event;
pub(crate) mod lock;
pub(crate) mod owner;
pub(crate) mod primitive;
pub(crate) mod rwlock;
pub(crate) mod wait;
