//! A Hugging Face checkpoint in the store serves like a GGUF: SmolLM2 converted with
//! `rollama convert` into `STORE/smollm2-hf/` next to the GGUF it came from.

mod common;

use common::{model_path, temp_store, TestServer};
use rollama::convert::{convert, ConvertOptions, WeightDtype};
use serde_json::{json, Value};

async fn post_ok(url: String, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_converted_checkpoint_is_listed_shown_and_served() {
    let store = temp_store(&["smollm2"]);
    let options = ConvertOptions {
        dtype: WeightDtype::F16,
        ..ConvertOptions::default()
    };
    convert(&model_path("smollm2"), &store.join("smollm2-hf"), &options).expect("convert");
    let base = TestServer::default().spawn_store(store).await;

    let tags: Value = reqwest::get(format!("{base}/api/tags"))
        .await
        .expect("tags")
        .json()
        .await
        .expect("json");
    let hf = tags["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["name"] == "smollm2-hf:latest")
        .expect("the checkpoint is listed")
        .clone();
    assert_eq!(hf["details"]["format"], "safetensors");
    assert_eq!(hf["details"]["family"], "llama");
    assert_eq!(hf["details"]["quantization_level"], "F16");
    assert_eq!(hf["digest"].as_str().map(str::len), Some(64));

    let show = |m: &str| post_ok(format!("{base}/api/show"), json!({ "model": m }));
    let (hf_show, gguf_show) = (show("smollm2-hf").await, show("smollm2").await);
    assert_eq!(hf_show["capabilities"], json!(["completion"]));
    assert_eq!(hf_show["template"], gguf_show["template"]);
    assert_eq!(
        hf_show["model_info"]["llama.context_length"],
        gguf_show["model_info"]["llama.context_length"]
    );

    // Chat, native and /v1: greedy answers that end on the model's own end-of-turn token.
    let chat = |m: &str| {
        json!({"model": m, "stream": false, "messages": [{"role": "user", "content": "What is 2+2?"}],
            "options": {"temperature": 0, "num_predict": 48}})
    };
    let hf_reply = post_ok(format!("{base}/api/chat"), chat("smollm2-hf")).await;
    let gguf_reply = post_ok(format!("{base}/api/chat"), chat("smollm2")).await;
    assert_eq!(hf_reply["done_reason"], "stop", "{hf_reply}");
    assert_eq!(
        hf_reply["prompt_eval_count"],
        gguf_reply["prompt_eval_count"]
    );
    let text = hf_reply["message"]["content"].as_str().expect("text");
    assert!(text.contains('4'), "{text}");
    let v1 = post_ok(
        format!("{base}/v1/chat/completions"),
        json!({"model": "smollm2-hf", "temperature": 0, "max_tokens": 48,
            "messages": [{"role": "user", "content": "What is 2+2?"}]}),
    )
    .await;
    assert_eq!(v1["choices"][0]["message"]["content"], text);
}
