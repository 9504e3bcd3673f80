//! `x · Wᵀ` over a packed weight: activations quantized once, output rows split across
//! candle's persistent worker pool, tiles picked by the number of activation rows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::activations::{Activations, Part};
use super::out::Out;
use super::pack::{PackedWeight, Scheme, GROUP};
use super::portable;
use super::tile::{store, GroupTile, Kind, Q4K, Q4_0, Q4_1, Q5K, Q5_0, Q5_1, Q6K, Q8_0};

/// Multiply-adds below which a matmul stays on the calling thread: waking the pool costs
/// more than it saves.
const PARALLEL_WORK: usize = 1 << 18;
/// Units of work per thread a single-row matmul aims for: enough to balance the threads,
/// few enough that handing them out costs little next to a unit's work.
const UNITS_PER_THREAD: usize = 8;

/// Which implementation this CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 F/BW/VL/VNNI (x86_64, detected at run time).
    Avx512,
    /// AVX2 + FMA (x86_64, detected at run time).
    Avx2,
    /// Plain Rust, bit-for-bit the same results.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU supports (detected once).
    pub fn detect() -> Kernel {
        static KERNEL: OnceLock<Kernel> = OnceLock::new();
        *KERNEL.get_or_init(|| Kernel::available()[0])
    }

    /// Every kernel this CPU runs, fastest first.
    pub fn available() -> Vec<Kernel> {
        let mut out = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if super::x86::avx512::available() {
                out.push(Kernel::Avx512);
            }
            if super::x86::available() {
                out.push(Kernel::Avx2);
            }
        }
        out.push(Kernel::Portable);
        out
    }
}

/// `x` (`m × w.cols`, row-major) times `wᵀ` → `m × w.rows`, on up to `threads` threads.
pub(crate) fn matmul(
    w: &PackedWeight,
    x: &[f32],
    m: usize,
    threads: usize,
    kernel: Kernel,
) -> Vec<f32> {
    let pool = candle_core::utils::barrier_pool();
    let threads = match w.rows * m * w.cols < PARALLEL_WORK {
        true => 1,
        false => threads.clamp(1, pool.n_workers() + 1),
    };
    let mut a = Activations::new(x, w.act, w.scheme);
    let per_part = m.div_ceil(threads * 2).max(1);
    parallel(a.parts(x, w.cols, per_part), threads, Part::quantize);
    let mut out = vec![0f32; m * w.rows];
    // A unit is one interleaved group of rows against all activation rows; against one
    // activation row, several groups.
    let unit_rows = match m {
        1 => (w.rows / (threads * UNITS_PER_THREAD) / GROUP).max(1) * GROUP,
        _ => GROUP,
    };
    let units = Out::units(&mut out, m, w.rows, unit_rows);
    parallel(units, threads, |unit| rows(w, &a, unit, m, kernel));
    out
}

/// Runs `f` on every item, on up to `threads` threads of candle's pool (the calling thread
/// among them), handing out items in small runs.
fn parallel<T: Send>(items: Vec<T>, threads: usize, f: impl Fn(&mut T) + Sync) {
    if threads == 1 || items.len() == 1 {
        for mut item in items {
            f(&mut item);
        }
        return;
    }
    let pool = candle_core::utils::barrier_pool();
    let items: Vec<Mutex<T>> = items.into_iter().map(Mutex::new).collect();
    let grab = items.len().div_ceil(threads * 4).max(1);
    let cursor = AtomicUsize::new(0);
    let caller = pool.n_workers();
    pool.execute(|tid| {
        // The calling thread is `caller`; pool workers beyond `threads` sit this out.
        if tid != caller && tid + 1 >= threads {
            return;
        }
        loop {
            let start = cursor.fetch_add(grab, Ordering::Relaxed);
            if start >= items.len() {
                break;
            }
            for item in items.iter().skip(start).take(grab) {
                f(&mut item.lock().unwrap_or_else(|e| e.into_inner()));
            }
        }
    });
}

/// The unit's groups of weight rows against every activation row.
fn rows(w: &PackedWeight, a: &Activations, out: &mut Out<'_>, m: usize, kernel: Kernel) {
    match w.scheme {
        Scheme::Q4_0 => group::<Q4_0>(w, a, out, m, kernel),
        Scheme::Q4_1 => group::<Q4_1>(w, a, out, m, kernel),
        Scheme::Q5_0 => group::<Q5_0>(w, a, out, m, kernel),
        Scheme::Q5_1 => group::<Q5_1>(w, a, out, m, kernel),
        Scheme::Q8_0 => group::<Q8_0>(w, a, out, m, kernel),
        Scheme::Q4K => group::<Q4K>(w, a, out, m, kernel),
        Scheme::Q5K => group::<Q5K>(w, a, out, m, kernel),
        Scheme::Q6K => group::<Q6K>(w, a, out, m, kernel),
    }
}

/// Activation rows in tiles of 8 (4 for K-quants, whose super-block sums take more
/// registers), then 4, 2 and 1.
fn group<K: Kind>(w: &PackedWeight, a: &Activations, out: &mut Out<'_>, m: usize, kernel: Kernel) {
    for g in out.rows().step_by(GROUP).map(|r| r / GROUP) {
        let mut c = 0;
        while c < m {
            let left = m - c;
            c += match left {
                _ if left >= 8 => tile::<K, 8>(w, a, out, g, c, kernel),
                4.. => tile::<K, 4>(w, a, out, g, c, kernel),
                2.. => tile::<K, 2>(w, a, out, g, c, kernel),
                _ => tile::<K, 1>(w, a, out, g, c, kernel),
            };
        }
    }
}

/// One tile; returns the activation rows it covered.
fn tile<K: Kind, const NA: usize>(
    w: &PackedWeight,
    a: &Activations,
    out: &mut Out<'_>,
    g: usize,
    col0: usize,
    kernel: Kernel,
) -> usize {
    let t = GroupTile::<NA>::new(w, a, g, col0);
    let sums = match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => super::x86::avx512::group::<K, NA>(&t),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => super::x86::group::<K, NA>(&t),
        // The portable kernel (the only one off x86), row by row in the same order.
        _ => std::array::from_fn(|c| {
            std::array::from_fn(|r| match g * GROUP + r < w.rows {
                true => portable::dot(w, g * GROUP + r, a, col0 + c),
                false => 0.0,
            })
        }),
    };
    store(&sums, out, g, col0);
    NA
}
