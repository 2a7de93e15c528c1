//! What every input must satisfy, shared by the libFuzzer targets
//! (`fuzz/fuzz_targets`) and the stable-Rust replay in `cargo test`
//! (`crates/ndshare/tests/fuzz_replay.rs`): an error is fine, a panic, a crash
//! or a view reaching outside the segment is not.

#![allow(dead_code)]

use std::fs::File;
use std::io::Write;

use ndshare::format as header;
use ndshare::Header;
use ndshare::{Access, Segment};

/// Most elements whose byte ranges are checked one by one.
const ENUMERATE_MAX: u64 = 4096;

/// `header_decode` input: the segment's size (8 bytes, little-endian), then
/// the bytes read from its start. Returns whether the header was accepted.
pub fn decode(data: &[u8]) -> bool {
    let Some((size, bytes)) = data.split_first_chunk::<8>() else {
        return false;
    };
    let segment_len = u64::from_le_bytes(*size);
    match Header::decode(bytes, segment_len) {
        Ok(h) => {
            check(&h, segment_len);
            true
        }
        Err(_) => false,
    }
}

/// `segment_open` input: one byte of options (bit 0: map read-only; bits
/// 1..7: zero pages appended to the file), then the file's first bytes.
/// Returns whether the segment was mapped.
pub fn open(data: &[u8]) -> bool {
    let Some((&opts, contents)) = data.split_first() else {
        return false;
    };
    let access = if opts & 1 == 0 {
        Access::ReadWrite
    } else {
        Access::ReadOnly
    };
    let extra = u64::from(opts >> 1) * header::HEADER_ALIGN as u64;
    let fd = rustix::fs::memfd_create(
        "ndshare-fuzz",
        rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
    )
    .expect("memfd");
    let mut file = File::from(fd);
    file.write_all(contents).expect("write");
    file.set_len(contents.len() as u64 + extra)
        .expect("set_len");
    let fd = std::os::fd::OwnedFd::from(file);
    let Ok(seg) = Segment::from_fd(fd, access) else {
        return false;
    };
    let h = seg.header().clone();
    check(&h, h.segment_len());
    assert_eq!(seg.data_len() as u64, h.data_len);
    assert_eq!(seg.is_writable(), access == Access::ReadWrite);
    if !h.is_named() {
        assert!(
            seg.is_size_sealed(),
            "an anonymous segment was mapped unsealed"
        );
    }
    // SAFETY: data_ptr..data_ptr + data_len lies in the mapping, which is
    // backed: the memfd is sealed or guarded, and only this function holds it.
    let data = unsafe { std::slice::from_raw_parts(seg.data_ptr(), seg.data_len()) };
    assert_eq!(data.len() as u64, h.data_len);
    let sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
    std::hint::black_box(sum);
    true
}

/// Checks a header that decoded: it describes exactly the segment, and every
/// element it describes lies inside the data.
fn check(h: &Header, segment_len: u64) {
    assert_eq!(h.header_len.checked_add(h.data_len), Some(segment_len));
    assert_eq!(h.header_len % header::HEADER_ALIGN as u64, 0);
    let l = &h.layout;
    assert!(l.ndim() <= header::MAX_NDIM);
    assert!(h.header_len >= header::header_len_for(l.ndim(), h.dtype.len()) as u64);
    assert!(!h.dtype.is_empty() && h.dtype.bytes().all(|c| (0x20..0x7f).contains(&c)));
    l.check_fits(0, h.data_len)
        .expect("a decoded layout fits its data");
    // Independently of check_fits: walk every element of small arrays.
    if l.len() <= ENUMERATE_MAX {
        let mut index = vec![0u64; l.ndim()];
        for _ in 0..l.len() {
            let off: i128 = index
                .iter()
                .zip(l.strides())
                .map(|(&i, &s)| i128::from(i) * i128::from(s))
                .sum();
            assert!(off >= 0, "element at byte {off}");
            assert!(
                off + i128::from(l.itemsize()) <= i128::from(h.data_len),
                "element past the data"
            );
            for axis in (0..l.ndim()).rev() {
                index[axis] += 1;
                if index[axis] < l.shape()[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
    }
    // What decodes, encodes back to the same header.
    if h.header_len <= 1 << 20 {
        let mut b = h.encode();
        b[header::offset::STATE..header::offset::STATE + 4]
            .copy_from_slice(&header::STATE_READY.to_le_bytes());
        assert_eq!(Header::decode(&b, segment_len).as_ref().ok(), Some(h));
    }
}
