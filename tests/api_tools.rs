//! Tools and thinking over HTTP, on SmolLM2 given real templates that declare them: Qwen
//! 2.5's (Hermes `<tool_call>` syntax) and Qwen 3's with the `<think>` tag opened by the
//! prompt. (The official Python clients: `python_client.rs`.)
//!
//! SmolLM2-135M does not call tools from instructions alone; after three turns that did,
//! it calls `get_weather` itself at temperature 0, which is what the "model calls" tests
//! use. `tool_choice` makes it call from a plain question.

mod common;

use common::{ndjson_reply, post, temp_store, templated_model, TestServer};
use serde_json::{json, Value};

async fn server() -> String {
    let store = temp_store(&["smollm2"]);
    templated_model("smollm2", "qwen2.5.jinja", &store, "smollm2-tools");
    templated_model("smollm2", "qwen3-open-think.jinja", &store, "smollm2-think");
    TestServer::default().spawn_store(store).await
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {"type": "object", "required": ["city"],
            "properties": {"city": {"type": "string", "description": "The city"},
                           "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}},
        {"type": "function", "function": {"name": "get_time",
        "description": "Get the local time in a city",
        "parameters": {"type": "object", "required": ["city"],
            "properties": {"city": {"type": "string"}}}}}])
}

/// Three questions answered by calls, then `question` (Ollama's message shapes).
fn few_shot(question: &str) -> Value {
    let call = |city: &str| {
        json!({"role": "assistant", "content": "", "tool_calls":
            [{"function": {"name": "get_weather", "arguments": {"city": city}}}]})
    };
    json!([
        {"role": "user", "content": "Weather in Paris?"}, call("Paris"),
        {"role": "user", "content": "Weather in Rome?"}, call("Rome"),
        {"role": "user", "content": "Weather in Oslo?"}, call("Oslo"),
        {"role": "user", "content": question},
    ])
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

fn is_call_id(id: &Value) -> bool {
    id.as_str().is_some_and(|id| {
        id.len() == 13
            && id.starts_with("call_")
            && id[5..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn capabilities_come_from_the_template() {
    let base = server().await;
    for (model, caps) in [
        ("smollm2", json!(["completion"])),
        ("smollm2-tools", json!(["completion", "tools"])),
        ("smollm2-think", json!(["completion", "tools", "thinking"])),
    ] {
        let (s, show) =
            json_of(post(&format!("{base}/api/show"), json!({"model": model})).await).await;
        assert_eq!(s, 200);
        assert_eq!(show["capabilities"], caps, "{model}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn native_chat_parses_the_models_own_call_and_takes_the_result_back() {
    let base = server().await;
    let url = format!("{base}/api/chat");
    let ask = |stream: bool, messages: Value| {
        json!({"model": "smollm2-tools", "messages": messages, "tools": tools(),
            "stream": stream, "options": {"temperature": 0, "num_predict": 60}})
    };
    let (s, whole) = json_of(post(&url, ask(false, few_shot("Weather in Tokyo?"))).await).await;
    assert_eq!(s, 200, "{whole}");
    let message = &whole["message"];
    assert_eq!(message["content"], "", "{whole}");
    assert_eq!(whole["done_reason"], "stop");
    let call = &message["tool_calls"][0];
    assert!(is_call_id(&call["id"]), "{call}");
    assert_eq!(call["function"]["index"], 0);
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], json!({"city": "Tokyo"}));

    // Streamed: the call arrives whole in one line; the rest agrees with the whole reply.
    let lines = ndjson_reply(post(&url, ask(true, few_shot("Weather in Tokyo?"))).await).await;
    let with_calls: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"].get("tool_calls").is_some())
        .collect();
    assert_eq!(with_calls.len(), 1, "{lines:?}");
    let streamed = &with_calls[0]["message"]["tool_calls"][0]["function"];
    assert_eq!(streamed, &call["function"]);
    let content: String = lines
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    assert_eq!(content, "");
    assert!(lines.iter().all(|l| l["message"]["role"] == "assistant"));

    // The call and its result go back in; the model answers in text.
    let mut history = few_shot("Weather in Tokyo?");
    let turn = history.as_array_mut().expect("array");
    turn.push(message.clone());
    turn.push(json!({"role": "tool", "content": "21 C and clear", "tool_name": "get_weather"}));
    let (s, answer) = json_of(post(&url, ask(false, history)).await).await;
    assert_eq!(s, 200, "{answer}");
    assert!(answer["message"].get("tool_calls").is_none(), "{answer}");
    assert!(!answer["message"]["content"]
        .as_str()
        .expect("content")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn v1_calls_have_string_arguments_and_finish_with_tool_calls() {
    let base = server().await;
    let url = format!("{base}/v1/chat/completions");
    // OpenAI's history shapes: ids, string arguments, `tool` results by id.
    let mut messages = vec![];
    for (i, city) in ["Paris", "Rome", "Oslo"].iter().enumerate() {
        let id = format!("call_{i}");
        messages.push(json!({"role": "user", "content": format!("Weather in {city}?")}));
        messages.push(
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": id,
            "type": "function", "function": {"name": "get_weather",
            "arguments": format!("{{\"city\": \"{city}\"}}")}}]}),
        );
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": "20 C"}));
    }
    messages.push(json!({"role": "user", "content": "Weather in Tokyo?"}));
    let ask = |stream: bool| {
        json!({"model": "smollm2-tools", "messages": messages, "tools": tools(),
            "temperature": 0, "max_tokens": 60, "stream": stream})
    };
    let (s, whole) = json_of(post(&url, ask(false)).await).await;
    assert_eq!(s, 200, "{whole}");
    let choice = &whole["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{whole}");
    let call = &choice["message"]["tool_calls"][0];
    assert!(is_call_id(&call["id"]), "{call}");
    assert_eq!(call["type"], "function");
    assert_eq!(call["index"], 0);
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().expect("string"))
        .expect("arguments are a JSON string");
    assert_eq!(args, json!({"city": "Tokyo"}));

    let sse = post(&url, ask(true)).await.text().await.expect("body");
    let chunks: Vec<Value> = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("chunk"))
        .collect();
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(deltas.len(), 1, "{sse}");
    assert_eq!(deltas[0][0]["function"], call["function"]);
    let last = chunks.last().expect("finish chunk");
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_choice_forces_a_valid_call_with_a_grammar() {
    let base = server().await;
    let url = format!("{base}/v1/chat/completions");
    let ask = |choice: Value, seed: u64| {
        json!({"model": "smollm2-tools", "tools": tools(), "tool_choice": choice,
            "messages": [{"role": "user", "content": "I am going to Lisbon tomorrow."}],
            "seed": seed, "max_tokens": 120})
    };
    let schemas: Vec<(String, Value)> = tools()
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| {
            let f = &t["function"];
            (
                f["name"].as_str().expect("name").to_string(),
                f["parameters"].clone(),
            )
        })
        .collect();
    for (choice, only) in [
        (json!("required"), None),
        (
            json!({"type": "function", "function": {"name": "get_time"}}),
            Some("get_time"),
        ),
    ] {
        for seed in 0..4 {
            let (s, reply) = json_of(post(&url, ask(choice.clone(), seed)).await).await;
            assert_eq!(s, 200, "{reply}");
            let choice0 = &reply["choices"][0];
            assert_eq!(choice0["finish_reason"], "tool_calls", "{reply}");
            for call in choice0["message"]["tool_calls"].as_array().expect("calls") {
                let name = call["function"]["name"].as_str().expect("name");
                if let Some(only) = only {
                    assert_eq!(name, only);
                }
                let (_, schema) = schemas
                    .iter()
                    .find(|(n, _)| n == name)
                    .expect("a known tool");
                let args: Value =
                    serde_json::from_str(call["function"]["arguments"].as_str().expect("str"))
                        .expect("JSON arguments");
                assert!(jsonschema::is_valid(schema, &args), "{name}: {args}");
            }
        }
    }
    // `none`: tools are not offered; plain text comes back.
    let (s, reply) = json_of(post(&url, ask(json!("none"), 1)).await).await;
    assert_eq!(s, 200);
    assert!(reply["choices"][0]["message"].get("tool_calls").is_none());
    // A named function that is not among the tools, and a malformed choice.
    for bad in [
        json!({"type": "function", "function": {"name": "nope"}}),
        json!(42),
    ] {
        let (s, reply) = json_of(post(&url, ask(bad, 1)).await).await;
        assert_eq!(s, 400, "{reply}");
        assert_eq!(reply["error"]["type"], "invalid_request_error");
    }
    // Tools on a model whose template has none.
    let mut plain = ask(json!("auto"), 1);
    plain["model"] = json!("smollm2");
    let (s, reply) = json_of(post(&url, plain).await).await;
    assert_eq!(s, 400);
    assert!(reply["error"]["message"]
        .as_str()
        .expect("message")
        .ends_with("does not support tools"));
}

#[tokio::test(flavor = "multi_thread")]
async fn thinking_goes_to_its_own_field() {
    let base = server().await;
    let chat = format!("{base}/api/chat");
    let ask = |think: Value, stream: bool| {
        json!({"model": "smollm2-think", "think": think, "stream": stream,
            "messages": [{"role": "user", "content": "What is 2+3?"}],
            "options": {"temperature": 0, "num_predict": 40}})
    };
    // Not said: on (the model thinks). Its reasoning is in `thinking`, never in `content`.
    for think in [Value::Null, json!(true), json!("high")] {
        let (s, reply) = json_of(post(&chat, ask(think.clone(), false)).await).await;
        assert_eq!(s, 200, "{reply}");
        let thinking = reply["message"]["thinking"].as_str().unwrap_or_default();
        assert!(!thinking.is_empty(), "{think}: {reply}");
        assert!(!thinking.contains("<think>") && !thinking.contains("</think>"));
        let lines = ndjson_reply(post(&chat, ask(think, true)).await).await;
        let streamed: String = lines
            .iter()
            .filter_map(|l| l["message"]["thinking"].as_str())
            .collect();
        assert_eq!(streamed, thinking);
        let content: String = lines
            .iter()
            .filter_map(|l| l["message"]["content"].as_str())
            .collect();
        assert_eq!(
            content,
            reply["message"]["content"].as_str().expect("content")
        );
    }
    // Logprobs travel with the tokens' own piece, reasoning included.
    let mut req = ask(Value::Null, true);
    req["logprobs"] = json!(true);
    let lines = ndjson_reply(post(&chat, req).await).await;
    let last = lines.last().expect("final line");
    let counted: usize = lines
        .iter()
        .filter_map(|l| l["logprobs"].as_array())
        .map(Vec::len)
        .sum();
    assert_eq!(
        counted as u64,
        last["eval_count"].as_u64().expect("eval_count")
    );
    assert!(lines
        .iter()
        .filter(|l| l["message"].get("thinking").is_some())
        .all(|l| l["logprobs"].as_array().is_some_and(|a| !a.is_empty())));

    // Off: the template closes the reasoning; everything is content.
    let (_, off) = json_of(post(&chat, ask(json!(false), false)).await).await;
    assert!(off["message"].get("thinking").is_none(), "{off}");
    assert!(!off["message"]["content"]
        .as_str()
        .expect("content")
        .is_empty());

    // /api/generate and /v1 (Ollama's `reasoning`, and `reasoning_content`).
    let (_, gen) = json_of(
        post(
            &format!("{base}/api/generate"),
            json!({"model": "smollm2-think",
            "prompt": "What is 2+3?", "stream": false,
            "options": {"temperature": 0, "num_predict": 40}}),
        )
        .await,
    )
    .await;
    assert!(
        !gen["thinking"].as_str().unwrap_or_default().is_empty(),
        "{gen}"
    );
    let (_, v1) = json_of(
        post(
            &format!("{base}/v1/chat/completions"),
            json!({"model": "smollm2-think",
            "messages": [{"role": "user", "content": "What is 2+3?"}],
            "reasoning_effort": "low", "temperature": 0, "max_tokens": 40}),
        )
        .await,
    )
    .await;
    let msg = &v1["choices"][0]["message"];
    assert!(
        !msg["reasoning_content"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{v1}"
    );
    assert_eq!(msg["reasoning"], msg["reasoning_content"]);

    // Refusals: a model that does not think, a bad level.
    for (body, needle) in [
        (
            json!({"model": "smollm2", "think": true}),
            "does not support thinking",
        ),
        (
            json!({"model": "smollm2-think", "think": "lots"}),
            "invalid think value",
        ),
    ] {
        let mut req = ask(Value::Null, false);
        for (k, v) in body.as_object().expect("object") {
            req[k] = v.clone();
        }
        let (s, reply) = json_of(post(&chat, req).await).await;
        assert_eq!(s, 400, "{reply}");
        assert!(
            reply["error"].as_str().expect("error").contains(needle),
            "{reply}"
        );
    }
    // With a format, as Ollama: the reasoning is free, the answer follows the grammar. The
    // model ends its reasoning without closing it; the close tag is written for it and the
    // answer, still owed, comes under the grammar.
    let schema = json!({"type": "object", "properties": {"answer": {"type": "integer"}},
        "required": ["answer"]});
    for think in [Value::Null, json!(true)] {
        let mut req = ask(think, false);
        req["format"] = schema.clone();
        req["options"]["num_predict"] = json!(120);
        let (s, reply) = json_of(post(&chat, req.clone()).await).await;
        assert_eq!(s, 200, "{reply}");
        assert!(
            !reply["message"]["thinking"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{reply}"
        );
        let content = reply["message"]["content"].as_str().expect("content");
        let value: Value = serde_json::from_str(content).expect("JSON answer");
        assert!(jsonschema::is_valid(&schema, &value), "{content}");
        req["stream"] = json!(true);
        let lines = ndjson_reply(post(&chat, req).await).await;
        let streamed: String = lines
            .iter()
            .filter_map(|l| l["message"]["content"].as_str())
            .collect();
        assert_eq!(streamed, content);
    }
}
