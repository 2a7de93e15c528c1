//! Reaching an array from another process: handles and descriptor passing.

pub mod fdpass;
pub mod fdserver;
pub mod handle;
