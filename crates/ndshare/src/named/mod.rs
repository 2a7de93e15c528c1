//! Named arrays: names, the attacher table, the registry of this machine and lifetime.

pub mod attachers;
pub mod lifetime;
pub mod name;
pub mod registry;
pub mod status;
