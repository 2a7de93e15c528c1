//! Costs of the Rust API: create, attach and drop a shared array; make views.
//!
//! `cargo bench -p ndshare --bench array` (`make test` never runs this).
//! The numbers are per operation, system calls included: `memfd_create` or
//! open, fallocate, mmap, the header checks, munmap, close.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndshare::{Access, Builder, Order, RawArray, SharedArray};

/// Array sizes in f64 elements: 4 KiB, 1 MiB, 64 MiB.
const SIZES: [usize; 3] = [512, 128 * 1024, 8 * 1024 * 1024];

fn label(elems: usize) -> String {
    let bytes = elems * 8;
    if bytes >= 1 << 20 {
        format!("{}MiB", bytes >> 20)
    } else {
        format!("{}KiB", bytes >> 10)
    }
}

fn create_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("create+drop");
    for n in SIZES {
        g.throughput(Throughput::Bytes((n * 8) as u64));
        g.bench_with_input(BenchmarkId::new("anonymous", label(n)), &n, |b, &n| {
            b.iter(|| SharedArray::<f64>::zeros(black_box(&[n]), Order::C).unwrap());
        });
        let name = format!("bench-create-{}", std::process::id());
        g.bench_with_input(BenchmarkId::new("named+unlink", label(n)), &n, |b, &n| {
            b.iter(|| {
                let a = Builder::new()
                    .name(&name)
                    .zeros::<f64>(black_box(&[n]))
                    .unwrap();
                a.unlink().unwrap();
                a
            });
        });
    }
    g.finish();
}

fn attach_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("attach+drop");
    for n in SIZES {
        let name = format!("bench-attach-{}-{n}", std::process::id());
        let made = Builder::new().name(&name).zeros::<f64>(&[n]).unwrap();
        g.bench_with_input(BenchmarkId::new("by name", label(n)), &name, |b, name| {
            b.iter(|| SharedArray::<f64>::attach(black_box(name)).unwrap());
        });
        g.bench_with_input(
            BenchmarkId::new("by name, read-only", label(n)),
            &name,
            |b, name| {
                b.iter(|| SharedArray::<f64>::attach_readonly(black_box(name)).unwrap());
            },
        );
        let anon = SharedArray::<f64>::zeros(&[n], Order::C).unwrap();
        let handle = anon.handle();
        g.bench_with_input(
            BenchmarkId::new("process handle", label(n)),
            &handle,
            |b, h| {
                b.iter(|| RawArray::open(black_box(h), Access::ReadWrite).unwrap());
            },
        );
        made.unlink().unwrap();
    }
    g.finish();
}

fn views(c: &mut Criterion) {
    let mut g = c.benchmark_group("view");
    let mut a = SharedArray::<f32>::zeros(&[64, 512, 512], Order::C).unwrap();
    g.bench_function("view 3-d", |b| b.iter(|| black_box(&a).view().len()));
    g.bench_function("as_slice", |b| b.iter(|| black_box(&a).as_slice().len()));
    g.bench_function("view_mut 3-d", |b| b.iter(|| a.view_mut().unwrap().len()));
    let mut f = SharedArray::<f32>::zeros(&[2, 3, 4, 5, 6, 7], Order::F).unwrap();
    g.bench_function("view 6-d F", |b| b.iter(|| black_box(&f).view().len()));
    g.bench_function("view_mut 6-d F", |b| b.iter(|| f.view_mut().unwrap().len()));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = create_drop, attach_drop, views
}
criterion_main!(benches);
