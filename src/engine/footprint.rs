//! What a model will take in memory once loaded, estimated from its header before loading
//! it: the registry admits or refuses a load on this number, and `/api/ps` reports it as
//! `size`.
//!
//! Weights are counted as the loader really keeps them (plus what the tokenizer and
//! grammar tables take per vocabulary entry), not as the file stores them: on
//! the CPU our kernels repack quantized matrices with f32 scales (a little larger than
//! GGUF's f16 ones), and every dense tensor (F16, BF16, F32: norms, unquantized matrices, a
//! whole safetensors checkpoint) becomes f32, the activation dtype. The KV cache is counted
//! at its full reservation: `kv_tokens` positions for running sequences (each rounded up
//! to the cache's growth chunk) plus the prefix cache's positions, which are separate
//! buffers, all in f32 (the KV cache stores the activation dtype).

use candle_core::quantized::GgmlDType;

use super::registry::{is_embedder, RegistryConfig};
use super::{EngineConfig, EngineError};
use crate::model::bert::EmbedderInfo;
use crate::model::{Checkpoint, ModelConfig};
use crate::store::{ModelStore, StoredModel};

/// The KV cache grows a sequence's buffers by this many positions (`kv_cache::CHUNK`), so
/// a running sequence may hold up to this many positions beyond what it reserved.
const KV_CHUNK: u64 = 256;

/// Bytes of one KV element: the cache stores the activation dtype, f32 everywhere for now
/// (`Model::load_with`).
const KV_ELEMENT: u64 = 4;

/// Bytes a dense weight takes once loaded: converted to the f32 activation dtype.
const DENSE_ELEMENT: u64 = 4;

/// Memory a decoder holds per vocabulary entry besides its weights: the tokenizer's
/// tables both ways and the grammar engine's token trie. Measured, not derived: the
/// resident size a load adds, less the weights and KV estimated here, came to about 570
/// bytes per entry for both SmolLM2 (49k entries) and Gemma 3 (262k).
const VOCAB_ENTRY_BYTES: u64 = 600;

/// A model's estimated memory once loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Weights as loaded, with the tokenizer and grammar tables.
    pub weights: u64,
    /// The KV cache the engine may allocate for its requests and its prefix cache.
    pub kv: u64,
}

impl Footprint {
    pub fn total(&self) -> u64 {
        self.weights.saturating_add(self.kv)
    }
}

/// Where and how the weights are laid out, which decides their loaded size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    /// On the CPU, where our kernels repack quantized matrices.
    pub cpu: bool,
    /// `--cpu-requantize`: 32-value block types become candle's Q8_0 instead.
    pub requantize: bool,
}

/// Facts of one model file, memoized per file version (they do not depend on the engine's
/// KV settings).
#[derive(Debug, Clone, Copy)]
struct FileFacts {
    weights: u64,
    /// KV bytes of one position over all layers (0 for an embedder).
    kv_per_position: u64,
}

/// Estimates `stored`'s memory under `config`. Reads the model's header (blocking: call it
/// off the async runtime); the file is closed again before this returns.
pub fn estimate(
    store: &ModelStore,
    stored: &StoredModel,
    config: &RegistryConfig,
) -> Result<Footprint, EngineError> {
    let placement = Placement {
        cpu: config.device.is_cpu(),
        requantize: config.load.cpu_requantize,
    };
    let what = match (placement.cpu, placement.requantize) {
        (true, false) => "footprint-cpu",
        (true, true) => "footprint-cpu-requantize",
        (false, _) => "footprint-device",
    };
    let facts = store.memo(stored, what, || file_facts(stored, placement))?;
    Ok(Footprint {
        weights: facts.weights,
        kv: facts
            .kv_per_position
            .saturating_mul(kv_positions(&config.engine)),
    })
}

fn file_facts(stored: &StoredModel, placement: Placement) -> Result<FileFacts, EngineError> {
    if is_embedder(stored) {
        // The BERT loader converts every weight to f32 and keeps no KV cache.
        let info = EmbedderInfo::read(&stored.path)?;
        return Ok(FileFacts {
            weights: info.parameter_count.saturating_mul(DENSE_ELEMENT),
            kv_per_position: 0,
        });
    }
    let file = Checkpoint::open(&stored.path)?;
    let config = ModelConfig::from_checkpoint(&file)?;
    let tied = !file.contains_tensor("output.weight");
    let tensors: Vec<(String, GgmlDType, Vec<usize>)> = match &file {
        Checkpoint::Gguf(f) => f
            .content
            .tensor_infos
            .iter()
            .map(|(name, t)| (name.clone(), t.ggml_dtype, t.shape.dims().to_vec()))
            .collect(),
        Checkpoint::Safetensors(h) => h
            .tensor_list()
            .into_iter()
            .map(|(name, kind, shape)| (name, dense_kind(&kind), shape))
            .collect(),
    };
    let weights = tensors
        .iter()
        .map(|(name, dtype, dims)| match name.as_str() {
            "token_embd.weight" => embedding_bytes(*dtype, dims, tied, placement),
            _ => tensor_bytes(*dtype, dims, placement),
        })
        .fold(0u64, u64::saturating_add)
        .saturating_add(config.vocab_size as u64 * VOCAB_ENTRY_BYTES);
    Ok(FileFacts {
        weights,
        kv_per_position: kv_bytes_per_position(
            config.block_count,
            config.head_count_kv,
            config.head_dim,
        ),
    })
}

/// A safetensors dtype name (`F16`, `BF16`, `F32`) as the GGML type the loader wraps it in.
fn dense_kind(kind: &str) -> GgmlDType {
    match kind {
        "F16" => GgmlDType::F16,
        "BF16" => GgmlDType::BF16,
        _ => GgmlDType::F32,
    }
}

/// KV bytes of one position over all layers: K and V, `kv_heads × head_dim` each.
pub(crate) fn kv_bytes_per_position(layers: usize, kv_heads: usize, head_dim: usize) -> u64 {
    2 * layers as u64 * kv_heads as u64 * head_dim as u64 * KV_ELEMENT
}

/// Positions of KV the engine may hold at once: the running sequences' shared budget
/// (plus a growth chunk of slack each) and the prefix cache's own buffers.
pub(crate) fn kv_positions(engine: &EngineConfig) -> u64 {
    engine.kv_tokens as u64
        + engine.max_running as u64 * KV_CHUNK
        + engine.prefix_cache_tokens as u64
}

fn is_dense(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

fn elements(dims: &[usize]) -> u64 {
    dims.iter().map(|&d| d as u64).product()
}

/// Bytes as the file stores the tensor.
fn stored_bytes(dtype: GgmlDType, dims: &[usize]) -> u64 {
    elements(dims) / dtype.block_size() as u64 * dtype.type_size() as u64
}

/// Bytes of one tensor once loaded.
pub(crate) fn tensor_bytes(dtype: GgmlDType, dims: &[usize], placement: Placement) -> u64 {
    if is_dense(dtype) {
        return elements(dims) * DENSE_ELEMENT;
    }
    if let (true, &[rows, cols]) = (placement.cpu, dims) {
        if placement.requantize && block32(dtype) {
            // Re-encoded as Q8_0: 34 bytes per 32 values (row padding not counted).
            return elements(dims) / 32 * 34;
        }
        if !placement.requantize {
            if let Some(bytes) = packed_bytes(dtype, rows, cols) {
                return bytes;
            }
        }
    }
    stored_bytes(dtype, dims)
}

/// The token embedding: the lookup keeps the table as stored; a tied model also projects
/// onto it, sharing the table when our kernels pack it, else with a prepared copy (f32 for
/// a dense table; a quantized one is shared).
fn embedding_bytes(dtype: GgmlDType, dims: &[usize], tied: bool, placement: Placement) -> u64 {
    if !tied {
        return stored_bytes(dtype, dims);
    }
    let packed = match (placement.cpu && !placement.requantize, dims) {
        (true, &[rows, cols]) => packed_bytes(dtype, rows, cols),
        _ => None,
    };
    match (packed, is_dense(dtype)) {
        (Some(bytes), _) => bytes,
        (None, true) => stored_bytes(dtype, dims) + elements(dims) * DENSE_ELEMENT,
        (None, false) => stored_bytes(dtype, dims),
    }
}

fn block32(dtype: GgmlDType) -> bool {
    matches!(
        dtype,
        GgmlDType::Q4_0 | GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 | GgmlDType::Q8_0
    )
}

/// Rows our CPU kernels pack together (`quant::pack::GROUP`): a matrix is padded to it.
const PACK_GROUP: usize = 16;

/// Bytes of a `[rows, cols]` matrix in our CPU kernels' layout (`quant::PackedWeight`), for
/// the types they cover. Per 256 values of a row: the values (4-bit types two per byte,
/// others a byte each), f32 scales (and mins) per 32-value block or per 256 for K-quants,
/// and the K-quants' integer sub-scales (i8) and sub-mins (i16) per block. The unit test
/// checks this against a real packed matrix.
fn packed_bytes(dtype: GgmlDType, rows: usize, cols: usize) -> Option<u64> {
    let per_256 = match dtype {
        GgmlDType::Q4_0 => 8 * (16 + 4),
        GgmlDType::Q4_1 => 8 * (16 + 4 + 4),
        GgmlDType::Q5_0 | GgmlDType::Q8_0 => 8 * (32 + 4),
        GgmlDType::Q5_1 => 8 * (32 + 4 + 4),
        GgmlDType::Q4K => 8 * 16 + 4 + 4 + 8 * (1 + 2),
        GgmlDType::Q5K => 8 * 32 + 4 + 4 + 8 * (1 + 2),
        GgmlDType::Q6K => 8 * 32 + 4 + 8 * 2,
        _ => return None,
    };
    let padded_rows = rows.div_ceil(PACK_GROUP) * PACK_GROUP;
    // Multiply first: a 32-value type's row need not be a whole number of 256s.
    Some(padded_rows as u64 * cols as u64 * per_256 as u64 / 256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::quant::PackedWeight;

    const CPU: Placement = Placement {
        cpu: true,
        requantize: false,
    };
    const GPU: Placement = Placement {
        cpu: false,
        requantize: false,
    };

    /// The table above against the kernels' real layout, for every covered type.
    #[test]
    fn packed_size_matches_the_kernels() {
        let rows = 20;
        for dtype in crate::model::quant::testing::TYPES {
            // SmolLM2's width, 18 blocks of 32 (K-quants need whole 256s).
            let cols = match block32(dtype) {
                true => 576,
                false => 768,
            };
            let data = vec![0u8; stored_bytes(dtype, &[rows, cols]) as usize];
            let packed = PackedWeight::from_gguf(dtype, &data, rows, cols)
                .expect("packs")
                .expect("covered");
            let real = packed.qs.len()
                + 4 * packed.scales.len()
                + 4 * packed.mins.len()
                + packed.sub_scales.len()
                + 2 * packed.sub_mins.len();
            assert_eq!(
                packed_bytes(dtype, rows, cols),
                Some(real as u64),
                "{dtype:?}"
            );
        }
    }

    #[test]
    fn tensors_as_loaded() {
        // Dense weights become f32 wherever they are.
        assert_eq!(tensor_bytes(GgmlDType::F16, &[10, 32], GPU), 10 * 32 * 4);
        assert_eq!(tensor_bytes(GgmlDType::F32, &[576], CPU), 576 * 4);
        // Quantized ones keep their stored size on a GPU (Q4_0: 18 bytes per 32 values).
        assert_eq!(tensor_bytes(GgmlDType::Q4_0, &[16, 64], GPU), 16 * 2 * 18);
        // On the CPU they are repacked (f32 scales: 20 bytes per 32 values).
        assert_eq!(tensor_bytes(GgmlDType::Q4_0, &[16, 64], CPU), 16 * 2 * 20);
        let requantize = Placement {
            cpu: true,
            requantize: true,
        };
        assert_eq!(
            tensor_bytes(GgmlDType::Q4_1, &[16, 64], requantize),
            16 * 2 * 34
        );
    }

    #[test]
    fn tied_embeddings() {
        let dims = [100, 64];
        // Untied: the lookup table as stored.
        assert_eq!(
            embedding_bytes(GgmlDType::F16, &dims, false, CPU),
            100 * 64 * 2
        );
        // Tied and packable: one packed table serves both.
        assert_eq!(
            embedding_bytes(GgmlDType::Q8_0, &dims, true, CPU),
            packed_bytes(GgmlDType::Q8_0, 100, 64).expect("covered")
        );
        // Tied and dense: the table plus its f32 projection.
        assert_eq!(
            embedding_bytes(GgmlDType::F16, &dims, true, GPU),
            100 * 64 * (2 + 4)
        );
    }

    #[test]
    fn kv_reservation() {
        // SmolLM2-135M: 30 layers, 3 KV heads of 64.
        assert_eq!(kv_bytes_per_position(30, 3, 64), 2 * 30 * 3 * 64 * 4);
        let engine = EngineConfig {
            kv_tokens: 4096,
            max_running: 2,
            prefix_cache_tokens: 1000,
            ..EngineConfig::default()
        };
        assert_eq!(kv_positions(&engine), 4096 + 2 * 256 + 1000);
        let f = Footprint { weights: 10, kv: 5 };
        assert_eq!(f.total(), 15);
    }
}
