//! `x · Wᵀ` over a packed weight: activations quantized once, output rows split across
//! candle's persistent worker pool, tiles picked by the number of activation rows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::activations::{self, Activations};
use super::out::Out;
use super::pack::{PackedWeight, Scheme};
use super::portable;

/// Multiply-adds below which a matmul stays on the calling thread: waking the pool costs
/// more than it saves.
const PARALLEL_WORK: usize = 1 << 18;
/// Weight rows per unit of work handed to a thread (a multiple of every tile height).
const ITEM_ROWS: usize = 16;

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
    let a = activations::quantize(x, w.act);
    let n = w.rows;
    let mut out = vec![0f32; m * n];
    let pool = candle_core::utils::barrier_pool();
    let threads = match n * m * w.cols < PARALLEL_WORK {
        true => 1,
        false => threads.clamp(1, pool.n_workers() + 1),
    };
    let units = Out::units(&mut out, m, n, ITEM_ROWS);
    if threads == 1 {
        for mut unit in units {
            rows(w, &a, &mut unit, m, kernel);
        }
        return out;
    }
    let units: Vec<Mutex<Out<'_>>> = units.into_iter().map(Mutex::new).collect();
    let items = units.len();
    let grab = items.div_ceil(threads * 4).max(1);
    let cursor = AtomicUsize::new(0);
    let caller = pool.n_workers();
    pool.execute(|tid| {
        // The calling thread is `caller`; pool workers beyond `threads` sit this out.
        if tid != caller && tid + 1 >= threads {
            return;
        }
        loop {
            let start = cursor.fetch_add(grab, Ordering::Relaxed);
            if start >= items {
                break;
            }
            for unit in units.iter().skip(start).take(grab) {
                let mut unit = unit.lock().unwrap_or_else(|e| e.into_inner());
                rows(w, &a, &mut unit, m, kernel);
            }
        }
    });
    drop(units);
    out
}

/// The unit's weight rows against every activation row.
fn rows(w: &PackedWeight, a: &Activations, out: &mut Out<'_>, m: usize, kernel: Kernel) {
    let range = out.rows();
    let t = Tiles {
        w,
        a,
        out,
        m,
        first: range.start,
    };
    match kernel {
        Kernel::Portable => {
            for r in range {
                for c in 0..m {
                    t.out.set(r, c, portable::dot(w, r, a, c));
                }
            }
        }
        Kernel::Avx2 => t.simd(range.end),
        Kernel::Avx512 => t.simd512(range.end),
    }
}

struct Tiles<'a, 'o, 'u> {
    w: &'a PackedWeight,
    a: &'a Activations,
    out: &'o mut Out<'u>,
    m: usize,
    first: usize,
}

impl Tiles<'_, '_, '_> {
    /// Four activation rows at a time against pairs of weight rows (prefill, large
    /// batches); leftover activation rows one at a time against four weight rows (decode).
    fn simd(mut self, end: usize) {
        let full = self.m - self.m % 4;
        for c in (0..full).step_by(4) {
            self.row_tiles::<2, 4>(c, end);
        }
        for c in full..self.m {
            self.row_tiles::<4, 1>(c, end);
        }
    }

    /// Eight activation rows at a time against four weight rows, then pairs; a last odd
    /// activation row against pairs of weight rows.
    #[cfg(target_arch = "x86_64")]
    fn simd512(mut self, end: usize) {
        let mut c = 0;
        while c + 8 <= self.m {
            self.col_tiles::<4, 4>(c, end);
            c += 8;
        }
        while c + 2 <= self.m {
            self.col_tiles::<4, 1>(c, end);
            c += 2;
        }
        if c < self.m {
            let mut r = self.first;
            while r + 8 <= end {
                self.pair_tile::<4>(r, c);
                r += 8;
            }
            while r + 2 <= end {
                self.pair_tile::<1>(r, c);
                r += 2;
            }
            if r < end {
                self.tile::<1, 1>(r, c);
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn simd512(self, end: usize) {
        self.simd(end)
    }

    #[cfg(target_arch = "x86_64")]
    fn col_tiles<const RW: usize, const CP: usize>(&mut self, col: usize, end: usize) {
        let mut r = self.first;
        while r + RW <= end {
            self.col_tile::<RW, CP>(r, col);
            r += RW;
        }
        while r < end {
            self.col_tile::<1, CP>(r, col);
            r += 1;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[rustfmt::skip]
    fn col_tile<const RW: usize, const CP: usize>(&mut self, row: usize, col: usize) {
        use super::x86::avx512::{cols_32, cols_k};
        let (w, a) = (self.w, self.a);
        let out = &mut *self.out;
        match w.scheme {
            Scheme::Nibble8 => cols_32::<true, true, false, RW, CP>(w, a, row, col, out),
            Scheme::NibbleMin => cols_32::<true, false, true, RW, CP>(w, a, row, col, out),
            Scheme::Byte => cols_32::<false, false, false, RW, CP>(w, a, row, col, out),
            Scheme::ByteMin => cols_32::<false, false, true, RW, CP>(w, a, row, col, out),
            Scheme::KNibble => cols_k::<true, true, false, RW, CP>(w, a, row, col, out),
            Scheme::KByte => cols_k::<false, true, false, RW, CP>(w, a, row, col, out),
            Scheme::KByte16 => cols_k::<false, false, true, RW, CP>(w, a, row, col, out),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[rustfmt::skip]
    fn pair_tile<const RP: usize>(&mut self, row: usize, col: usize) {
        use super::x86::avx512::{rows_32, rows_k};
        let (w, a) = (self.w, self.a);
        let out = &mut *self.out;
        match w.scheme {
            Scheme::Nibble8 => rows_32::<true, true, false, RP>(w, a, row, col, out),
            Scheme::NibbleMin => rows_32::<true, false, true, RP>(w, a, row, col, out),
            Scheme::Byte => rows_32::<false, false, false, RP>(w, a, row, col, out),
            Scheme::ByteMin => rows_32::<false, false, true, RP>(w, a, row, col, out),
            Scheme::KNibble => rows_k::<true, true, false, RP>(w, a, row, col, out),
            Scheme::KByte => rows_k::<false, true, false, RP>(w, a, row, col, out),
            Scheme::KByte16 => rows_k::<false, false, true, RP>(w, a, row, col, out),
        }
    }

    fn row_tiles<const RW: usize, const RC: usize>(&mut self, col: usize, end: usize) {
        let mut r = self.first;
        while r + RW <= end {
            self.tile::<RW, RC>(r, col);
            r += RW;
        }
        while r < end {
            self.tile::<1, RC>(r, col);
            r += 1;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[rustfmt::skip]
    fn tile<const RW: usize, const RC: usize>(&mut self, row: usize, col: usize) {
        use super::x86::{tile, tile_k};
        let (w, a) = (self.w, self.a);
        let out = &mut *self.out;
        match w.scheme {
            Scheme::Nibble8 => tile::<true, true, false, RW, RC>(w, a, row, col, out),
            Scheme::NibbleMin => tile::<true, false, true, RW, RC>(w, a, row, col, out),
            Scheme::Byte => tile::<false, false, false, RW, RC>(w, a, row, col, out),
            Scheme::ByteMin => tile::<false, false, true, RW, RC>(w, a, row, col, out),
            Scheme::KNibble => tile_k::<true, true, false, RW, RC>(w, a, row, col, out),
            Scheme::KByte => tile_k::<false, true, false, RW, RC>(w, a, row, col, out),
            Scheme::KByte16 => tile_k::<false, false, true, RW, RC>(w, a, row, col, out),
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn tile<const RW: usize, const RC: usize>(&mut self, row: usize, col: usize) {
        for r in row..row + RW {
            for c in col..col + RC {
                self.out.set(r, c, portable::dot(self.w, r, self.a, c));
            }
        }
    }
}
