//! The gated activation of the MLP, `act(gate) · up`, as one pass over the two halves of
//! the stacked gate/up projection (CPU): no intermediate tensors, and `exp` evaluated by a
//! short polynomial the compiler vectorizes instead of a libm call per value.
//!
//! SiLU is `g / (1 + e^(−g))`; GELU's tanh approximation `½g(1 + tanh(u))`, `u =
//! √(2/π)(g + 0.044715g³)`, is computed as the equal `g / (1 + e^(−2u))`.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// Which activation gates the MLP.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Gate {
    Silu,
    GeluTanh,
}

/// `act(gate) · up` for two tensors of the same shape.
pub(crate) fn gated(gate: &Tensor, up: &Tensor, kind: Gate) -> candle_core::Result<Tensor> {
    let cpu_f32 = gate.device().is_cpu() && gate.dtype() == candle_core::DType::F32;
    if !cpu_f32 {
        let act = match kind {
            Gate::Silu => candle_nn::ops::silu(gate)?,
            Gate::GeluTanh => gate.gelu()?,
        };
        return act * up;
    }
    match (rows_of(gate.layout()), rows_of(up.layout())) {
        (Some(_), Some(_)) => gate.apply_op2_no_bwd(up, &GatedOp(kind)),
        _ => gate
            .contiguous()?
            .apply_op2_no_bwd(&up.contiguous()?, &GatedOp(kind)),
    }
}

struct GatedOp(Gate);

/// `(start, rows, row length, row stride)` of a layout whose last dimension is contiguous
/// and whose other dimensions collapse into one.
fn rows_of(l: &Layout) -> Option<(usize, usize, usize, usize)> {
    let (dims, stride) = (l.dims(), l.stride());
    let (&len, outer) = dims.split_last()?;
    if len > 1 && stride.last() != Some(&1) {
        return None;
    }
    let rows = outer.iter().product::<usize>();
    let row_stride = match outer.len() {
        0 => len,
        k => stride[k - 1],
    };
    for i in 0..outer.len().saturating_sub(1) {
        if stride[i] != stride[i + 1] * dims[i + 1] {
            return None;
        }
    }
    Some((l.start_offset(), rows, len, row_stride))
}

impl CustomOp2 for GatedOp {
    fn name(&self) -> &'static str {
        "rollama-gated-activation"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.dims() != l2.dims() {
            candle_core::bail!("gated activation: {:?} vs {:?}", l1.dims(), l2.dims());
        }
        let (Some(g), Some(u)) = (rows_of(l1), rows_of(l2)) else {
            candle_core::bail!("gated activation: inputs must have contiguous rows");
        };
        let (gs, us) = (s1.as_slice::<f32>()?, s2.as_slice::<f32>()?);
        let (rows, len) = (g.1, g.2);
        let mut out = vec![0f32; rows * len];
        for (r, o) in out.chunks_exact_mut(len.max(1)).enumerate() {
            let gr = &gs[g.0 + r * g.3..][..len];
            let ur = &us[u.0 + r * u.3..][..len];
            match self.0 {
                Gate::Silu => apply(o, gr, ur, |x| x),
                Gate::GeluTanh => apply(o, gr, ur, gelu_arg),
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `out = g / (1 + e^(−f(g))) · u`.
#[inline(always)]
fn apply(out: &mut [f32], g: &[f32], u: &[f32], f: impl Fn(f32) -> f32) {
    for ((o, &g), &u) in out.iter_mut().zip(g).zip(u) {
        *o = g / (1.0 + exp(-f(g))) * u;
    }
}

/// `2u` of the tanh GELU: `tanh(u) = 2σ(2u) − 1`.
#[inline(always)]
fn gelu_arg(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    2.0 * SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x)
}

/// `e^x` within a few ulp: `2^n · e^r` with `r = x − n·ln 2`, `|r| ≤ ½ ln 2`, by a degree-6
/// polynomial; saturates to `0` and `f32::MAX`-ish outside ±88.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_four_ulp_of_libm() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, libm) = (exp(x), x.exp());
            assert!(
                (ours - libm).abs() <= 4.0 * f32::EPSILON * libm,
                "{x}: {ours} vs {libm}"
            );
            x += 0.0137;
        }
    }

    #[test]
    fn gated_matches_candle_ops_on_a_strided_view() -> candle_core::Result<()> {
        let dev = candle_core::Device::Cpu;
        let both = Tensor::arange(0f32, 96.0, &dev)?
            .affine(0.25, -12.0)?
            .reshape((4, 24))?;
        let (gate, up) = (both.narrow(1, 0, 12)?, both.narrow(1, 12, 12)?);
        for (kind, act) in [
            (Gate::Silu, candle_nn::ops::silu(&gate)?),
            (Gate::GeluTanh, gate.gelu()?),
        ] {
            let want = (act * &up)?.flatten_all()?.to_vec1::<f32>()?;
            let got = gated(&gate, &up, kind)?.flatten_all()?.to_vec1::<f32>()?;
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{kind:?}: {g} vs {w}"
                );
            }
        }
        Ok(())
    }
}
