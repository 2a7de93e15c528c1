//! `Header::decode` on arbitrary header bytes and an arbitrary segment size.
#![no_main]

#[path = "../oracle.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oracle::decode(data);
});
