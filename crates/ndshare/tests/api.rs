//! The Rust API within one process: constructors, views, types, errors.

// Test values are small integers, exact in every float type.
#![allow(clippy::cast_precision_loss, clippy::float_cmp)]

use ndarray::{s, Array3, ArrayView2, Ix2, ShapeBuilder};
use ndshare::{Access, Builder, Error, Handle, Layout, Order, RawArray, Segment, SharedArray};

mod common;
use common::unique_name as unique;

#[test]
fn from_array_copies_any_layout() {
    let src = Array3::from_shape_fn((4, 5, 6), |(i, j, k)| (i * 100 + j * 10 + k) as f64);
    let strided = src.slice(s![..;2, 1.., ..;-3]);
    let a = SharedArray::from_array(&strided).unwrap();
    assert_eq!(a.shape(), &[2, 4, 2]);
    assert_eq!(a.order(), Some(Order::C));
    assert_eq!(a.view(), strided.into_dyn());

    let f = ndarray::Array2::from_shape_vec((3, 2).f(), vec![1u8, 2, 3, 4, 5, 6]).unwrap();
    let af = SharedArray::from_array(&f).unwrap();
    assert_eq!(af.order(), Some(Order::F));
    assert_eq!(af.as_slice(), &[1, 2, 3, 4, 5, 6]);
    let ac = Builder::new().order(Order::C).from_array(&f).unwrap();
    assert_eq!(ac.as_slice(), &[1, 4, 2, 5, 3, 6]);
    assert_eq!(ac.view(), af.view());
}

#[test]
fn from_slice_checks_the_count() {
    match SharedArray::from_slice(&[1i8, 2, 3], &[2, 2], Order::C) {
        Err(Error::InvalidShape(msg)) => assert!(msg.contains("3 elements"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn zero_d_and_empty_arrays() {
    let mut scalar = SharedArray::<i64>::zeros(&[], Order::C).unwrap();
    scalar.view_mut().unwrap()[[]] = 41;
    scalar.view_mut().unwrap().map_inplace(|v| *v += 1);
    assert_eq!((scalar.len(), scalar.view()[[]]), (1, 42));

    let mut empty = SharedArray::<f32>::zeros(&[3, 0, 2], Order::F).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.view().shape(), &[3, 0, 2]);
    assert_eq!(empty.view_mut().unwrap().len(), 0);
    assert_eq!(empty.as_slice().len(), 0);
}

#[test]
fn views_follow_the_borrow_rules() {
    let mut a = SharedArray::<u32>::zeros(&[4, 4], Order::C).unwrap();
    {
        let mut v = a.view_mut().unwrap();
        v.slice_mut(s![1.., ..1]).fill(5);
    }
    let v1 = a.view();
    let v2 = a.view(); // any number of shared views at once
    assert_eq!(v1.sum() + v2.sum(), 30);
    let col: ArrayView2<'_, u32> = v1.into_dimensionality::<Ix2>().unwrap();
    assert_eq!(col.column(0).to_vec(), [0, 5, 5, 5]);
}

#[test]
fn every_element_type_round_trips_through_its_descriptor() {
    fn check<T: ndshare::Element + PartialEq + std::fmt::Debug + From<u8>>(descr: &str) {
        let a = SharedArray::<T>::from_slice(&[T::from(3), T::from(250)], &[2], Order::C).unwrap();
        assert_eq!(a.dtype(), descr);
        let raw = RawArray::open(&a.handle(), Access::ReadOnly).unwrap();
        assert_eq!(raw.dtype(), descr);
        assert_eq!(
            raw.typed::<T>().unwrap().as_slice(),
            &[T::from(3), T::from(250)]
        );
    }
    check::<u8>("|u1");
    check::<u16>("<u2");
    check::<u32>("<u4");
    check::<u64>("<u8");
    check::<i16>("<i2");
    check::<i32>("<i4");
    check::<i64>("<i8");
    check::<f32>("<f4");
    check::<f64>("<f8");
    let a = SharedArray::<i8>::from_slice(&[-3], &[1], Order::C).unwrap();
    assert_eq!(a.dtype(), "|i1");
}

#[test]
fn typed_view_of_a_raw_array_checks_type_and_size() {
    // numpy writes '=' or '<' for native little-endian; both are f8 here.
    let seg = Segment::create(
        Layout::contiguous(&[2], 8, Order::C).unwrap(),
        "=f8",
        None,
        0o600,
    )
    .unwrap();
    assert_eq!(RawArray::from_segment(seg).typed::<f64>().unwrap().len(), 2);
    // Big-endian data is never read as native numbers.
    let seg = Segment::create(
        Layout::contiguous(&[2], 8, Order::C).unwrap(),
        ">f8",
        None,
        0o600,
    )
    .unwrap();
    match RawArray::from_segment(seg).typed::<f64>() {
        Err(Error::TypeMismatch { expected, found }) => {
            assert_eq!((expected.as_str(), found.as_str()), ("<f8", ">f8"));
        }
        other => panic!("{other:?}"),
    }
    // A descriptor that says f4 over 8-byte items is not f32.
    let seg = Segment::create(
        Layout::contiguous(&[2], 8, Order::C).unwrap(),
        "<f4",
        None,
        0o600,
    )
    .unwrap();
    assert!(matches!(
        RawArray::from_segment(seg).typed::<f32>(),
        Err(Error::TypeMismatch { .. })
    ));
}

#[test]
fn overlapping_strides_give_no_mutable_view() {
    // A header whose elements all share one address (stride 0): readable,
    // but a mutable view would alias, so ndarray's check refuses it.
    let layout = Layout::from_parts(vec![4], vec![0], 8).unwrap();
    let seg = Segment::create(layout, "<i8", None, 0o600).unwrap();
    let mut a = RawArray::from_segment(seg).typed::<i64>().unwrap();
    assert_eq!(a.view().len(), 4);
    assert!(matches!(a.view_mut(), Err(Error::InvalidShape(_))));
    // Strides that reach outside the data, or before its start, make no
    // segment at all: readers would refuse its header.
    for strides in [vec![-8], vec![16]] {
        let layout = Layout::from_parts(vec![4], strides, 8).unwrap();
        assert!(matches!(
            Segment::create(layout, "<i8", None, 0o600),
            Err(Error::InvalidShape(_))
        ));
    }
    // ... unless it reaches no element.
    let layout = Layout::from_parts(vec![1, 3], vec![-24, 8], 8).unwrap();
    let seg = Segment::create(layout, "<i8", None, 0o600).unwrap();
    assert_eq!(
        RawArray::from_segment(seg)
            .typed::<i64>()
            .unwrap()
            .view()
            .shape(),
        &[1, 3]
    );
    // Strides that are not whole elements are refused outright.
    let layout = Layout::from_parts(vec![2], vec![4], 8).unwrap();
    let seg = Segment::create(layout, "<i8", None, 0o600).unwrap();
    assert!(matches!(
        RawArray::from_segment(seg).typed::<i64>(),
        Err(Error::InvalidShape(_))
    ));
}

#[test]
fn raw_arrays_of_any_dtype() {
    let mut r = Builder::new()
        .order(Order::F)
        .raw_zeros("<U3", 12, &[2, 2])
        .unwrap();
    assert_eq!((r.itemsize(), r.layout().strides()), (12, &[12i64, 24][..]));
    r.as_bytes_mut().unwrap()[..4].copy_from_slice(&u32::from('x').to_le_bytes());
    assert_eq!(&r.as_bytes()[..5], &[b'x', 0, 0, 0, 0]);
    for (descr, size) in [("<f8", 4), ("|O", 8), ("<f3", 3), ("hello", 5)] {
        assert!(
            matches!(
                Builder::new().raw_zeros(descr, size, &[1]),
                Err(Error::InvalidDtype(_))
            ),
            "{descr}"
        );
    }
    let structured = Builder::new()
        .raw_zeros("[('a', '<i4'), ('b', '|S4')]", 8, &[3])
        .unwrap();
    assert_eq!(structured.as_bytes().len(), 24);
    assert!(matches!(
        structured.typed::<u64>(),
        Err(Error::TypeMismatch { .. })
    ));
}

#[test]
fn named_array_lifecycle() {
    let name = unique("life");
    let a = Builder::new()
        .name(&name)
        .mode(0o640)
        .zeros::<u8>(&[10])
        .unwrap();
    let f = a.segment().file_info();
    assert_eq!(
        a.handle(),
        Handle::NamedFile {
            name: name.clone(),
            dev: f.dev,
            ino: f.ino
        }
    );
    assert_eq!(a.segment().file_info().mode, 0o640);
    match Builder::new().name(&name).zeros::<u8>(&[10]) {
        Err(Error::AlreadyExists { name: n }) => assert_eq!(n, name),
        other => panic!("{other:?}"),
    }
    a.unlink().unwrap();
    assert!(matches!(a.unlink(), Err(Error::NotFound { .. })));
    // The name is free again; the first array's unlink must not remove the
    // second array, which now holds the name.
    let b = Builder::new().name(&name).zeros::<u8>(&[3]).unwrap();
    assert!(matches!(a.unlink(), Err(Error::NotFound { .. })));
    assert_eq!(SharedArray::<u8>::attach(&name).unwrap().len(), 3);
    b.unlink().unwrap();
    assert!(matches!(
        SharedArray::<u8>::attach(&name),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn names_and_modes_are_checked() {
    assert!(matches!(
        Builder::new().name("a/b").zeros::<u8>(&[1]),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        Builder::new().name("x").mode(0o4755).zeros::<u8>(&[1]),
        Err(Error::InvalidShape(_))
    ));
    let anon = SharedArray::<u8>::zeros(&[1], Order::C).unwrap();
    assert!(matches!(anon.unlink(), Err(Error::InvalidName { .. })));
    assert!(matches!(
        SharedArray::<u8>::attach(&unique("missing")),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn too_big_is_an_error_not_a_crash() {
    assert!(matches!(
        SharedArray::<f64>::zeros(&[1 << 40, 1 << 30], Order::C),
        Err(Error::InvalidShape(_))
    ));
}

#[test]
fn second_mapping_in_one_process_sees_the_same_memory() {
    let mut a = SharedArray::<f64>::zeros(&[8], Order::C).unwrap();
    let b = SharedArray::<f64>::open(&a.handle(), Access::ReadOnly).unwrap();
    assert_ne!(a.segment().data_ptr(), b.segment().data_ptr());
    a.as_slice_mut().unwrap()[7] = 2.25;
    assert_eq!(b.as_slice()[7], 2.25);
}

#[test]
fn fd_passing_refuses_foreign_messages() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let (mut tx, rx) = UnixStream::pair().unwrap();
    tx.write_all(b"GET / HT").unwrap();
    assert!(matches!(
        RawArray::recv(&rx, Access::ReadWrite),
        Err(Error::InvalidHandle(_))
    ));
    // Right bytes, no descriptor.
    tx.write_all(&ndshare::transport::FD_MESSAGE_MAGIC).unwrap();
    match RawArray::recv(&rx, Access::ReadWrite) {
        Err(Error::InvalidHandle(msg)) => assert!(msg.contains("no descriptor"), "{msg}"),
        other => panic!("{other:?}"),
    }
    drop(tx);
    assert!(matches!(
        RawArray::recv(&rx, Access::ReadWrite),
        Err(Error::Io { .. })
    ));
}
