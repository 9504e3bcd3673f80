//! Sentence-transformers pooling: token vectors of one sequence → one sentence vector.
//!
//! Pools only a sequence's real tokens (never padding), in the same order whatever the
//! batch, so a sentence's vector does not depend on what it was batched with.

/// How token vectors become the sentence vector (sentence-transformers `pooling_mode_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Average of the token vectors (`mean_tokens`).
    Mean,
    /// The first token's vector, `[CLS]` (`cls_token`).
    Cls,
    /// Elementwise maximum (`max_tokens`).
    Max,
    /// Sum divided by √(token count) (`mean_sqrt_len_tokens`).
    MeanSqrtLen,
}

impl Pooling {
    /// `rows`: the sequence's token vectors, `len × dim` row-major, `len ≥ 1`.
    pub fn pool(self, rows: &[f32], dim: usize) -> Vec<f32> {
        let len = rows.len() / dim;
        let mut tokens = rows.chunks_exact(dim);
        match self {
            Pooling::Cls => rows[..dim].to_vec(),
            Pooling::Max => {
                let mut out = vec![f32::NEG_INFINITY; dim];
                for token in tokens {
                    for (o, &v) in out.iter_mut().zip(token) {
                        *o = o.max(v);
                    }
                }
                out
            }
            Pooling::Mean | Pooling::MeanSqrtLen => {
                // f64 sums: up to 512 terms, and the order is fixed, so no drift between
                // batch shapes either way.
                let mut sum = vec![0f64; dim];
                for token in tokens.by_ref() {
                    for (s, &v) in sum.iter_mut().zip(token) {
                        *s += f64::from(v);
                    }
                }
                let divisor = match self {
                    Pooling::Mean => len as f64,
                    _ => (len as f64).sqrt(),
                };
                sum.iter().map(|s| (s / divisor) as f32).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pooling;

    const ROWS: [f32; 6] = [1.0, -2.0, 3.0, 4.0, -5.0, 8.0];

    #[test]
    fn modes_pool_three_tokens_of_two_dims() {
        assert_eq!(Pooling::Cls.pool(&ROWS, 2), vec![1.0, -2.0]);
        assert_eq!(Pooling::Max.pool(&ROWS, 2), vec![3.0, 8.0]);
        assert_eq!(Pooling::Mean.pool(&ROWS, 2), vec![-1.0 / 3.0, 10.0 / 3.0]);
        let r3 = 3f32.sqrt();
        let sqrt_len = Pooling::MeanSqrtLen.pool(&ROWS, 2);
        assert!((sqrt_len[0] + 1.0 / r3).abs() < 1e-6 && (sqrt_len[1] - 10.0 / r3).abs() < 1e-6);
    }
}
