//! Property tests of our quantized CPU kernels (`rollama::model::quant`) against candle's
//! dequantize-then-matmul reference, over every covered type and odd shapes.
//!
//! Tolerances: the kernels quantize activations to int8 (per 32 or 256 values) as llama.cpp
//! does, so they differ from the exact product by that rounding: each result must be within
//! 1% of `‖x‖·‖w‖` (the scale of the dot product) of the f64 reference. Against candle's own
//! quantized matmul, which rounds activations the same way, within 0.1%. Every kernel the
//! CPU runs (AVX-512, AVX2, portable) must agree bit for bit, and results must not depend on the thread count
//! or on the other rows of the batch.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Module, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollama::model::quant::testing::{Kernel, Packed, TYPES};

fn random(rng: &mut StdRng, n: usize) -> Vec<f32> {
    // Mostly small values with occasional outliers, like real activations and weights.
    (0..n)
        .map(|_| {
            let v: f32 = rng.random_range(-1.0..1.0);
            match rng.random_range(0..50) {
                0 => v * 8.0,
                _ => v,
            }
        })
        .collect()
}

struct Case {
    dtype: GgmlDType,
    rows: usize,
    cols: usize,
    m: usize,
}

fn check(case: &Case, rng: &mut StdRng) {
    let Case {
        dtype,
        rows,
        cols,
        m,
    } = *case;
    let dev = Device::Cpu;
    let w = Tensor::from_vec(random(rng, rows * cols), (rows, cols), &dev).expect("w");
    let q = QTensor::quantize(&w, dtype).expect("quantize");
    let data = q.data().expect("data");
    let packed = Packed::new(dtype, &data, rows, cols).expect("pack");
    let wd = q
        .dequantize(&dev)
        .expect("dequantize")
        .to_vec2::<f32>()
        .expect("vec");
    let x = random(rng, m * cols);

    let ours = packed.matmul(&x, m, 1, Kernel::detect());
    let threaded = packed.matmul(&x, m, 4, Kernel::detect());
    for kernel in Kernel::available() {
        let theirs = packed.matmul(&x, m, 1, kernel);
        assert_eq!(
            ours,
            theirs,
            "{dtype:?} {:?} vs {kernel:?}",
            Kernel::detect()
        );
    }
    assert_eq!(ours, threaded, "{dtype:?} 1 vs 4 threads");

    // candle's scalar kernels (Q4_1, Q5_x) assert an even number of blocks per row.
    // Its repacked x86 path (Q8_0/Q4_K/Q6_K, k % 256 == 0, n % 16 == 0) quantizes
    // activations per 256 values instead of llama.cpp's per 32, so it is further from the
    // exact product than we are: only the per-block path is a like-for-like reference.
    let candle_covers = (matches!(dtype, GgmlDType::Q4_0 | GgmlDType::Q8_0) || cols % 64 == 0)
        && !(matches!(dtype, GgmlDType::Q8_0 | GgmlDType::Q4K | GgmlDType::Q6K)
            && cols % 256 == 0
            && rows % 16 == 0);
    let xt = Tensor::from_vec(x.clone(), (m, cols), &dev).expect("x");
    let candle = match candle_covers {
        true => candle_core::quantized::QMatMul::from_qtensor(q)
            .expect("qmatmul")
            .forward(&xt)
            .expect("candle matmul")
            .to_vec2::<f32>()
            .expect("vec"),
        false => Vec::new(),
    };
    for c in 0..m {
        let xr = &x[c * cols..(c + 1) * cols];
        let xn = xr.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        // One row alone gives the same bits as inside the batch.
        let alone = packed.matmul(xr, 1, 1, Kernel::detect());
        for (r, wr) in wd.iter().enumerate() {
            let got = ours[c * rows + r] as f64;
            assert_eq!(alone[r], ours[c * rows + r], "{dtype:?} row {c} alone");
            let exact: f64 = wr.iter().zip(xr).map(|(a, b)| *a as f64 * *b as f64).sum();
            let wn = wr.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            let scale = xn * wn + 1e-6;
            assert!(
                (got - exact).abs() <= 0.01 * scale,
                "{dtype:?} [{rows}x{cols}] m={m} ({c},{r}): ours {got}, exact {exact}, scale {scale}"
            );
            let Some(theirs) = candle.get(c).map(|row| row[r] as f64) else {
                continue;
            };
            assert!(
                (got - theirs).abs() <= 1e-3 * scale,
                "{dtype:?} [{rows}x{cols}] m={m} ({c},{r}): ours {got}, candle {theirs}, exact {exact}"
            );
        }
    }
}

#[test]
fn kernels_match_dequantized_matmul() {
    let mut rng = StdRng::seed_from_u64(7);
    for dtype in TYPES {
        let k_quant = dtype.block_size() == 256;
        let widths: &[usize] = match k_quant {
            true => &[256, 512, 768],
            false => &[32, 96, 576, 1536],
        };
        for &cols in widths {
            for (rows, m) in [
                (1, 1),
                (3, 2),
                (17, 5),
                (64, 1),
                (33, 4),
                (130, 9),
                (48, 15),
            ] {
                check(
                    &Case {
                        dtype,
                        rows,
                        cols,
                        m,
                    },
                    &mut rng,
                );
            }
        }
    }
}

#[test]
fn large_matmul_spreads_over_threads_with_identical_results() {
    let mut rng = StdRng::seed_from_u64(11);
    // Big enough to cross the threading threshold; odd row count to leave partial tiles.
    check(
        &Case {
            dtype: GgmlDType::Q4K,
            rows: 1027,
            cols: 512,
            m: 7,
        },
        &mut rng,
    );
    check(
        &Case {
            dtype: GgmlDType::Q4_1,
            rows: 2051,
            cols: 576,
            m: 3,
        },
        &mut rng,
    );
}

#[test]
fn rejects_data_of_the_wrong_size() {
    assert!(Packed::new(GgmlDType::Q4_0, &[0u8; 17], 1, 32).is_err());
    assert!(Packed::new(GgmlDType::Q4K, &[0u8; 144], 1, 128).is_err());
    assert!(Packed::new(GgmlDType::F16, &[0u8; 64], 1, 32).is_err());
}
