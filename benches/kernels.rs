//! Our quantized CPU matmul kernels (`rollama::model::quant`), per GGUF type, on random
//! weights: matrix-vector (one activation row, decode) reported as GB/s of weights read,
//! and matrix-matrix (64 rows, prefill) as GFLOP/s (2 · rows · cols · m). One thread, so
//! the figures are per core and comparable between runs; the kernel in use (AVX2 or
//! portable) is printed first.
//!
//! `cargo bench --bench kernels`

use std::time::Duration;

use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rollama::model::quant::testing::{Kernel, Packed, TYPES};

/// `[rows, cols]`: a 1024 → 1536 projection (a multiple of 256 for the K-quants).
const ROWS: usize = 1536;
const COLS: usize = 1024;
const PREFILL_ROWS: usize = 64;

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0) - 1.0)
        .collect()
}

fn bench(c: &mut Criterion) {
    let kernel = Kernel::detect();
    println!("kernel: {kernel:?}");
    let dev = Device::Cpu;
    let w = Tensor::from_vec(values(ROWS * COLS, 1), (ROWS, COLS), &dev).expect("weights");
    let x1 = values(COLS, 2);
    let xm = values(PREFILL_ROWS * COLS, 3);
    for dtype in TYPES {
        let q = QTensor::quantize(&w, dtype).expect("quantize");
        let packed = Packed::new(dtype, &q.data().expect("data"), ROWS, COLS).expect("pack");
        let mut group = c.benchmark_group(format!("kernel_{dtype:?}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        group.throughput(Throughput::Bytes(packed.size_in_bytes() as u64));
        group.bench_function(format!("gemv_{ROWS}x{COLS}"), |b| {
            b.iter(|| packed.matmul(&x1, 1, 1, kernel))
        });
        let flops = 2 * ROWS * COLS * PREFILL_ROWS;
        group.throughput(Throughput::Elements(flops as u64));
        group.bench_function(format!("gemm_{ROWS}x{COLS}_m{PREFILL_ROWS}"), |b| {
            b.iter(|| packed.matmul(&xm, PREFILL_ROWS, 1, kernel))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
