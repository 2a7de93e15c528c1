//! With the backend for systems ndshare does not support, every public
//! operation fails with `Error::Unsupported`, and none pretends to work.
//!
//! Runs only when the core is built with that backend:
//! `CARGO_TARGET_DIR=target/unsupported RUSTFLAGS='--cfg ndshare_unsupported'
//! cargo test -p ndshare --test unsupported` (`make check-unsupported`).
#![cfg(ndshare_unsupported)]

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use ndshare::named;
use ndshare::transport::fdserver;
use ndshare::{
    Access, Barrier, Builder, Delivery, Error, Event, Handle, Layout, Locator, Order, RawArray,
    RawRing, Ring, Segment, SharedArray,
};

#[track_caller]
fn unsupported<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(e @ Error::Unsupported { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("Linux"),
                "the message says which systems work: {msg}"
            );
        }
        other => panic!("expected Error::Unsupported, got {other:?}"),
    }
}

fn layout() -> Layout {
    Layout::contiguous(&[4], 8, Order::C).unwrap()
}

fn a_file() -> OwnedFd {
    OwnedFd::from(File::open("/dev/null").unwrap())
}

#[test]
fn making_an_array_is_unsupported() {
    unsupported(Segment::create(layout(), "<f8", None, 0o600));
    unsupported(Segment::create(layout(), "<f8", Some("unsupported"), 0o600));
    unsupported(Segment::create_unpublished(layout(), "<f8", None, 0o600));
    unsupported(SharedArray::<f64>::zeros(&[4], Order::C));
    unsupported(SharedArray::from_slice(&[1i32, 2], &[2], Order::F));
    unsupported(RawArray::zeros("|b1", 1, &[3], Order::C));
    unsupported(Builder::new().name("unsupported").zeros::<u8>(&[2]));
    unsupported(Builder::new().raw_zeros("<i4", 4, &[0]));
}

#[test]
fn making_a_large_array_on_huge_pages_is_unsupported() {
    let big = Layout::contiguous(&[ndshare::HUGE_THRESHOLD * 4], 1, Order::C).unwrap();
    for huge_pages in [true, false] {
        unsupported(Segment::create_unpublished_with(
            big.clone(),
            "|u1",
            None,
            0o600,
            huge_pages,
        ));
    }
    unsupported(Builder::new().huge_pages(true).zeros::<u8>(&[64 << 20]));
}

#[test]
fn reaching_an_array_is_unsupported() {
    unsupported(Segment::attach("unsupported", Access::ReadOnly));
    unsupported(Segment::attach_file(
        "unsupported",
        (1, 2),
        Access::ReadWrite,
    ));
    unsupported(SharedArray::<f32>::attach("unsupported"));
    unsupported(SharedArray::<f32>::attach_readonly("unsupported"));
    unsupported(RawArray::attach("unsupported", Access::ReadWrite));
    unsupported(Segment::from_fd(a_file(), Access::ReadOnly));
    unsupported(Segment::from_borrowed_fd(
        a_file().as_fd(),
        Access::ReadWrite,
    ));
    unsupported(Segment::from_process_fd(1, 0, (1, 2), Access::ReadOnly));
    unsupported(ndshare::unlink("unsupported"));
    for handle in [
        "ndshare:name:unsupported",
        "ndshare:named:1:2:unsupported",
        "ndshare:proc:1:0:1:2",
    ] {
        let handle: Handle = handle.parse().unwrap();
        unsupported(handle.open(Access::ReadOnly));
        unsupported(SharedArray::<i64>::open(&handle, Access::ReadWrite));
        unsupported(RawArray::open(&handle, Access::ReadOnly));
    }
    for name in [Some("unsupported".to_owned()), None] {
        let locator = Locator {
            name,
            dev: 1,
            ino: 2,
            pid: 1,
            fd: 0,
        };
        unsupported(locator.open(Access::ReadOnly));
        unsupported(locator.open_described(Access::ReadWrite, "an array"));
    }
    let (tx, rx) = UnixStream::pair().unwrap();
    drop(tx);
    unsupported(RawArray::recv(&rx, Access::ReadOnly));
    unsupported(SharedArray::<u8>::recv(&rx, Access::ReadWrite));
}

#[test]
fn synchronization_objects_are_unsupported() {
    unsupported(Barrier::create(2));
    unsupported(Event::create());
}

#[test]
fn rings_are_unsupported() {
    for delivery in [Delivery::Queue, Delivery::Broadcast, Delivery::Overwrite] {
        unsupported(RawRing::create("<f4", 4, &[2, 3], 4, delivery, None));
        unsupported(RawRing::create(
            "<f4",
            4,
            &[2],
            4,
            delivery,
            Some("unsupported"),
        ));
        unsupported(Ring::<u16>::create(&[8], 2, delivery, None));
        unsupported(Ring::<u16>::create(&[8], 2, delivery, Some("unsupported")));
    }
    unsupported(RawRing::attach("unsupported"));
    unsupported(Ring::<f64>::attach("unsupported"));
    for handle in ["ndshare:name:unsupported", "ndshare:proc:1:0:1:2"] {
        unsupported(RawRing::open(&handle.parse().unwrap()));
    }
    let (tx, rx) = UnixStream::pair().unwrap();
    drop(tx);
    unsupported(RawRing::recv(&rx));
}

#[test]
fn named_arrays_are_unsupported() {
    unsupported(named::list());
    unsupported(named::inspect("unsupported"));
    unsupported(named::report("unsupported"));
    unsupported(named::reports());
    unsupported(named::collect(true));
    unsupported(named::collect_where(false, |_| true));
    unsupported(named::unlink_if_same("unsupported", (1, 2)));
}

#[test]
fn the_descriptor_server_is_unsupported() {
    unsupported(fdserver::offer(a_file().as_fd()));
    unsupported(fdserver::fetch(
        b"\0ndshare-fd-unsupported",
        &[0; fdserver::KEY_LEN],
    ));
    // Nothing was offered, so nothing is waiting to be taken.
    assert!(fdserver::wait_until_taken(std::time::Duration::ZERO));
}

#[test]
fn nothing_is_counted() {
    assert_eq!(ndshare::truncated_pages_replaced(), 0);
}
