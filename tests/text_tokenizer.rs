//! Tokenizer parity with llama.cpp (goldens from llama-cpp-python) on the real test models.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use candle_core::quantized::gguf_file::Value;
use rollama::model::Checkpoint;
use rollama::text::{StreamDecoder, TextError, Tokenizer};

fn load(name: &str) -> Tokenizer {
    let file = Checkpoint::open(&common::model_path(name)).expect("open gguf");
    Tokenizer::from_gguf(file.metadata()).expect("tokenizer from gguf")
}

fn tokenizer(name: &str) -> &'static Tokenizer {
    static SMOL: OnceLock<Tokenizer> = OnceLock::new();
    static GEMMA: OnceLock<Tokenizer> = OnceLock::new();
    match name {
        "smollm2" => SMOL.get_or_init(|| load("smollm2")),
        "gemma3" => GEMMA.get_or_init(|| load("gemma3")),
        _ => panic!("unknown model {name}"),
    }
}

fn golden_exists(file: &str) -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/goldens")
        .join(file)
        .exists()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("id array")
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("id")).expect("u32 id"))
        .collect()
}

fn check_tokenize_goldens(name: &str) {
    let tok = tokenizer(name);
    let golden = common::golden(&format!("tokenize-{name}.json"));
    let cases = golden["cases"].as_array().expect("cases");
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let add_bos = case["add_bos"].as_bool().expect("add_bos");
        let want = ids(&case["ids"]);
        let got = tok.encode(text, add_bos).expect("encode");
        if got != want {
            failures.push(format!(
                "{text:?} (add_bos={add_bos}):\n  want {want:?}\n  got  {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn smollm2_matches_llama_cpp_tokenization() {
    check_tokenize_goldens("smollm2");
}

#[test]
fn gemma3_matches_llama_cpp_tokenization() {
    if !golden_exists("tokenize-gemma3.json") {
        eprintln!("tokenize-gemma3.json not generated yet; skipping");
        return;
    }
    check_tokenize_goldens("gemma3");
}

/// Texts without special-token markup decode back to themselves (after dropping BOS).
fn check_round_trip(name: &str) {
    let tok = tokenizer(name);
    let golden = common::golden(&format!("tokenize-{name}.json"));
    for case in golden["cases"].as_array().expect("cases") {
        let text = case["text"].as_str().expect("text");
        if text.contains('<') {
            continue; // special-token cases: control tokens are not printed back
        }
        let mut ids = tok.encode(text, true).expect("encode");
        if ids.first().copied() == tok.bos_id() && tok.add_bos() {
            ids.remove(0);
        }
        assert_eq!(tok.decode(&ids).expect("decode"), text, "{name}: {ids:?}");
    }
}

#[test]
fn smollm2_round_trips() {
    check_round_trip("smollm2");
}

#[test]
fn gemma3_round_trips() {
    if !golden_exists("tokenize-gemma3.json") {
        return;
    }
    check_round_trip("gemma3");
}

/// Streams `ids` one at a time; every delta must be clean UTF-8 without U+FFFD.
fn stream(tok: &Tokenizer, ids: &[u32]) -> String {
    let mut dec = StreamDecoder::new();
    let mut out = String::new();
    for &id in ids {
        let delta = dec.push(tok, id).expect("push");
        assert!(!delta.contains('\u{FFFD}'), "delta {delta:?} after id {id}");
        out.push_str(&delta);
    }
    out.push_str(&dec.flush());
    out
}

fn check_greedy_stream(name: &str) {
    let tok = tokenizer(name);
    let golden = common::golden(&format!("greedy-{name}.json"));
    for case in golden["cases"].as_array().expect("cases") {
        let gen = ids(&case["generated_ids"]);
        let full = tok.decode(&gen).expect("decode");
        let streamed = stream(tok, &gen);
        assert_eq!(streamed, full, "{name}: stream vs decode of {gen:?}");
        // llama-cpp-python's detokenize prints no control tokens either; if its text
        // differs it can only be by special-token text, so compare with those removed.
        let want = case["generated_text"].as_str().expect("generated_text");
        let mut want_plain = want.to_string();
        for &id in &gen {
            if tok.is_control(id) {
                if let Some(t) = tok.token_text(id) {
                    want_plain = want_plain.replace(t, "");
                }
            }
        }
        assert_eq!(full, want_plain, "{name}: decode of {gen:?}");
    }
}

#[test]
fn smollm2_streams_greedy_goldens() {
    if !golden_exists("greedy-smollm2.json") {
        eprintln!("greedy-smollm2.json not generated yet; skipping");
        return;
    }
    check_greedy_stream("smollm2");
}

#[test]
fn gemma3_streams_greedy_goldens() {
    if !golden_exists("greedy-gemma3.json") {
        eprintln!("greedy-gemma3.json not generated yet; skipping");
        return;
    }
    check_greedy_stream("gemma3");
}

#[test]
fn streaming_multibyte_never_breaks_utf8() {
    let text = "😀🎉 日本語";
    for name in ["smollm2", "gemma3"] {
        let tok = tokenizer(name);
        let ids = tok.encode(text, false).expect("encode");
        assert!(ids.len() >= 4, "{name}: {ids:?}");
        assert_eq!(stream(tok, &ids), text, "{name}");
    }
}

#[test]
fn stream_holds_back_incomplete_bytes() {
    let tok = tokenizer("gemma3");
    // '😀' is F0 9F 98 80; with byte-fallback tokens each byte is its own token.
    let bytes: Vec<u32> = [0xF0u8, 0x9F, 0x98, 0x80]
        .iter()
        .map(|b| tok.token_id(&format!("<0x{b:02X}>")).expect("byte token"))
        .collect();
    let mut dec = StreamDecoder::new();
    for &id in &bytes[..3] {
        assert_eq!(dec.push(tok, id).expect("push"), "");
    }
    assert_eq!(dec.pending_bytes(), 3);
    assert_eq!(dec.push(tok, bytes[3]).expect("push"), "😀");
    assert_eq!(dec.flush(), "");
}

#[test]
fn stop_ids_include_end_of_turn_and_eos() {
    let smol = tokenizer("smollm2");
    let im_end = smol.token_id("<|im_end|>").expect("<|im_end|>");
    assert!(smol.stop_ids().contains(&im_end));
    let eos = smol.eos_id().expect("eos");
    assert!(smol.stop_ids().contains(&eos));
    assert_eq!(smol.eos_token(), Some("<|im_end|>"));

    let gemma = tokenizer("gemma3");
    let eot = gemma.token_id("<end_of_turn>").expect("<end_of_turn>");
    assert!(gemma.stop_ids().contains(&eot));
    let eos = gemma.eos_id().expect("eos");
    assert!(gemma.stop_ids().contains(&eos));
    assert_eq!(gemma.bos_token(), Some("<bos>"));
    assert_eq!(gemma.eos_token(), Some("<eos>"));
    assert!(gemma.add_bos());
    assert!(!smol.add_bos());
    assert_eq!(gemma.vocab_size(), 262_144);
    assert_eq!(smol.vocab_size(), 49_152);
}

#[test]
fn control_tokens_are_parsed_and_not_printed() {
    let smol = tokenizer("smollm2");
    let ids = smol
        .encode("<|im_start|>user\nHi<|im_end|>", false)
        .expect("encode");
    let start = smol.token_id("<|im_start|>").expect("im_start");
    let end = smol.token_id("<|im_end|>").expect("im_end");
    assert_eq!(ids.first(), Some(&start));
    assert_eq!(ids.last(), Some(&end));
    assert_eq!(smol.decode(&ids).expect("decode"), "user\nHi");
}

fn small_vocab(pre: Option<&str>) -> HashMap<String, Value> {
    let mut m = HashMap::new();
    m.insert("tokenizer.ggml.model".into(), Value::String("gpt2".into()));
    if let Some(pre) = pre {
        m.insert("tokenizer.ggml.pre".into(), Value::String(pre.into()));
    }
    let tokens = ["a", "b", "ab", "<|endoftext|>"];
    m.insert(
        "tokenizer.ggml.tokens".into(),
        Value::Array(tokens.iter().map(|t| Value::String((*t).into())).collect()),
    );
    m.insert(
        "tokenizer.ggml.token_type".into(),
        Value::Array(vec![
            Value::I32(1),
            Value::I32(1),
            Value::I32(1),
            Value::I32(3),
        ]),
    );
    m.insert(
        "tokenizer.ggml.merges".into(),
        Value::Array(vec![Value::String("a b".into())]),
    );
    // Ids stored with an unusual width must still be read.
    m.insert("tokenizer.ggml.eos_token_id".into(), Value::U64(3));
    m
}

#[test]
fn unknown_or_missing_pre_is_refused() {
    for pre in [Some("nonsense"), None] {
        match Tokenizer::from_gguf(&small_vocab(pre)) {
            Err(TextError::Unsupported(msg)) => assert!(msg.contains("pre-tokenizer"), "{msg}"),
            Err(e) => panic!("wrong error for {pre:?}: {e}"),
            Ok(_) => panic!("pre {pre:?} accepted"),
        }
    }
    let mut other = small_vocab(Some("gpt-2"));
    other.insert("tokenizer.ggml.model".into(), Value::String("t5".into()));
    assert!(matches!(
        Tokenizer::from_gguf(&other),
        Err(TextError::Unsupported(_))
    ));
}

#[test]
fn hand_built_vocab_works() {
    let tok = Tokenizer::from_gguf(&small_vocab(Some("gpt-2"))).expect("tokenizer");
    assert_eq!(
        tok.encode("ab<|endoftext|>a", true).expect("encode"),
        [2, 3, 0]
    );
    assert_eq!(tok.stop_ids(), [3]);
    assert_eq!(tok.decode(&[2, 3, 0]).expect("decode"), "aba");
}
