//! `exp` and `erf` in plain f32 arithmetic, without calls or branches, so that loops over
//! slices auto-vectorize (libm's are scalar calls: GELU's erf was a seventh of the time).
//!
//! - [`exp`]: Cephes' `expf` (Cody-Waite reduction, degree-6 polynomial), ~1 ulp; inputs
//!   below −87 give exactly 0 (softmax weights of masked keys stay exactly 0).
//! - [`erf`]: Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7 (5e-7 in f32, near 0):
//!   the one PyTorch's vectorized CPU kernels use for `erf` and the exact (erf) GELU.

/// `eˣ`.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that `x − n·ln 2` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let clamped = x.clamp(-87.0, 88.0);
    let n = (clamped * LOG2E + 0.5).floor();
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_2e-4_f32;
    let p = p.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 1.666_666_5e-1);
    let p = p.mul_add(r, 0.5);
    let y = p.mul_add(r * r, r) + 1.0;
    // 2ⁿ built from its exponent bits; n is within [−126, 128) after the clamp.
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x < -87.0 {
        0.0
    } else {
        y * scale
    }
}

/// The error function.
#[inline(always)]
pub(super) fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_8;
    const A4: f32 = -1.453_152;
    const A5: f32 = 1.061_405_4;
    let a = x.abs();
    let t = 1.0 / P.mul_add(a, 1.0);
    let poly = A5
        .mul_add(t, A4)
        .mul_add(t, A3)
        .mul_add(t, A2)
        .mul_add(t, A1)
        * t;
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// Exact (erf) GELU, transformers' "gelu": `x · Φ(x)`.
#[inline(always)]
pub(super) fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> impl Iterator<Item = f32> {
        (-12_000..=12_000).map(|i| i as f32 * 1e-3)
    }

    #[test]
    fn exp_is_within_two_ulp_and_flushes_below_minus_87() {
        for x in samples().map(|x| x * 7.0) {
            let (ours, want) = (exp(x), f64::from(x).exp());
            if x < -87.0 {
                assert_eq!(ours, 0.0);
            } else {
                let rel = ((f64::from(ours) - want) / want).abs();
                assert!(rel < 2.5e-7, "exp({x}) = {ours}, want {want}");
            }
        }
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn erf_is_within_5e7_of_libm_and_gelu_too() {
        for x in samples() {
            let want = candle_core::cpu::erf::erf_f64(f64::from(x));
            assert!((f64::from(erf(x)) - want).abs() < 5e-7, "erf({x})");
            let gelu = 0.5
                * f64::from(x)
                * (1.0 + candle_core::cpu::erf::erf_f64(f64::from(x) / 2f64.sqrt()));
            assert!(
                (f64::from(gelu_erf(x)) - gelu).abs() < 5e-7 * (1.0 + f64::from(x).abs()),
                "gelu({x})"
            );
        }
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(gelu_erf(-20.0), 0.0);
    }
}
