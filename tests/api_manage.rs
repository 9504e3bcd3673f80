//! Create, copy, delete and blob uploads over HTTP, round trip: what rollama writes is in
//! Ollama's layout, and a created model's layers apply to generation.

mod common;

use std::collections::BTreeSet;

use common::{ndjson_reply, post, prompt_tokens, OllamaStore, TestServer};
use serde_json::{json, Value};

const PROMPT: &str = "Tell me a long story about a dragon who lives in a castle.";
const TEMPLATE: &str =
    "{{ if .System }}[GO] {{ .System }}\n{{ end }}Q: {{ .Prompt }}\nA: Once upon a time, there was";

fn server() -> TestServer {
    TestServer {
        prefix_cache_tokens: 0,
        ..TestServer::default()
    }
}

async fn reply(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

async fn post_json(url: String, body: Value) -> (u16, Value) {
    let (status, text) = reply(post(&url, body).await).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn names(base: &str) -> Vec<String> {
    let tags: Value = reqwest::get(format!("{base}/api/tags"))
        .await
        .expect("tags")
        .json()
        .await
        .expect("json");
    let mut names: Vec<String> = tags["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    names
}

fn blob_files(store: &OllamaStore) -> BTreeSet<String> {
    std::fs::read_dir(store.dir.join("blobs"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The manifest rollama wrote for `library/<model>:<tag>`, checked against Ollama's
/// layout: the path, compact JSON with Go's field order, every blob present and hashing
/// to its name. Returns it parsed, with its bytes.
fn check_layout(store: &OllamaStore, model: &str, tag: &str) -> (Value, Vec<u8>) {
    let path = store
        .dir
        .join("manifests/registry.ollama.ai/library")
        .join(model)
        .join(tag);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    assert!(
        text.starts_with(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"sha256:"
        ),
        "{text}"
    );
    assert!(
        !text.contains('\n') && !text.contains(": "),
        "not compact: {text}"
    );
    let manifest: Value = serde_json::from_slice(&bytes).expect("json");
    let keys: Vec<&String> = manifest.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 4, "{text}");
    let mut all = vec![manifest["config"].clone()];
    all.extend(
        manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .cloned(),
    );
    for layer in &all {
        let digest = layer["digest"].as_str().expect("digest");
        let hex = digest.strip_prefix("sha256:").expect("sha256:");
        let blob = store.dir.join("blobs").join(format!("sha256-{hex}"));
        let data = std::fs::read(&blob).unwrap_or_else(|e| panic!("{}: {e}", blob.display()));
        assert_eq!(common::sha256_hex(&data), hex, "{}", blob.display());
        assert_eq!(layer["size"], data.len() as u64);
        assert!(layer["mediaType"]
            .as_str()
            .is_some_and(|m| m.starts_with("application/vnd.")));
    }
    (manifest, bytes)
}

fn layer_blob(store: &OllamaStore, manifest: &Value, media_type: &str) -> Option<Vec<u8>> {
    let layer = manifest["layers"]
        .as_array()?
        .iter()
        .find(|l| l["mediaType"] == media_type)?;
    std::fs::read(store.blob_path(layer["digest"].as_str()?)).ok()
}

fn media_types(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["mediaType"].as_str().expect("type").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_are_uploaded_verified_and_never_half_visible() {
    let store = OllamaStore::new();
    let base = server().spawn_store(store.dir.clone()).await;
    let c = reqwest::Client::new();
    let (hex, size) = common::smollm2_blob();
    let url = format!("{base}/api/blobs/sha256:{hex}");
    assert_eq!(c.head(&url).send().await.expect("present").status(), 404);
    let gguf = std::fs::read(common::model_path("smollm2")).expect("gguf");
    let (status, body) = reply(
        c.post(&url)
            .body(gguf.clone())
            .send()
            .await
            .expect("present"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, "");
    let blob = store.dir.join("blobs").join(format!("sha256-{hex}"));
    assert_eq!(std::fs::metadata(&blob).expect("blob").len(), size);
    assert_eq!(c.head(&url).send().await.expect("present").status(), 200);
    // Present: 200 at once, the body unread (as Ollama's; a large one would be cut off
    // mid-send, so a short one here).
    drop(gguf);
    let (status, _) = reply(c.post(&url).body("unread").send().await.expect("present")).await;
    assert_eq!(status, 200);
    assert_eq!(std::fs::metadata(&blob).expect("blob").len(), size);
    assert_eq!(
        blob_files(&store),
        BTreeSet::from([format!("sha256-{hex}")])
    );

    // Bytes that do not hash to the digest: 400, nothing stored.
    let other = common::sha256_hex(b"the real bytes");
    let url = format!("{base}/api/blobs/sha256:{other}");
    let (status, body) = reply(
        c.post(&url)
            .body("other bytes")
            .send()
            .await
            .expect("present"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("digest"), "{body}");
    // A truncated upload of the right bytes: the same.
    let (status, body) = reply(c.post(&url).body("the real").send().await.expect("present")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(c.head(&url).send().await.expect("present").status(), 404);
    // A body that breaks off midway.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"the real".to_vec()),
        Err(std::io::Error::other("connection lost")),
    ];
    let aborted = c
        .post(&url)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    if let Ok(r) = aborted {
        assert!(r.status().as_u16() >= 400, "{}", r.status());
    }
    assert_eq!(c.head(&url).send().await.expect("present").status(), 404);
    // Only the one good blob; no temporary left behind.
    assert_eq!(
        blob_files(&store),
        BTreeSet::from([format!("sha256-{hex}")])
    );
    // The right bytes then go in.
    let (status, _) = reply(
        c.post(&url)
            .body("the real bytes")
            .send()
            .await
            .expect("present"),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(c.head(&url).send().await.expect("present").status(), 200);
    // A digest that is not one.
    let (status, body) = reply(
        c.head(format!("{base}/api/blobs/sha256:abc"))
            .send()
            .await
            .expect("present"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_from_files_writes_ollamas_layout_and_its_layers_apply() {
    let store = OllamaStore::new();
    let weights = store.weights();
    let base = server().spawn_store(store.dir.clone()).await;
    let r = post(
        &format!("{base}/api/create"),
        json!({
            "model": "made",
            "files": {"smollm2.gguf": weights.digest},
            "system": "You are made.",
            "parameters": {"num_predict": 3, "temperature": 0, "stop": ["<|im_end|>"]},
            "template": TEMPLATE,
        }),
    )
    .await;
    let lines = ndjson_reply(r).await;
    assert_eq!(
        lines.last(),
        Some(&json!({"status": "success"})),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| l["status"].is_string()), "{lines:?}");
    assert!(lines.iter().all(|l| l.get("error").is_none()), "{lines:?}");

    let (manifest, bytes) = check_layout(&store, "made", "latest");
    assert_eq!(
        media_types(&manifest),
        [
            "application/vnd.ollama.image.model",
            "application/vnd.ollama.image.template",
            "application/vnd.ollama.image.system",
            "application/vnd.ollama.image.params",
        ]
    );
    assert_eq!(manifest["layers"][0]["digest"], weights.digest);
    assert_eq!(manifest["layers"][0]["size"], weights.size);
    assert_eq!(
        layer_blob(&store, &manifest, "application/vnd.ollama.image.template").expect("present"),
        TEMPLATE.as_bytes()
    );
    assert_eq!(
        layer_blob(&store, &manifest, "application/vnd.ollama.image.system").expect("present"),
        b"You are made."
    );
    let params: Value = serde_json::from_slice(
        &layer_blob(&store, &manifest, "application/vnd.ollama.image.params").expect("present"),
    )
    .expect("present");
    assert_eq!(
        params,
        json!({"num_predict": 3, "temperature": 0, "stop": ["<|im_end|>"]})
    );
    let config: Value = serde_json::from_slice(
        &std::fs::read(store.blob_path(manifest["config"]["digest"].as_str().expect("present")))
            .expect("present"),
    )
    .expect("present");
    assert_eq!(config["model_format"], "gguf");
    assert_eq!(config["model_family"], "llama");
    assert_eq!(config["model_families"], json!(["llama"]));
    assert_eq!(config["file_type"], "Q4_1");

    // Listed with the manifest's digest.
    let tags: Value = reqwest::get(format!("{base}/api/tags"))
        .await
        .expect("present")
        .json()
        .await
        .expect("present");
    assert_eq!(tags["models"].as_array().expect("present").len(), 1);
    assert_eq!(tags["models"][0]["name"], "made:latest");
    assert_eq!(tags["models"][0]["digest"], common::sha256_hex(&bytes));

    // The layers apply: the Go template with the system, the parameters' num_predict.
    let (status, r) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "made", "prompt": PROMPT, "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let expected = prompt_tokens(&format!(
        "[GO] You are made.\nQ: {PROMPT}\nA: Once upon a time, there was"
    ));
    let ctx: Vec<u64> = r["context"]
        .as_array()
        .expect("context")
        .iter()
        .map(|t| t.as_u64().expect("present"))
        .collect();
    assert_eq!(&ctx[..expected.len()], &expected[..]);
    assert_eq!(r["eval_count"], 3, "{r}");
    assert_eq!(ctx.len(), expected.len() + 3);

    // `from` the created model, with a new system: the rest inherited.
    let (status, r) = post_json(
        format!("{base}/api/create"),
        json!({"model": "remade:v2", "from": "made", "system": "You are remade.", "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r, json!({"status": "success"}));
    let (derived, _) = check_layout(&store, "remade", "v2");
    let digest_of = |m: &Value, t: &str| {
        m["layers"]
            .as_array()
            .expect("present")
            .iter()
            .find(|l| l["mediaType"] == t)
            .map(|l| l["digest"].clone())
    };
    for t in [
        "application/vnd.ollama.image.model",
        "application/vnd.ollama.image.template",
        "application/vnd.ollama.image.params",
    ] {
        assert_eq!(digest_of(&derived, t), digest_of(&manifest, t), "{t}");
    }
    assert_eq!(
        layer_blob(&store, &derived, "application/vnd.ollama.image.system").expect("present"),
        b"You are remade."
    );
    assert_eq!(
        media_types(&derived)
            .iter()
            .filter(|t| t.ends_with(".system"))
            .count(),
        1
    );
    let (status, r) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "remade:v2", "prompt": PROMPT, "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let expected = prompt_tokens(&format!(
        "[GO] You are remade.\nQ: {PROMPT}\nA: Once upon a time, there was"
    ));
    let ctx: Vec<u64> = r["context"]
        .as_array()
        .expect("present")
        .iter()
        .map(|t| t.as_u64().expect("present"))
        .collect();
    assert_eq!(&ctx[..expected.len()], &expected[..]);
    assert_eq!(r["eval_count"], 3, "{r}");
    let (status, shown) =
        post_json(format!("{base}/api/show"), json!({"model": "remade:v2"})).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["system"], "You are remade.");
    assert_eq!(shown["template"], TEMPLATE);
    assert_eq!(shown["details"]["parent_model"], "made:latest");
    assert_eq!(names(&base).await, ["made:latest", "remade:v2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_refuses_what_it_cannot_do() {
    let store = OllamaStore::new();
    let weights = store.weights();
    let base = server().spawn_store(store.dir.clone()).await;
    let url = format!("{base}/api/create");
    let (status, r) = post_json(url.clone(), json!({"model": "x"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        r,
        json!({"error": "neither 'from' or 'files' was specified"})
    );
    let (status, r) = post_json(url.clone(), json!({"model": "../x", "from": "y"})).await;
    assert_eq!(status, 400, "{r}");
    let (status, r) = post_json(
        url.clone(),
        json!({"model": "x", "from": "nope", "stream": false}),
    )
    .await;
    assert_eq!(status, 404, "{r}");
    assert_eq!(r, json!({"error": "model 'nope' not found"}));
    // Streamed (as Ollama, the base is looked up once the stream runs): an error line.
    let lines = ndjson_reply(post(&url, json!({"model": "x", "from": "nope"})).await).await;
    assert_eq!(
        lines.last(),
        Some(&json!({"error": "model 'nope' not found"})),
        "{lines:?}"
    );
    let (status, r) = post_json(
        url.clone(),
        json!({"model": "x", "files": {"m.gguf": weights.digest}, "quantize": "q4_K_M"}),
    )
    .await;
    assert_eq!(status, 400, "{r}");
    assert!(
        r["error"].as_str().is_some_and(|e| e.contains("quantiz")),
        "{r}"
    );
    let missing = format!("sha256:{}", "e".repeat(64));
    let (status, r) = post_json(
        url.clone(),
        json!({"model": "x", "files": {"m.gguf": missing}, "stream": false}),
    )
    .await;
    assert_eq!(status, 400, "{r}");
    // A template that does not parse (found by the fuzz campaign: stored, it failed every
    // later load of the model with a 500) is refused, as Ollama refuses it.
    let (status, r) = post_json(
        url.clone(),
        json!({"model": "x", "files": {"m.gguf": weights.digest}, "stream": false,
            "template": "{{ .Prompt }}{{ 'x }}"}),
    )
    .await;
    assert_eq!(status, 400, "{r}");
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("template error: ")),
        "{r}"
    );
    assert!(names(&base).await.is_empty());
    assert!(!store.dir.join("manifests").exists() || blob_files(&store).len() == 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_and_delete_round_trip() {
    let store = OllamaStore::new();
    let weights = store.weights();
    let base = server().spawn_store(store.dir.clone()).await;
    let (status, r) = post_json(
        format!("{base}/api/create"),
        json!({"model": "orig", "files": {"m.gguf": weights.digest}, "system": "Orig.", "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let (_, orig_bytes) = check_layout(&store, "orig", "latest");

    let (status, body) = reply(
        post(
            &format!("{base}/api/copy"),
            json!({"source": "orig", "destination": "copied:t1"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (_, copy_bytes) = check_layout(&store, "copied", "t1");
    assert_eq!(copy_bytes, orig_bytes);
    assert_eq!(names(&base).await, ["copied:t1", "orig:latest"]);

    // A name differing from a stored one only in case is refused (Ollama's
    // `checkNameExists`); the same name is replaced.
    let (status, r) = post_json(
        format!("{base}/api/copy"),
        json!({"source": "orig", "destination": "Copied:T1"}),
    )
    .await;
    assert_eq!(status, 400, "{r}");
    assert_eq!(r, json!({"error": "a model with that name already exists"}));
    let (status, r) = post_json(
        format!("{base}/api/create"),
        json!({"model": "ORIG", "from": "orig", "system": "x", "stream": false}),
    )
    .await;
    assert_eq!(status, 400, "{r}");
    assert_eq!(r, json!({"error": "a model with that name already exists"}));
    let (status, body) = reply(
        post(
            &format!("{base}/api/copy"),
            json!({"source": "orig", "destination": "copied:t1"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(names(&base).await, ["copied:t1", "orig:latest"]);
    let (status, r) = post_json(
        format!("{base}/api/copy"),
        json!({"source": "missing", "destination": "y"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(r, json!({"error": "model \"missing\" not found"}));
    let (status, r) = post_json(
        format!("{base}/api/copy"),
        json!({"source": "orig", "destination": "../y"}),
    )
    .await;
    assert_eq!(status, 400, "{r}");

    let delete = |name: &str| {
        let url = format!("{base}/api/delete");
        let body = json!({"model": name});
        async move {
            reply(
                reqwest::Client::new()
                    .delete(url)
                    .json(&body)
                    .send()
                    .await
                    .expect("present"),
            )
            .await
        }
    };
    let (status, body) = delete("nothere").await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("present"),
        json!({"error": "model 'nothere' not found"})
    );

    let before = blob_files(&store);
    assert_eq!(before.len(), 3, "{before:?}"); // weights, system, config
                                               // The copy goes; its blobs are the original's too, so they stay.
    let (status, body) = delete("copied:t1").await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(blob_files(&store), before);
    assert!(!store
        .dir
        .join("manifests/registry.ollama.ai/library/copied")
        .exists());
    assert_eq!(names(&base).await, ["orig:latest"]);

    // A derived model shares the weights: deleting the original keeps them, drops the
    // original's own system layer.
    let (status, r) = post_json(
        format!("{base}/api/create"),
        json!({"model": "child", "from": "orig", "system": "Child.", "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let orig_system = format!("sha256-{}", common::sha256_hex(b"Orig."));
    let child_system = format!("sha256-{}", common::sha256_hex(b"Child."));
    assert!(blob_files(&store).contains(&orig_system));
    let (status, body) = delete("ORIG").await;
    assert_eq!((status, body.as_str()), (200, ""));
    let left = blob_files(&store);
    assert!(!left.contains(&orig_system), "{left:?}");
    assert!(left.contains(&child_system), "{left:?}");
    assert!(left.contains(&weights.digest.replace(':', "-")), "{left:?}");
    assert_eq!(names(&base).await, ["child:latest"]);
    let (status, body) = delete("child").await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(blob_files(&store).is_empty(), "{:?}", blob_files(&store));
    assert!(names(&base).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn created_messages_and_licenses_are_layers_shown_and_seeded() {
    let store = OllamaStore::new();
    let weights = store.weights();
    let base = server().spawn_store(store.dir.clone()).await;
    let seeded =
        json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]);
    let (status, r) = post_json(
        format!("{base}/api/create"),
        json!({
            "model": "seeded",
            "files": {"m.gguf": weights.digest},
            "template": TEMPLATE,
            "system": "Sys.",
            "messages": seeded,
            "license": ["L1", "L2"],
            "parameters": {"num_predict": 2, "temperature": 0},
            "stream": false,
        }),
    )
    .await;
    assert_eq!((status, r), (200, json!({"status": "success"})));
    let (manifest, _) = check_layout(&store, "seeded", "latest");
    let types = media_types(&manifest);
    assert_eq!(
        types.iter().filter(|t| t.ends_with(".license")).count(),
        2,
        "{types:?}"
    );
    let messages: Value = serde_json::from_slice(
        &layer_blob(&store, &manifest, "application/vnd.ollama.image.messages").expect("layer"),
    )
    .expect("json");
    assert_eq!(messages, seeded);
    let (status, shown) = post_json(format!("{base}/api/show"), json!({"model": "seeded"})).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["messages"], seeded);
    assert_eq!(shown["license"], "L1\nL2");
    // A legacy template renders the seeded turn, then the prompt (Ollama's `.Prompt`
    // turn-by-turn rendering; the system only in the first turn). A template naming no
    // `.Response` gets one appended at parse, as Ollama's, so the seeded reply shows.
    let (status, r) = post_json(
        format!("{base}/api/generate"),
        json!({"model": "seeded", "prompt": PROMPT, "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let expected = prompt_tokens(&format!(
        "[GO] Sys.\nQ: Hi\nA: Once upon a time, there wasHello!Q: {PROMPT}\nA: Once upon a time, there was"
    ));
    let ctx: Vec<u64> = r["context"]
        .as_array()
        .expect("context")
        .iter()
        .map(|t| t.as_u64().expect("token"))
        .collect();
    assert_eq!(&ctx[..expected.len()], &expected[..]);
    assert_eq!(ctx.len(), expected.len() + 2, "{r}");
}
