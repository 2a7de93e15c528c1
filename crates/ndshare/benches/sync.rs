//! Costs of the Rust side of synchronization: the segment lock taken and
//! released without contention, the read/write lock, and atomics one
//! element at a time and many at once.
//!
//! `cargo bench -p ndshare --bench sync` (`make test` never runs this).

use std::hint::black_box;
use std::sync::atomic::Ordering;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndshare::AtomicOp as Op;
use ndshare::{Order, SharedArray};

fn locks(c: &mut Criterion) {
    let mut a = SharedArray::<i64>::zeros(&[1024], Order::C).unwrap();
    let mut g = c.benchmark_group("uncontended");
    g.bench_function("lock+unlock (guard)", |b| {
        b.iter(|| drop(black_box(a.segment().lock().unwrap())));
    });
    let raw = a.segment().raw_lock().unwrap();
    g.bench_function("lock+unlock (raw)", |b| {
        b.iter(|| {
            raw.try_lock().unwrap();
            raw.unlock().unwrap();
        });
    });
    g.bench_function("read lock+unlock", |b| {
        b.iter(|| drop(black_box(a.segment().read_lock().unwrap())));
    });
    g.bench_function("write lock+unlock", |b| {
        b.iter(|| drop(black_box(a.segment().write_lock().unwrap())));
    });
    g.bench_function("lock_mut + one increment", |b| {
        b.iter(|| a.lock_mut().unwrap()[[3]] += 1);
    });
    g.finish();
}

fn atomics(c: &mut Criterion) {
    let a = SharedArray::<i64>::zeros(&[1000], Order::C).unwrap();
    let view = a.segment().atomics::<i64>().unwrap();
    let mut g = c.benchmark_group("atomics");
    g.throughput(Throughput::Elements(1));
    g.bench_function("at().fetch_add", |b| {
        b.iter(|| {
            view.at(black_box(&[7]))
                .unwrap()
                .fetch_add(1, Ordering::SeqCst)
        });
    });
    let count = 1 << 20;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let idx: Vec<i64> = (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 1000) as i64
        })
        .collect();
    g.throughput(Throughput::Elements(count as u64));
    g.bench_function("apply(Add) 2^20 random indices", |b| {
        b.iter(|| view.apply(Op::Add, &[black_box(&idx)], &[1], None).unwrap());
    });
    g.finish();
}

criterion_group!(benches, locks, atomics);
criterion_main!(benches);
