//! Structured outputs (`format` / `response_format`): what SmolLM2 writes under a grammar
//! is valid by construction. Every sample is checked by a real JSON-schema validator (the
//! `jsonschema` crate), never by our own grammar code.

mod common;

use common::{ndjson_reply, post, TestServer};
use futures::future::join_all;
use serde_json::{json, Value};

/// Seeded samples per schema, at temperature 1.
const SAMPLES: u64 = 20;

fn schemas() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "required and optional fields",
            "Invent a person. Reply in JSON.",
            json!({"type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 24},
                    "age": {"type": "integer", "minimum": 0, "maximum": 120},
                    "email": {"type": "string", "maxLength": 40}},
                "required": ["name", "age"]}),
        ),
        (
            "nested objects and arrays",
            "Write a shop order as JSON.",
            json!({"type": "object",
                "properties": {
                    "customer": {"type": "object",
                        "properties": {
                            "name": {"type": "string", "maxLength": 20},
                            "vip": {"type": "boolean"}},
                        "required": ["name", "vip"]},
                    "items": {"type": "array", "minItems": 1, "maxItems": 3,
                        "items": {"type": "object",
                            "properties": {
                                "sku": {"type": "string", "maxLength": 12},
                                "qty": {"type": "integer", "minimum": 1, "maximum": 10}},
                            "required": ["sku", "qty"]}}},
                "required": ["customer", "items"]}),
        ),
        (
            "enums and bounded numbers",
            "Give today's weather report as JSON.",
            json!({"type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 20},
                    "condition": {"enum": ["sunny", "cloudy", "rain", "snow"]},
                    "temperature_c": {"type": "number", "minimum": -50, "maximum": 50},
                    "wind_kmh": {"type": "number", "exclusiveMinimum": 0, "maximum": 200}},
                "required": ["city", "condition", "temperature_c"]}),
        ),
        (
            "a top-level array of enums",
            "Which colors do you like? Answer with a JSON list.",
            json!({"type": "array", "minItems": 1, "maxItems": 4,
                "items": {"type": "string", "enum": ["red", "green", "blue", "yellow"]}}),
        ),
        (
            "nullable, const, pattern and $defs",
            "Plan an event. Reply in JSON.",
            json!({"type": "object",
                "$defs": {"day": {"type": "string", "pattern": "^2026-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9])$"}},
                "properties": {
                    "title": {"type": "string", "maxLength": 30},
                    "version": {"const": 1},
                    "date": {"$ref": "#/$defs/day"},
                    "attendees": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 500},
                                            {"type": "null"}]},
                    "online": {"type": "boolean"}},
                "required": ["title", "version", "date", "attendees"]}),
        ),
    ]
}

fn chat_body(prompt: &str, format: Value, seed: u64, stream: bool) -> Value {
    json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": prompt}],
        "format": format,
        "stream": stream,
        "options": {"temperature": 1.0, "seed": seed, "num_predict": 400},
    })
}

/// Content and `done_reason` of a non-streamed `/api/chat`.
async fn chat(base: &str, body: Value) -> (String, String) {
    let r = post(&format!("{base}/api/chat"), body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    let content = v["message"]["content"]
        .as_str()
        .expect("content")
        .to_string();
    let reason = v["done_reason"].as_str().expect("done_reason").to_string();
    (content, reason)
}

/// The concatenated content of a streamed `/api/chat`.
async fn chat_streamed(base: &str, body: Value) -> String {
    let lines = ndjson_reply(post(&format!("{base}/api/chat"), body).await).await;
    let mut content = String::new();
    for v in lines {
        assert!(v.get("error").is_none(), "{v}");
        content.push_str(v["message"]["content"].as_str().expect("content"));
    }
    content
}

#[tokio::test(flavor = "multi_thread")]
async fn every_seeded_sample_validates_against_its_schema() {
    let base = TestServer {
        max_running: 8,
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    for (what, prompt, schema) in schemas() {
        let validator = jsonschema::validator_for(&schema).expect("the test schema is valid");
        let replies = join_all(
            (0..SAMPLES).map(|seed| chat(&base, chat_body(prompt, schema.clone(), seed, false))),
        )
        .await;
        for (seed, (content, reason)) in replies.into_iter().enumerate() {
            assert_eq!(reason, "stop", "{what}, seed {seed}: {content}");
            let value: Value = serde_json::from_str(&content)
                .unwrap_or_else(|e| panic!("{what}, seed {seed}: {e}: {content}"));
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{what}, seed {seed}: {errors:?}: {content}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn format_json_always_parses_as_an_object() {
    let base = TestServer {
        max_running: 8,
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let prompts = [
        "List three fruits.",
        "Hello!",
        "What is 2+2?",
        "Tell me a story about a dragon.",
    ];
    let replies = join_all((0..SAMPLES).map(|seed| {
        let prompt = prompts[seed as usize % prompts.len()];
        let generate = json!({"model": "smollm2", "prompt": prompt, "format": "json",
            "stream": false, "options": {"temperature": 1.0, "seed": seed, "num_predict": 400}});
        let base = base.clone();
        async move {
            let r = post(&format!("{base}/api/generate"), generate).await;
            let v: Value = r.json().await.expect("json");
            (v["response"].as_str().expect("response").to_string(), v)
        }
    }))
    .await;
    for (seed, (text, reply)) in replies.into_iter().enumerate() {
        // A model that loops is cut by num_predict ("length"); the reply is closed and
        // still parses.
        assert!(["stop", "length"].contains(&reply["done_reason"].as_str().unwrap_or("")));
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}: {text:?}"));
        assert!(value.is_object(), "seed {seed}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_and_not_streaming_agree() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    for (what, prompt, schema) in schemas().into_iter().take(3) {
        for seed in [1, 2] {
            let (whole, _) = chat(&base, chat_body(prompt, schema.clone(), seed, false)).await;
            let streamed =
                chat_streamed(&base, chat_body(prompt, schema.clone(), seed, true)).await;
            assert_eq!(streamed, whole, "{what}, seed {seed}");
        }
    }
    // `/v1` json_schema and json_object, streamed and not.
    let (_, prompt, schema) = &schemas()[0];
    for format in [
        json!({"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}),
        json!({"type": "json_object"}),
    ] {
        let body = |stream: bool| {
            json!({"model": "smollm2", "messages": [{"role": "user", "content": prompt}],
                "response_format": format, "seed": 5, "stream": stream, "max_tokens": 300})
        };
        let url = format!("{base}/v1/chat/completions");
        let whole: Value = post(&url, body(false)).await.json().await.expect("json");
        let content = whole["choices"][0]["message"]["content"]
            .as_str()
            .expect("content");
        let value: Value = serde_json::from_str(content).expect("valid JSON");
        if format["type"] == "json_schema" {
            assert!(jsonschema::is_valid(schema, &value), "{content}");
        }
        let sse = post(&url, body(true)).await.text().await.expect("body");
        let streamed: String = sse
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        assert_eq!(streamed, content);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_mixing_constrained_and_free_sequences_matches_each_alone() {
    let base = TestServer {
        max_running: 4,
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let (_, prompt, schema) = &schemas()[1];
    let free = |seed: u64| {
        let mut body = chat_body(
            "Write a short poem about the sea.",
            Value::Null,
            seed,
            false,
        );
        body["options"]["num_predict"] = json!(60);
        body
    };
    let bodies = vec![
        chat_body(prompt, schema.clone(), 11, false),
        free(12),
        chat_body("Describe a cat in JSON.", json!("json"), 13, false),
        free(14),
    ];
    let mut alone = vec![];
    for body in &bodies {
        alone.push(chat(&base, body.clone()).await);
    }
    let together = join_all(bodies.iter().map(|b| chat(&base, b.clone()))).await;
    assert_eq!(together, alone);
    assert!(serde_json::from_str::<Value>(&alone[0].0).is_ok());
    assert!(serde_json::from_str::<Value>(&alone[1].0).is_err());
}

/// The shortest reply a format allows, in tokens, as the 400 for a budget too small for it
/// says.
async fn shortest(base: &str, prompt: &str, format: &Value) -> usize {
    let mut body = chat_body(prompt, format.clone(), 0, false);
    body["options"]["num_predict"] = json!(1);
    let r = post(&format!("{base}/api/chat"), body).await;
    if r.status() == 200 {
        return 1;
    }
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    let message = v["error"].as_str().expect("error").to_string();
    let n = message
        .rsplit("takes ")
        .next()
        .and_then(|t| t.split(' ').next())
        .and_then(|t| t.parse().ok());
    n.unwrap_or_else(|| panic!("no count in {message:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_cut_by_their_budget_still_validate() {
    let base = TestServer {
        max_running: 8,
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let (mut steered, mut all) = (0, 0);
    let mut formats: Vec<(&str, &str, Value)> = schemas();
    formats.push(("format json", "Describe a cat in JSON.", json!("json")));
    for (what, prompt, schema) in formats {
        let need = shortest(&base, prompt, &schema).await;
        // A few tokens more than the shortest reply: the model writes freely, then has to
        // close what it opened.
        let budget = need + 6;
        let replies = join_all((0..SAMPLES).map(|seed| {
            let mut body = chat_body(prompt, schema.clone(), seed, false);
            body["options"]["num_predict"] = json!(budget);
            let base = base.clone();
            async move {
                let r = post(&format!("{base}/api/chat"), body).await;
                assert_eq!(r.status(), 200);
                r.json::<Value>().await.expect("json")
            }
        }))
        .await;
        let validator = (schema != json!("json"))
            .then(|| jsonschema::validator_for(&schema).expect("the test schema is valid"));
        let mut cut = 0;
        for (seed, v) in replies.iter().enumerate() {
            let content = v["message"]["content"].as_str().expect("content");
            let value: Value = serde_json::from_str(content)
                .unwrap_or_else(|e| panic!("{what}, seed {seed}: {e}: {content}"));
            match &validator {
                Some(validator) => {
                    assert!(validator.is_valid(&value), "{what}, seed {seed}: {content}")
                }
                None => assert!(value.is_object(), "{what}, seed {seed}: {content}"),
            }
            assert!(v["eval_count"].as_u64().expect("count") <= budget as u64);
            if v["done_reason"] == "length" {
                cut += 1;
            }
        }
        eprintln!(
            "{what}: shortest {need} tokens, budget {budget}: {cut}/{SAMPLES} steered to a close"
        );
        // The budget bites: most replies would have been cut.
        assert!(
            cut * 2 > SAMPLES,
            "{what}: only {cut} of {SAMPLES} needed the budget"
        );
        (steered, all) = (steered + cut, all + SAMPLES);
    }
    eprintln!("steered: {steered}/{all}");
}
