//! `Segment::write_data`: bytes written through the file appear in every
//! mapping of the segment, within bounds, and never into a read-only one.

use ndshare::{Access, Error, Layout, Order, Segment};

/// An anonymous segment of `shape` bytes (`|u1`), all zero.
fn bytes(shape: &[u64]) -> Segment {
    Segment::create(
        Layout::contiguous(shape, 1, Order::C).unwrap(),
        "|u1",
        None,
        0o600,
    )
    .unwrap()
}

fn data(seg: &Segment) -> Vec<u8> {
    // SAFETY: the mapping holds `data_len` bytes and lives as long as `seg`;
    // no one writes to it while the copy is taken.
    unsafe { std::slice::from_raw_parts(seg.data_ptr(), seg.data_len()) }.to_vec()
}

#[test]
fn written_bytes_appear_in_this_and_another_mapping() {
    let seg = bytes(&[3, 5000]);
    let other = Segment::from_borrowed_fd(seg.fd(), Access::ReadWrite).unwrap();
    let src: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
    seg.write_data(3000, &src).unwrap();
    let mut want = vec![0u8; 15000];
    want[3000..12000].copy_from_slice(&src);
    assert_eq!(data(&seg), want);
    assert_eq!(data(&other), want);
}

#[test]
fn a_write_past_the_end_is_refused_and_changes_nothing() {
    let seg = bytes(&[8]);
    let err = seg.write_data(5, &[1, 2, 3, 4]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(seg.write_data(usize::MAX, &[1]).is_err());
    seg.write_data(4, &[9, 9, 9, 9]).unwrap();
    assert_eq!(data(&seg), [0, 0, 0, 0, 9, 9, 9, 9]);
}

#[test]
fn a_read_only_segment_refuses_writes() {
    let seg = bytes(&[8]);
    let ro = Segment::from_fd(seg.fd().try_clone_to_owned().unwrap(), Access::ReadOnly).unwrap();
    let err = ro.write_data(0, &[1]).unwrap_err();
    assert!(matches!(err, Error::ReadOnly), "{err:?}");
    assert_eq!(data(&seg), [0; 8]);
}
