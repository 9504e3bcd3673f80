//! A store in Ollama's layout, written by the test as Ollama writes it: listed with
//! Ollama's names and digests, shown with its layers, and its layers applied to
//! generation (checked on the prompt's tokens, not on the model's text).

mod common;

use common::{
    post, prompt_tokens, smollm2_tokenizer, OllamaStore, TestLayer, TestServer, MT_LICENSE,
    MT_MESSAGES, MT_PARAMS, MT_SYSTEM, MT_TEMPLATE,
};
use serde_json::{json, Value};

const SYSTEM: &str = "You are a test.";
const LICENSE: &str = "Test license, version 1.";
const PROMPT: &str = "Tell me a long story about a dragon who lives in a castle.";
/// A template only the Go template layer renders (smollm2's Jinja has no `[GO]`).
const TINY_TEMPLATE: &str =
    "{{ if .System }}[GO] {{ .System }}\n{{ end }}{{ if .Prompt }}Q: {{ .Prompt }}\n{{ end }}A: Once upon a time, there was";

fn chatml() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/gotemplates/chatml.gotmpl"),
    )
    .expect("chatml fixture")
}

fn seeded() -> Value {
    json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}])
}

struct Fixture {
    store: OllamaStore,
    /// Bytes of each manifest, by its path under `manifests/`.
    manifests: Vec<(String, Vec<u8>)>,
    smol_layers: Vec<TestLayer>,
    config: TestLayer,
}

fn fixture() -> Fixture {
    let store = OllamaStore::new();
    let config = store.config();
    let weights = store.weights();
    let template = store.blob(MT_TEMPLATE, chatml().as_bytes());
    let system = store.blob(MT_SYSTEM, SYSTEM.as_bytes());
    let params = store.blob(
        MT_PARAMS,
        br#"{"num_predict":3,"stop":["<|im_end|>"],"temperature":0}"#,
    );
    let messages = store.blob(MT_MESSAGES, seeded().to_string().as_bytes());
    let license = store.blob(MT_LICENSE, LICENSE.as_bytes());
    let smol_layers = vec![
        weights.clone(),
        template,
        system.clone(),
        params,
        messages,
        license,
    ];
    let tiny_template = store.blob(MT_TEMPLATE, TINY_TEMPLATE.as_bytes());
    let mut manifests = vec![];
    for rel in [
        "registry.ollama.ai/library/smol/latest",
        "registry.ollama.ai/library/smol/v2",
        "example.com:5000/ns/m/v1",
    ] {
        manifests.push((rel.to_string(), store.manifest(rel, &config, &smol_layers)));
    }
    let rel = "registry.ollama.ai/someone/tiny/q4";
    let tiny = vec![weights, tiny_template, system];
    manifests.push((rel.to_string(), store.manifest(rel, &config, &tiny)));
    Fixture {
        store,
        manifests,
        smol_layers,
        config,
    }
}

async fn get(url: String) -> Value {
    let r = reqwest::get(url).await.expect("get");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

async fn post_json(url: String, body: Value) -> (u16, Value) {
    let r = post(&url, body).await;
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn server() -> TestServer {
    TestServer {
        // prompt_eval_count counts every prompt token only without reuse.
        prefix_cache_tokens: 0,
        ..TestServer::default()
    }
}

fn chatml_prompt(messages: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (role, content) in messages {
        out.push_str(&format!("<|im_start|>{role}\n{content}<|im_end|>\n"));
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

fn context(v: &Value) -> Vec<u64> {
    v["context"]
        .as_array()
        .expect("context")
        .iter()
        .map(|t| t.as_u64().expect("token"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_list_the_manifests_with_ollama_names_digests_and_sizes() {
    let f = fixture();
    let base = server().spawn_store(f.store.dir.clone()).await;
    let tags = get(format!("{base}/api/tags")).await;
    let models = tags["models"].as_array().expect("models");
    let mut names: Vec<&str> = models
        .iter()
        .map(|m| m["name"].as_str().expect("present"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "example.com:5000/ns/m:v1",
            "smol:latest",
            "smol:v2",
            "someone/tiny:q4"
        ]
    );
    let (weights_hex, weights_size) = common::smollm2_blob();
    for (rel, bytes) in &f.manifests {
        let name = match rel.as_str() {
            "registry.ollama.ai/library/smol/latest" => "smol:latest",
            "registry.ollama.ai/library/smol/v2" => "smol:v2",
            "example.com:5000/ns/m/v1" => "example.com:5000/ns/m:v1",
            _ => "someone/tiny:q4",
        };
        let m = models.iter().find(|m| m["name"] == name).expect(name);
        assert_eq!(m["model"], name);
        assert_eq!(m["digest"], common::sha256_hex(bytes), "{name}");
        let manifest: Value = serde_json::from_slice(bytes).expect("json");
        let size: u64 = manifest["config"]["size"].as_u64().expect("present")
            + manifest["layers"]
                .as_array()
                .expect("present")
                .iter()
                .map(|l| l["size"].as_u64().expect("present"))
                .sum::<u64>();
        assert_eq!(m["size"], size, "{name}");
        assert!(size > weights_size);
        assert_eq!(m["details"]["format"], "gguf");
        assert_eq!(m["details"]["family"], "llama");
        assert_eq!(m["details"]["families"], json!(["llama"]));
        assert_eq!(m["details"]["quantization_level"], "Q4_1");
        assert_eq!(m["details"]["parent_model"], "");
        assert!(
            chrono::DateTime::parse_from_rfc3339(m["modified_at"].as_str().expect("time")).is_ok()
        );
    }
    assert_eq!(weights_hex.len(), 64);
    assert_eq!(f.smol_layers.len(), 6);
    assert!(f.config.size > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn names_match_case_insensitively_keeping_the_stored_spelling() {
    let f = fixture();
    let base = server().spawn_store(f.store.dir.clone()).await;
    let (status, shown) =
        post_json(format!("{base}/api/show"), json!({"model": "SMOL:Latest"})).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["system"], SYSTEM);
    let (status, shown) = post_json(
        format!("{base}/api/show"),
        json!({"model": "Registry.Ollama.AI/SomeOne/Tiny:Q4"}),
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["template"], TINY_TEMPLATE);
    let (status, reply) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "SMOL:Latest", "prompt": PROMPT, "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["model"], "SMOL:Latest");
    let (status, reply) =
        post_json(format!("{base}/api/show"), json!({"model": "smol:nope"})).await;
    assert_eq!(status, 404, "{reply}");
    // Nothing was renamed on disk.
    assert!(f
        .store
        .dir
        .join("manifests/registry.ollama.ai/library/smol/latest")
        .is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn show_reports_every_layer() {
    let f = fixture();
    let base = server().spawn_store(f.store.dir.clone()).await;
    let (status, s) = post_json(format!("{base}/api/show"), json!({"model": "smol"})).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["template"], chatml());
    assert_eq!(s["system"], SYSTEM);
    assert_eq!(s["license"], LICENSE);
    assert_eq!(s["messages"], seeded());
    assert_eq!(
        s["parameters"],
        format!(
            "{:<30} {}\n{:<30} \"<|im_end|>\"\n{:<30} 0",
            "num_predict", 3, "stop", "temperature"
        )
    );
    assert_eq!(s["capabilities"], json!(["completion"]));
    assert!(chrono::DateTime::parse_from_rfc3339(s["modified_at"].as_str().expect("time")).is_ok());
    assert_eq!(s["details"]["quantization_level"], "Q4_1");
    let modelfile = s["modelfile"].as_str().expect("modelfile");
    assert!(modelfile.starts_with("# Modelfile generated by \"ollama show\"\n"));
    assert!(modelfile.contains("# FROM smol:latest\n"), "{modelfile}");
    assert!(
        modelfile.contains(&format!("SYSTEM {SYSTEM}\n")),
        "{modelfile}"
    );
    assert!(
        modelfile.contains(&format!("TEMPLATE \"{}\"\n", chatml())),
        "{modelfile}"
    );
    assert!(
        modelfile.contains("PARAMETER num_predict 3\n"),
        "{modelfile}"
    );
    assert!(
        modelfile.contains("PARAMETER stop <|im_end|>\n"),
        "{modelfile}"
    );
    assert!(
        modelfile.contains("PARAMETER temperature 0\n"),
        "{modelfile}"
    );
    assert!(
        modelfile.contains(&format!("LICENSE {LICENSE}\n")),
        "{modelfile}"
    );
    assert!(modelfile.contains("MESSAGE user Hi\n"), "{modelfile}");
    assert!(
        modelfile.contains("MESSAGE assistant Hello!\n"),
        "{modelfile}"
    );
    let weights = f.store.blob_path(&f.smol_layers[0].digest);
    assert!(
        modelfile.contains(&format!("FROM {}\n", weights.display())),
        "{modelfile}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn layers_apply_to_generate_token_for_token() {
    let f = fixture();
    let base = server().spawn_store(f.store.dir.clone()).await;
    let expected = prompt_tokens(&chatml_prompt(&[
        ("system", SYSTEM),
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", PROMPT),
    ]));
    let (status, r) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "smol", "prompt": PROMPT, "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let ctx = context(&r);
    assert_eq!(&ctx[..expected.len().min(ctx.len())], &expected[..]);
    assert_eq!(r["prompt_eval_count"], expected.len());
    // The params layer's num_predict, as no request option overrides it.
    assert_eq!(r["eval_count"], 3, "{r}");
    assert_eq!(ctx.len(), expected.len() + 3);
    assert_eq!(r["done_reason"], "length");

    // The request's own num_predict wins over the layer's.
    let (status, r) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "smol", "prompt": PROMPT, "stream": false, "options": {"num_predict": 5}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["eval_count"], 5, "{r}");
    assert_eq!(context(&r).len(), expected.len() + 5);

    // A request system replaces the layer's.
    let (status, r) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "smol", "prompt": PROMPT, "system": "Be brief.", "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let expected = prompt_tokens(&chatml_prompt(&[
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", PROMPT),
    ]));
    let ctx = context(&r);
    assert_eq!(&ctx[..expected.len()], &expected[..]);
    assert_eq!(ctx.len(), expected.len() + 3);

    // A continued exchange (`context`) gets no seeded turns again.
    let (status, r2) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "smol", "prompt": "More.", "context": ctx, "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r2}");
    let mut expected2 = ctx.clone();
    let tok = smollm2_tokenizer();
    expected2.extend(
        tok.encode(
            &chatml_prompt(&[("system", SYSTEM), ("user", "More.")]),
            false,
        )
        .expect("encode")
        .into_iter()
        .map(u64::from),
    );
    let ctx2 = context(&r2);
    assert_eq!(&ctx2[..expected2.len()], &expected2[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_models_go_template_and_system_apply() {
    let f = fixture();
    let base = server().spawn_store(f.store.dir.clone()).await;
    let (status, r) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "someone/tiny:q4", "prompt": PROMPT, "stream": false,
               "options": {"num_predict": 2}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let expected = prompt_tokens(&format!(
        "[GO] {SYSTEM}\nQ: {PROMPT}\nA: Once upon a time, there was"
    ));
    let ctx = context(&r);
    assert_eq!(&ctx[..expected.len()], &expected[..]);
    assert_eq!(ctx.len(), expected.len() + 2, "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_gets_the_system_layer_and_the_seeded_messages() {
    let f = fixture();
    let base = server().spawn_store(f.store.dir.clone()).await;
    let chat = |messages: Value| {
        let base = base.clone();
        async move {
            post_json(
                format!("{base}/api/chat"),
                json!({"model": "smol", "messages": messages, "stream": false}),
            )
            .await
        }
    };
    let (status, r) = chat(json!([{"role": "user", "content": PROMPT}])).await;
    assert_eq!(status, 200, "{r}");
    let with_layer = prompt_tokens(&chatml_prompt(&[
        ("system", SYSTEM),
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", PROMPT),
    ]));
    assert_eq!(r["prompt_eval_count"], with_layer.len(), "{r}");
    assert_eq!(r["eval_count"], 3, "{r}");

    // A chat opening with its own system message: the layer's is not added; the seeded
    // messages still come first (as Ollama: `append(m.Messages, req.Messages...)`).
    let own = "Answer in one word, always, whatever the question is.";
    let (status, r) = chat(json!([
        {"role": "system", "content": own},
        {"role": "user", "content": PROMPT}
    ]))
    .await;
    assert_eq!(status, 200, "{r}");
    let expected = prompt_tokens(&chatml_prompt(&[
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("system", own),
        ("user", PROMPT),
    ]));
    assert_eq!(r["prompt_eval_count"], expected.len(), "{r}");
    assert_ne!(expected.len(), with_layer.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_template_is_used_and_a_broken_one_refused() {
    let f = fixture();
    let base = server().spawn_store(f.store.dir.clone()).await;
    // A legacy template: Ollama renders the seeded turn through it, then the prompt with
    // everything from `.Response` on cut.
    let template = "<<{{ .System }}|{{ .Prompt }}|{{ .Response }}>>";
    let (status, r) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "smol", "prompt": PROMPT, "template": template, "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let expected = prompt_tokens(&format!("<<{SYSTEM}|Hi|Hello!>><<|{PROMPT}|"));
    let ctx = context(&r);
    assert_eq!(&ctx[..expected.len()], &expected[..]);
    assert_eq!(ctx.len(), expected.len() + 3);

    let (status, r) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "smol", "prompt": PROMPT, "template": "{{ .Prompt ", "stream": false}),
    )
    .await;
    assert_eq!(status, 400, "{r}");
    assert!(
        r["error"].as_str().is_some_and(|e| e.contains("template")),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copying_an_ollama_manifest_keeps_its_bytes_and_digest() {
    let f = fixture();
    // Spacing and a field rollama does not model: a copy is still the same bytes.
    let compact = String::from_utf8(f.manifests[0].1.clone()).expect("utf-8");
    let spaced = compact
        .replace("\",\"", "\", \"")
        .replace("\"layers\":[", "\"layers\": [")
        .replacen('{', "{\"annotations\": {\"org.example\": \"x\"}, ", 1);
    f.store.raw_manifest(
        "registry.ollama.ai/library/spaced/latest",
        spaced.as_bytes(),
    );
    let base = server().spawn_store(f.store.dir.clone()).await;
    let r = post(
        &format!("{base}/api/copy"),
        json!({"source": "spaced", "destination": "someone/spaced:copy"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let copied = std::fs::read(
        f.store
            .dir
            .join("manifests/registry.ollama.ai/someone/spaced/copy"),
    )
    .expect("copy written");
    assert_eq!(copied, spaced.as_bytes());
    let tags = get(format!("{base}/api/tags")).await;
    let digest = |name: &str| {
        tags["models"]
            .as_array()
            .expect("present")
            .iter()
            .find(|m| m["name"] == name)
            .map(|m| m["digest"].clone())
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    let want = json!(common::sha256_hex(spaced.as_bytes()));
    assert_eq!(digest("spaced:latest"), want);
    assert_eq!(digest("someone/spaced:copy"), want);
}
