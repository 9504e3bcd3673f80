//! From a request's text to the token ids the engine runs: chat templates, raw prompts,
//! `context` continuation, and truncation of prompts longer than the window.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::renderer::{go_chat, go_insert, Renderer};
use super::{EngineError, GenerateOptions};
use crate::api::Message;
use crate::text::{
    ChatTemplate, GoTemplate, TemplateChoice, ThinkingSyntax, Tokenizer, ToolSyntax,
};

/// The text side of a loaded model.
pub struct PromptModel {
    pub tokenizer: Arc<Tokenizer>,
    renderer: Renderer,
    /// The template's source (Jinja, or the Go template layer), for `/api/show`.
    pub template_source: String,
    /// How the template lets the model call tools (`None`: it cannot).
    pub tools: Option<ToolSyntax>,
    /// How the template marks reasoning (`None`: the model does not think).
    pub thinking: Option<ThinkingSyntax>,
}

/// Ollama's capability names for a decoder with this chat template: `completion`, then
/// `tools` and `thinking` when the template supports them, `insert` when a Go template
/// reads `.Suffix`.
pub fn template_capabilities(template: &str) -> Vec<&'static str> {
    let mut caps = vec!["completion"];
    if template.contains(".Suffix")
        && GoTemplate::parse(template).is_ok_and(|t| t.vars().iter().any(|v| v == "suffix"))
    {
        caps.push("insert");
    }
    if ToolSyntax::detect(template).is_some() {
        caps.push("tools");
    }
    if ThinkingSyntax::detect(template).is_some() {
        caps.push("thinking");
    }
    caps
}

/// A chat, already validated, as the template sees it.
#[derive(Default)]
pub struct ChatPrompt {
    pub messages: Vec<Value>,
    /// Tool definitions (`None`: the template sees `tools` as none).
    pub tools: Option<Value>,
    /// More template variables: `enable_thinking`, `reasoning_effort`.
    pub vars: Map<String, Value>,
}

/// A prompt ready for the engine.
pub struct Prompt {
    pub tokens: Vec<u32>,
    /// The text the tokens came from (the rendered template, or the raw prompt).
    pub text: String,
    /// Times the template was rendered and tokenized to find what fits (1 when all did).
    pub renders: usize,
}

/// The prompt parts of `/api/generate`.
pub struct GeneratePrompt<'a> {
    pub prompt: &'a str,
    pub system: Option<&'a str>,
    /// No template: the prompt is the model's input as is.
    pub raw: bool,
    /// Tokens of an earlier exchange to continue (Ollama's deprecated `context`).
    pub context: &'a [u32],
    /// More template variables (see [`ChatPrompt::vars`]).
    pub vars: &'a Map<String, Value>,
    /// Text after the insertion point (`.Suffix` of a Go template).
    pub suffix: &'a str,
    /// The request's own Go template, instead of the model's.
    pub template: Option<&'a GoTemplate>,
    /// The model's seeded messages, between the system prompt and the user's.
    pub seeded: &'a [Value],
}

impl ChatPrompt {
    /// A message as templates read it (roles lowercase, as Ollama sends them on).
    pub fn message(m: &Message) -> Value {
        let mut m = m.clone();
        m.role = m.role.to_lowercase();
        serde_json::to_value(m).unwrap_or(Value::Null)
    }
}

impl PromptModel {
    /// The model's own chat template, else ours for its family, else plain prompt
    /// rendering ([`TemplateChoice`]): any GGUF loads.
    /// A Go template (an Ollama model's template layer) is used instead when given.
    pub fn new(
        tokenizer: Arc<Tokenizer>,
        own_template: Option<&str>,
        architecture: &str,
        go_template: Option<&str>,
    ) -> Result<Self, EngineError> {
        let (renderer, source) = match go_template {
            Some(go) => (Renderer::Go(GoTemplate::parse(go)?), go.to_string()),
            None => {
                let source = TemplateChoice::for_model(own_template, architecture)
                    .source()
                    .to_string();
                let template = ChatTemplate::new(
                    &source,
                    tokenizer.bos_token().unwrap_or_default(),
                    tokenizer.eos_token().unwrap_or_default(),
                )?;
                (Renderer::Jinja(template), source)
            }
        };
        Ok(Self {
            tokenizer,
            renderer,
            tools: ToolSyntax::detect(&source),
            thinking: ThinkingSyntax::detect(&source),
            template_source: source,
        })
    }

    /// Tokens of a chat. When the prompt does not fit in `num_ctx` and `truncate` is on, the
    /// oldest non-system messages are dropped (the last message always stays); if what is
    /// left is still too long, its tokens are cut as a raw prompt is.
    ///
    /// How many to keep is found by galloping from the newest message, then bisecting:
    /// each probe renders only the messages kept, so the work grows with what fits in the
    /// window (times a logarithm), not with the conversation (beyond one render of it
    /// whole). `cancel` set (the client went away) stops it between probes.
    pub fn chat_tokens(
        &self,
        chat: &ChatPrompt,
        options: &GenerateOptions,
        truncate: bool,
        cancel: &AtomicBool,
    ) -> Result<Prompt, EngineError> {
        let messages = self.template_messages(&chat.messages);
        let renders = std::cell::Cell::new(0);
        let render = |kept: &[Value]| -> Result<Prompt, EngineError> {
            if cancel.load(Relaxed) {
                return Err(EngineError::Failed("the request was cancelled".into()));
            }
            renders.set(renders.get() + 1);
            let text = self.renderer.chat(kept, chat.tools.as_ref(), &chat.vars)?;
            let tokens = self.encode_rendered(&text, true)?;
            Ok(Prompt {
                tokens,
                text,
                renders: renders.get(),
            })
        };
        let whole = render(&messages)?;
        if fits(&whole.tokens, options.num_ctx) {
            return Ok(whole);
        }
        if !truncate {
            return Err(EngineError::PromptTooLong);
        }
        // Non-system messages but the last, oldest first: the ones that may go.
        let droppable: Vec<usize> = (0..messages.len().saturating_sub(1))
            .filter(|&i| messages[i]["role"] != "system")
            .collect();
        // The messages with only the newest `keep` droppable ones left.
        let kept = |keep: usize| -> Vec<Value> {
            let first_kept = droppable.len() - keep;
            let gone = |i: &usize| droppable[..first_kept].binary_search(i).is_ok();
            (0..messages.len())
                .filter(|i| !gone(i))
                .map(|i| messages[i].clone())
                .collect()
        };
        let fewest = render(&kept(0))?;
        if !fits(&fewest.tokens, options.num_ctx) {
            let tokens = cut(&fewest.tokens, options);
            return Ok(Prompt { tokens, ..fewest });
        }
        // `lo` fits, `hi` does not (all of them did not).
        let (mut lo, mut hi, mut best) = (0, droppable.len(), fewest);
        let mut probe = 1;
        while probe < hi {
            let p = render(&kept(probe))?;
            if !fits(&p.tokens, options.num_ctx) {
                hi = probe;
                break;
            }
            (lo, best) = (probe, p);
            probe *= 2;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let p = render(&kept(mid))?;
            match fits(&p.tokens, options.num_ctx) {
                true => (lo, best) = (mid, p),
                false => hi = mid,
            }
        }
        best.renders = renders.get();
        Ok(best)
    }

    /// The messages as this model's template needs them: earlier reasoning also under the
    /// name HF templates read, and tool-call ids a Mistral template accepts.
    fn template_messages(&self, messages: &[Value]) -> Vec<Value> {
        let mut messages: Vec<Value> = messages
            .iter()
            .cloned()
            .map(with_reasoning_content)
            .collect();
        if self.tools == Some(ToolSyntax::Mistral) {
            mistral_ids(&mut messages);
        }
        messages
    }

    /// Tokens of `/api/generate`: templated unless `raw`, appended to `context` if given.
    /// A prompt too long for the window keeps its first `num_keep` tokens and its tail.
    pub fn generate_tokens(
        &self,
        p: &GeneratePrompt<'_>,
        options: &GenerateOptions,
        truncate: bool,
    ) -> Result<Prompt, EngineError> {
        let (prompt, system, raw, context) = (p.prompt, p.system, p.raw, p.context);
        let vocab = self.tokenizer.vocab_size();
        if let Some(bad) = context.iter().find(|&&t| t as usize >= vocab) {
            return Err(EngineError::BadRequest(format!(
                "context holds token {bad}, outside the model's vocabulary of {vocab} tokens"
            )));
        }
        let num_ctx = options.num_ctx;
        let mut tokens = context.to_vec();
        let text = if raw {
            let add_bos = context.is_empty() && self.tokenizer.add_bos();
            tokens.extend(self.tokenizer.encode(prompt, add_bos)?);
            prompt.to_string()
        } else {
            let mut messages = vec![];
            if let Some(system) = system.filter(|s| !s.is_empty()) {
                messages.push(json!({"role": "system", "content": system}));
            }
            // As Ollama: a continued exchange (`context`) already holds the seeded turns.
            if context.is_empty() {
                messages.extend(p.seeded.iter().cloned());
            }
            messages.push(json!({"role": "user", "content": prompt}));
            let rendered = match (p.template, p.suffix.is_empty()) {
                (Some(go), true) => go_chat(go, &messages, None, p.vars)?,
                (Some(go), false) => go_insert(go, prompt, p.suffix, p.vars)?,
                (None, true) => self.renderer.chat(&messages, None, p.vars)?,
                (None, false) => self.renderer.insert(prompt, p.suffix, p.vars)?,
            };
            tokens.extend(self.encode_rendered(&rendered, context.is_empty())?);
            rendered
        };
        if !fits(&tokens, num_ctx) && !truncate {
            return Err(EngineError::PromptTooLong);
        }
        if !fits(&tokens, num_ctx) {
            tokens = cut(&tokens, options);
        }
        Ok(Prompt {
            tokens,
            text,
            renders: 1,
        })
    }

    /// Whether `/api/generate` may carry a `suffix` (the template reads `.Suffix`).
    pub fn inserts(&self) -> bool {
        self.renderer.inserts()
    }

    /// Templates often write the BOS text themselves; never add a second one.
    fn encode_rendered(&self, rendered: &str, at_start: bool) -> Result<Vec<u32>, EngineError> {
        let bos_in_text = self
            .tokenizer
            .bos_token()
            .is_some_and(|b| !b.is_empty() && rendered.starts_with(b));
        let add_bos = at_start && self.tokenizer.add_bos() && !bos_in_text;
        Ok(self.tokenizer.encode(rendered, add_bos)?)
    }
}

/// Earlier reasoning (`thinking`) also as `reasoning_content`, the name Qwen 3's and other
/// HF templates read.
fn with_reasoning_content(mut message: Value) -> Value {
    if let Some(obj) = message.as_object_mut() {
        if let Some(thinking) = obj.get("thinking").filter(|t| t.is_string()).cloned() {
            obj.entry("reasoning_content").or_insert(thinking);
        }
    }
    message
}

/// Mistral's templates refuse any tool-call id that is not 9 alphanumerics; Ollama's and
/// OpenAI's are `call_…`, and native histories often have none. Each call gets a 9-character
/// id derived from its own (or from its position), and each tool result the id of the call
/// it answers: by `tool_call_id` when given, else the earliest call not yet answered.
fn mistral_ids(messages: &mut [Value]) {
    use sha2::{Digest, Sha256};
    let short = |seed: &str| -> String {
        let digest = Sha256::digest(seed.as_bytes());
        digest
            .iter()
            .take(5)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()[..9]
            .to_string()
    };
    let mut known: Vec<(String, String)> = vec![];
    let mut unanswered: std::collections::VecDeque<String> = Default::default();
    let mut n = 0;
    for message in messages.iter_mut() {
        if let Some(calls) = message.get_mut("tool_calls").and_then(Value::as_array_mut) {
            for call in calls {
                n += 1;
                let original = call.get("id").and_then(Value::as_str).map(String::from);
                let id = short(original.as_deref().unwrap_or(&format!("call #{n}")));
                if let Some(original) = original {
                    known.push((original, id.clone()));
                }
                call["id"] = json!(id);
                unanswered.push_back(id);
            }
        }
        if message.get("role").and_then(Value::as_str) != Some("tool") {
            continue;
        }
        let given = message.get("tool_call_id").and_then(Value::as_str);
        let id = match given {
            Some(g) => known
                .iter()
                .find(|(o, _)| o == g)
                .map(|(_, id)| id.clone())
                .unwrap_or_else(|| short(g)),
            None => unanswered.front().cloned().unwrap_or_else(|| short("tool")),
        };
        unanswered.retain(|u| *u != id);
        message["tool_call_id"] = json!(id);
    }
}

/// An over-long prompt keeps its first `num_keep` tokens (at most a quarter of the window)
/// and its tail, half the window in all, leaving the other half for the answer as Ollama
/// does for raw prompts.
fn cut(tokens: &[u32], options: &GenerateOptions) -> Vec<u32> {
    let num_ctx = options.num_ctx;
    let keep_head = options.num_keep.min(num_ctx / 4);
    let keep_tail = (num_ctx / 2).saturating_sub(keep_head).max(1);
    let tail_start = tokens.len().saturating_sub(keep_tail).max(keep_head);
    let mut cut = tokens[..keep_head.min(tokens.len())].to_vec();
    cut.extend_from_slice(&tokens[tail_start..]);
    cut
}

/// The prompt must leave room for at least one generated token.
fn fits(tokens: &[u32], num_ctx: usize) -> bool {
    tokens.len() < num_ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistral_templates_get_ids_they_accept() {
        let template = ChatTemplate::new(
            include_str!("../../tests/fixtures/templates/mistral-nemo.jinja"),
            "<s>",
            "</s>",
        )
        .expect("template");
        let call = |id: Option<&str>| {
            let mut c = json!({"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}});
            if let Some(id) = id {
                c["id"] = json!(id);
            }
            json!({"role": "assistant", "content": "", "tool_calls": [c]})
        };
        let tools = json!([{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {}}}}]);
        // Ollama's shape (no ids, results by order) and OpenAI's (ids, results by id).
        for (calls, result) in [
            (
                call(None),
                json!({"role": "tool", "content": "5 C", "tool_name": "get_weather"}),
            ),
            (
                call(Some("call_k3x9q2ab")),
                json!({"role": "tool", "content": "5 C", "tool_call_id": "call_k3x9q2ab"}),
            ),
        ] {
            let mut messages = vec![
                json!({"role": "user", "content": "Weather?"}),
                calls,
                result,
            ];
            let plain = Value::Array(messages.clone());
            assert!(template.render(&plain, Some(&tools), true).is_err());
            mistral_ids(&mut messages);
            let id = messages[1]["tool_calls"][0]["id"].clone();
            assert_eq!(messages[2]["tool_call_id"], id);
            let rendered = template
                .render(&Value::Array(messages), Some(&tools), true)
                .expect("renders");
            assert!(rendered.contains(id.as_str().expect("id")), "{rendered}");
        }
    }
}
