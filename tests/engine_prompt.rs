//! Chats longer than the window: which messages stay, and how much work finding that is.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use rollama::engine::{ChatPrompt, EngineError, GenerateOptions, PromptModel};
use rollama::model::Checkpoint;
use rollama::text::Tokenizer;
use serde_json::{json, Value};

fn smollm2() -> PromptModel {
    let file = Checkpoint::open(&common::model_path("smollm2")).expect("open gguf");
    let tokenizer = Arc::new(Tokenizer::from_gguf(file.metadata()).expect("tokenizer"));
    PromptModel::new(
        tokenizer,
        file.get_str("tokenizer.chat_template"),
        "llama",
        None,
    )
    .expect("prompt")
}

/// A system prompt, then `turns` user/assistant messages of varied length.
fn chat(turns: usize) -> Vec<Value> {
    let mut messages = vec![json!({"role": "system", "content": "You are terse."})];
    for i in 0..turns {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        let words = "word ".repeat(1 + i % 7);
        messages.push(json!({"role": role, "content": format!("turn {i}: {words}")}));
    }
    messages
}

fn options(num_ctx: usize) -> GenerateOptions {
    GenerateOptions {
        num_ctx,
        ..GenerateOptions::default()
    }
}

fn tokens(model: &PromptModel, messages: &[Value]) -> Vec<u32> {
    let chat = ChatPrompt {
        messages: messages.to_vec(),
        ..ChatPrompt::default()
    };
    let never = AtomicBool::new(false);
    model
        .chat_tokens(&chat, &options(1 << 20), false, &never)
        .expect("fits")
        .tokens
}

/// Ollama's rule, the slow way: drop the oldest non-system message (never the last)
/// until what is left fits.
fn reference(model: &PromptModel, messages: &[Value], num_ctx: usize) -> Vec<u32> {
    let mut kept = messages.to_vec();
    loop {
        let t = tokens(model, &kept);
        if t.len() < num_ctx {
            return t;
        }
        let droppable = kept[..kept.len() - 1]
            .iter()
            .position(|m| m["role"] != "system")
            .expect("something to drop");
        kept.remove(droppable);
    }
}

#[test]
fn truncation_keeps_what_dropping_one_at_a_time_would() {
    let model = smollm2();
    let never = AtomicBool::new(false);
    for (turns, num_ctx) in [(40, 256), (61, 300), (9, 64), (120, 512)] {
        let messages = chat(turns);
        let chat = ChatPrompt {
            messages: messages.clone(),
            ..ChatPrompt::default()
        };
        let fast = model
            .chat_tokens(&chat, &options(num_ctx), true, &never)
            .expect("truncated");
        assert_eq!(
            fast.tokens,
            reference(&model, &messages, num_ctx),
            "{turns} turns in {num_ctx}"
        );
    }
}

#[test]
fn truncating_a_long_chat_renders_only_a_few_times() {
    let model = smollm2();
    let never = AtomicBool::new(false);
    let chat = ChatPrompt {
        messages: chat(10_000),
        ..ChatPrompt::default()
    };
    let prompt = model
        .chat_tokens(&chat, &options(256), true, &never)
        .expect("truncated");
    assert!(prompt.tokens.len() < 256);
    eprintln!(
        "10,000 messages into 256 tokens: {} renders",
        prompt.renders
    );
    // Once whole, then galloping and bisecting over the few dozen messages that fit: the
    // conversation's length does not multiply the work.
    assert!(prompt.renders <= 16, "{} renders", prompt.renders);
    assert!(
        prompt.text.contains("You are terse."),
        "the system prompt stays"
    );
    assert!(prompt.text.contains("turn 9999"), "the last message stays");
    // A request whose client went away stops.
    let gone = AtomicBool::new(true);
    let err = model
        .chat_tokens(&chat, &options(256), true, &gone)
        .err()
        .expect("cancelled");
    assert!(matches!(err, EngineError::Failed(_)), "{err}");
}
