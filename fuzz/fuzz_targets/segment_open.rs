//! `segment::read_header` and `Segment::from_fd` on a real memfd holding
//! arbitrary bytes: the whole attach path, mapping included.
#![no_main]

#[path = "../oracle.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oracle::open(data);
});
