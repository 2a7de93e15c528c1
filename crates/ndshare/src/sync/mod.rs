//! Process-shared synchronisation in segments: locks, barriers, events, atomics.

pub mod atomic;
pub mod barrier;
pub mod event;
pub mod lock;
pub mod owner;
pub mod primitive;
pub mod rwlock;
pub mod wait;
