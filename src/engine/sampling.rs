//! Token selection: penalties, then top-k, typical-p, top-p, min-p, temperature and a seeded
//! draw (llama.cpp's default sampler order). Temperature 0 is greedy.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::options::GenerateOptions;

/// Per-sequence sampler: its own RNG so a seed reproduces whatever else is batched.
pub struct Sampler {
    opts: GenerateOptions,
    rng: StdRng,
}

impl Sampler {
    pub fn new(opts: &GenerateOptions) -> Self {
        let rng = match opts.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self {
            opts: opts.clone(),
            rng,
        }
    }

    /// Picks the next token from one row of logits. `history` is every token of the
    /// sequence so far (prompt and generated); penalties look at its tail.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        self.penalize(logits, history);
        self.pick(logits)
    }

    /// Draws from logits already penalized (a constrained step may draw twice).
    pub fn pick(&mut self, logits: &[f32]) -> u32 {
        if self.opts.temperature <= 0.0 {
            return argmax(logits);
        }
        let mut cands: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, &l)| (i as u32, l))
            .collect();
        if cands.is_empty() {
            return argmax(logits);
        }
        let k = self.opts.top_k;
        if k > 0 && k < cands.len() {
            cands.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            cands.truncate(k);
        }
        cands.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));

        let mut probs = softmax(&cands, 1.0);
        if self.opts.typical_p < 1.0 {
            typical(&mut cands, &mut probs, self.opts.typical_p);
        }
        if self.opts.top_p < 1.0 {
            let mut cum = 0.0;
            let mut keep = cands.len();
            for (i, p) in probs.iter().enumerate() {
                cum += p;
                if cum >= self.opts.top_p {
                    keep = i + 1;
                    break;
                }
            }
            cands.truncate(keep);
            probs.truncate(keep);
        }
        if self.opts.min_p > 0.0 {
            let threshold = probs[0] * self.opts.min_p;
            let keep = probs.iter().take_while(|&&p| p >= threshold).count().max(1);
            cands.truncate(keep);
        }
        let probs = softmax(&cands, self.opts.temperature);
        let mut r: f32 = self.rng.random::<f32>();
        for (i, p) in probs.iter().enumerate() {
            r -= p;
            if r <= 0.0 {
                return cands[i].0;
            }
        }
        cands[cands.len() - 1].0
    }

    /// Repeat, presence and frequency penalties over the tail of `history`, in place.
    pub fn penalize(&self, logits: &mut [f32], history: &[u32]) {
        let o = &self.opts;
        let active =
            o.repeat_penalty != 1.0 || o.presence_penalty != 0.0 || o.frequency_penalty != 0.0;
        if !active || o.repeat_last_n == 0 {
            return;
        }
        let tail = &history[history.len().saturating_sub(o.repeat_last_n)..];
        let mut counts: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        for &t in tail {
            *counts.entry(t).or_default() += 1;
        }
        for (&tok, &count) in &counts {
            let Some(l) = logits.get_mut(tok as usize) else {
                continue;
            };
            if *l > 0.0 {
                *l /= o.repeat_penalty;
            } else {
                *l *= o.repeat_penalty;
            }
            *l -= count as f32 * o.frequency_penalty + o.presence_penalty;
        }
    }
}

pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Log-probabilities under `softmax(logits)`: the chosen token's, and the `k` most likely
/// tokens with theirs, most likely first.
pub fn log_probs(logits: &[f32], chosen: u32, k: usize) -> (f32, Vec<(u32, f32)>) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let lse = max + sum.ln() as f32;
    let chosen_lp = logits
        .get(chosen as usize)
        .map_or(f32::NEG_INFINITY, |l| l - lse);
    let mut top: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l))
        .collect();
    let k = k.min(top.len());
    if k > 0 && k < top.len() {
        top.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
    }
    top.truncate(k);
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    (
        chosen_lp,
        top.into_iter().map(|(i, l)| (i, l - lse)).collect(),
    )
}

/// Probabilities of the candidates (sorted or not) at a temperature.
fn softmax(cands: &[(u32, f32)], temperature: f32) -> Vec<f32> {
    let max = cands.iter().map(|c| c.1).fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<f32> = cands
        .iter()
        .map(|c| ((c.1 - max) / temperature).exp())
        .collect();
    let sum: f32 = probs.iter().sum();
    for p in &mut probs {
        *p /= sum;
    }
    probs
}

/// Locally typical sampling: keep the tokens whose surprise is closest to the entropy until
/// their mass reaches `p`.
fn typical(cands: &mut Vec<(u32, f32)>, probs: &mut Vec<f32>, p: f32) {
    let entropy: f32 = probs
        .iter()
        .filter(|&&q| q > 0.0)
        .map(|&q| -q * q.ln())
        .sum();
    let mut order: Vec<usize> = (0..probs.len()).collect();
    let shift = |q: f32| (-q.ln() - entropy).abs();
    order.sort_by(|&a, &b| shift(probs[a]).total_cmp(&shift(probs[b])));
    let mut cum = 0.0;
    let mut keep = order.len();
    for (i, &idx) in order.iter().enumerate() {
        cum += probs[idx];
        if cum >= p {
            keep = i + 1;
            break;
        }
    }
    order.truncate(keep);
    order.sort_unstable();
    *cands = order.iter().map(|&i| cands[i]).collect();
    *probs = order.iter().map(|&i| probs[i]).collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> GenerateOptions {
        GenerateOptions {
            seed: Some(7),
            ..GenerateOptions::default()
        }
    }

    #[test]
    fn greedy_at_zero_temperature() {
        let mut s = Sampler::new(&GenerateOptions {
            temperature: 0.0,
            ..opts()
        });
        assert_eq!(s.sample(&mut [0.1, 3.0, -1.0, 2.9], &[]), 1);
    }

    #[test]
    fn seed_reproduces_and_top_k_limits() {
        let logits: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin()).collect();
        let draw = |o: &GenerateOptions| {
            let mut s = Sampler::new(o);
            (0..50)
                .map(|_| s.sample(&mut logits.clone(), &[]))
                .collect::<Vec<_>>()
        };
        let o = GenerateOptions {
            temperature: 1.5,
            top_p: 1.0,
            ..opts()
        };
        assert_eq!(draw(&o), draw(&o));
        let top2 = draw(&GenerateOptions {
            top_k: 2,
            ..o.clone()
        });
        let mut best: Vec<u32> = (0..100).collect();
        best.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
        assert!(top2.iter().all(|t| best[..2].contains(t)));
        assert!(
            draw(&GenerateOptions {
                seed: Some(8),
                ..o.clone()
            }) != draw(&o)
        );
    }

    #[test]
    fn min_p_and_top_p_cut_the_tail() {
        let mut logits = vec![10.0, 9.9, 0.0, 0.0, 0.0];
        let o = GenerateOptions {
            temperature: 1.0,
            min_p: 0.5,
            top_k: 0,
            top_p: 1.0,
            ..opts()
        };
        let mut s = Sampler::new(&o);
        for _ in 0..50 {
            assert!(s.sample(&mut logits, &[]) < 2);
        }
        let mut s = Sampler::new(&GenerateOptions {
            min_p: 0.0,
            top_p: 0.3,
            ..o
        });
        for _ in 0..50 {
            assert_eq!(s.sample(&mut logits, &[]), 0);
        }
    }

    #[test]
    fn log_probs_are_normalized_and_ranked() {
        let logits = [1.0f32, 3.0, 2.0, -1.0];
        let (chosen, top) = log_probs(&logits, 2, 2);
        let total: f32 = logits
            .iter()
            .map(|&l| log_probs(&logits, 0, 0).0 - logits[0] + l)
            .map(f32::exp)
            .sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![1, 2]);
        assert!((top[1].1 - chosen).abs() < 1e-6);
        assert!(top[0].1 > top[1].1 && top[0].1 < 0.0);
    }

    #[test]
    fn penalties_push_repeated_tokens_down() {
        let mut s = Sampler::new(&GenerateOptions {
            temperature: 0.0,
            repeat_penalty: 2.0,
            ..opts()
        });
        assert_eq!(s.sample(&mut [3.0, 2.0], &[0, 0]), 1);
        let mut s = Sampler::new(&GenerateOptions {
            temperature: 0.0,
            presence_penalty: 0.5,
            frequency_penalty: 0.5,
            ..opts()
        });
        assert_eq!(s.sample(&mut [3.0, 2.5], &[0]), 1);
    }
}
