//! The BERT embedder against sentence-transformers: all-MiniLM-L6-v2, goldens from
//! `scripts/gen-embed-goldens.py` (CPU, one sentence per call).

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::Device;
use common::{checkpoint_path, golden};
use rollama::model::bert::{Embedder, Pooling};
use rollama::model::ModelError;
use rollama::text::HfTokenizer;

struct Case {
    text: String,
    ids: Vec<u32>,
    model_ids: Vec<u32>,
    norm: f32,
    embedding: Vec<f32>,
}

struct Goldens {
    max_seq_length: usize,
    triples: Vec<[usize; 3]>,
    cases: Vec<Case>,
}

fn goldens() -> &'static Goldens {
    static GOLDENS: OnceLock<Goldens> = OnceLock::new();
    GOLDENS.get_or_init(|| {
        let doc = golden("embed-minilm.json");
        let ids = |v: &serde_json::Value| -> Vec<u32> {
            serde_json::from_value(v.clone()).expect("ids are u32")
        };
        let cases = doc["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| Case {
                text: c["text"].as_str().expect("text").to_string(),
                ids: ids(&c["ids"]),
                model_ids: ids(&c["model_ids"]),
                norm: c["norm"].as_f64().expect("norm") as f32,
                embedding: serde_json::from_value(c["embedding"].clone()).expect("embedding"),
            })
            .collect();
        Goldens {
            max_seq_length: doc["max_seq_length"].as_u64().expect("max_seq_length") as usize,
            triples: serde_json::from_value(doc["triples"].clone()).expect("triples"),
            cases,
        }
    })
}

fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        Embedder::load(&checkpoint_path("all-minilm"), &Device::Cpu).expect("load all-minilm")
    })
}

fn tokenizer() -> HfTokenizer {
    HfTokenizer::from_file(&checkpoint_path("all-minilm").join("tokenizer.json"))
        .expect("load tokenizer.json")
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let n = norm(v);
    v.iter().map(|x| x / n).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (norm(a) * norm(b))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn metadata_matches_the_checkpoint() {
    let e = embedder();
    assert_eq!(e.dim(), 384);
    assert_eq!(e.max_tokens(), 256);
    assert!(e.normalize());
    assert_eq!(e.pooling(), Pooling::Mean);
    assert_eq!(e.architecture(), "bert");
    // transformers' BertModel.num_parameters() for all-MiniLM-L6-v2 (pooler included).
    assert_eq!(e.parameter_count(), 22_713_216);
}

#[test]
fn token_ids_match_the_hf_tokenizer() {
    let g = goldens();
    let tok = tokenizer();
    for case in &g.cases {
        assert_eq!(
            tok.encode(&case.text).expect("encode"),
            case.ids,
            "{:?}",
            case.text
        );
        assert_eq!(
            tok.encode_truncated(&case.text, g.max_seq_length)
                .expect("encode_truncated"),
            case.model_ids,
            "{:?}",
            case.text
        );
    }
    // The long sentence really is truncated, keeping [CLS] … [SEP].
    let long = g
        .cases
        .iter()
        .find(|c| c.ids.len() > g.max_seq_length)
        .expect("a case longer than max_seq_length");
    assert_eq!(long.model_ids.len(), g.max_seq_length);
    assert_eq!(long.model_ids.first(), Some(&101));
    assert_eq!(long.model_ids.last(), Some(&102));
    let text = tok.decode(&long.model_ids).expect("decode");
    assert!(
        text.starts_with("embedding models map text to vectors"),
        "{text}"
    );
    assert!(long
        .text
        .to_lowercase()
        .starts_with(&text[..text.len() - 20]));
}

#[test]
fn vectors_match_sentence_transformers() {
    let g = goldens();
    let e = embedder();
    let mut worst = (0f32, 1f32);
    for case in &g.cases {
        let ours = e
            .embed(std::slice::from_ref(&case.model_ids))
            .expect("embed one");
        assert_eq!(ours.len(), 1);
        let raw = &ours[0];
        // The pooled (unnormalized) length pins mean pooling's divisor.
        assert!(
            (norm(raw) - case.norm).abs() <= 1e-4 * case.norm,
            "{:?}: norm {} vs {}",
            case.text,
            norm(raw),
            case.norm
        );
        let ours = normalized(raw);
        let diff = max_abs_diff(&ours, &case.embedding);
        let cos = cosine(&ours, &case.embedding);
        assert!(diff <= 1e-4, "{:?}: max |diff| {diff}", case.text);
        assert!(cos >= 0.9999, "{:?}: cosine {cos}", case.text);
        worst = (worst.0.max(diff), worst.1.min(cos));
    }
    eprintln!(
        "worst over {} sentences: max |diff| {:.2e}, cosine {:.7}",
        g.cases.len(),
        worst.0,
        worst.1
    );
}

#[test]
fn padded_batch_gives_each_sentence_its_own_vector() {
    let g = goldens();
    let e = embedder();
    let batch: Vec<Vec<u32>> = g.cases.iter().map(|c| c.model_ids.clone()).collect();
    // Shortest (3 tokens) next to the longest (256): most of the batch is padding.
    assert!(batch.iter().map(Vec::len).min() < Some(4));
    let together = e.embed(&batch).expect("embed the batch");
    assert_eq!(together.len(), batch.len());
    for (ids, vector) in batch.iter().zip(&together) {
        let alone = &e.embed(std::slice::from_ref(ids)).expect("embed one")[0];
        let diff = max_abs_diff(alone, vector);
        assert!(diff <= 1e-6 * norm(alone), "{} tokens: {diff}", ids.len());
    }
    // Order is kept, and different inputs give different vectors.
    assert!(max_abs_diff(&together[0], &together[1]) > 1e-2);
}

#[test]
fn paraphrases_are_nearer_than_unrelated_sentences() {
    let g = goldens();
    let e = embedder();
    assert!(g.triples.len() >= 5);
    let batch: Vec<Vec<u32>> = g.cases.iter().map(|c| c.model_ids.clone()).collect();
    let vectors = e.embed(&batch).expect("embed the batch");
    for &[anchor, near, far] in &g.triples {
        let (a, n, f) = (&vectors[anchor], &vectors[near], &vectors[far]);
        assert!(
            cosine(a, n) > cosine(a, f) + 0.1,
            "{:?}: {:?} at {} vs {:?} at {}",
            g.cases[anchor].text,
            g.cases[near].text,
            cosine(a, n),
            g.cases[far].text,
            cosine(a, f)
        );
    }
}

#[test]
fn inputs_outside_the_model_are_refused() {
    let e = embedder();
    let too_long = vec![101u32; e.max_tokens() + 1];
    assert!(matches!(e.embed(&[too_long]), Err(ModelError::Format(_))));
    assert!(matches!(e.embed(&[vec![]]), Err(ModelError::Format(_))));
    assert!(matches!(
        e.embed(&[vec![101, 30522, 102]]),
        Err(ModelError::Format(_))
    ));
    assert!(e.embed(&[]).expect("embed nothing").is_empty());
}

/// A copy of the checkpoint's small files with `config.json` edited by `edit`; the weights
/// are linked, not copied.
fn edited_checkpoint(tag: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let src = checkpoint_path("all-minilm");
    let dir = std::env::temp_dir().join(format!("rollama-bert-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(src.join("config.json")).expect("read config.json"),
    )
    .expect("config.json is JSON");
    edit(&mut config);
    std::fs::write(dir.join("config.json"), config.to_string()).expect("write config.json");
    std::os::unix::fs::symlink(src.join("model.safetensors"), dir.join("model.safetensors"))
        .expect("link weights");
    dir
}

#[test]
fn non_bert_models_are_refused() {
    let dir = edited_checkpoint("roberta", |c| {
        c["model_type"] = "roberta".into();
        c["architectures"] = serde_json::json!(["RobertaModel"]);
    });
    match Embedder::load(&dir, &Device::Cpu) {
        Err(ModelError::Unsupported(msg)) => assert!(msg.contains("roberta"), "{msg}"),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a roberta config was accepted"),
    }
    let _ = std::fs::remove_dir_all(&dir);

    // A directory with no config at all says which file is missing.
    let empty = std::env::temp_dir().join(format!("rollama-bert-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("create temp dir");
    match Embedder::load(&empty, &Device::Cpu) {
        Err(ModelError::Io(path, _)) => assert!(path.ends_with("config.json")),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("an empty directory loaded"),
    }
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn plain_hf_directory_defaults_to_mean_pooling_without_normalize() {
    // The same weights without the sentence-transformers files: mean pooling, no
    // Normalize, the model's own position limit; the vectors are unchanged.
    let dir = edited_checkpoint("plain", |_| {});
    let plain =
        Embedder::load(&dir, &Device::Cpu).expect("load without sentence-transformers files");
    assert!(!plain.normalize());
    assert_eq!(plain.pooling(), Pooling::Mean);
    assert_eq!(plain.max_tokens(), 512);
    let ids = &goldens().cases[1].model_ids;
    let a = &plain.embed(std::slice::from_ref(ids)).expect("embed")[0];
    let b = &embedder().embed(std::slice::from_ref(ids)).expect("embed")[0];
    assert_eq!(a, b);
    let _ = std::fs::remove_dir_all(&dir);
}
