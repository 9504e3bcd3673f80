//! From a request's text to the token ids the engine runs: chat templates, raw prompts,
//! `context` continuation, and truncation of prompts longer than the window.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{EngineError, GenerateOptions};
use crate::text::{ChatTemplate, ThinkingSyntax, Tokenizer, ToolSyntax};

/// The text side of a loaded model.
pub struct PromptModel {
    pub tokenizer: Arc<Tokenizer>,
    template: ChatTemplate,
    /// The Jinja source, for `/api/show`.
    pub template_source: String,
    /// How the template lets the model call tools (`None`: it cannot).
    pub tools: Option<ToolSyntax>,
    /// How the template marks reasoning (`None`: the model does not think).
    pub thinking: Option<ThinkingSyntax>,
}

/// Ollama's capability names for a decoder with this chat template: `completion`, then
/// `tools` and `thinking` when the template supports them.
pub fn template_capabilities(template: &str) -> Vec<&'static str> {
    let mut caps = vec!["completion"];
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
}

impl PromptModel {
    /// The GGUF's `tokenizer.chat_template`, else our built-in one for the family.
    pub fn new(
        tokenizer: Arc<Tokenizer>,
        gguf_template: Option<&str>,
        architecture: &str,
    ) -> Result<Self, EngineError> {
        let source = gguf_template
            .or_else(|| ChatTemplate::builtin(architecture))
            .ok_or_else(|| {
                EngineError::Load(format!(
                    "the model has no chat template and none is built in for '{architecture}'"
                ))
            })?
            .to_string();
        let template = ChatTemplate::new(
            &source,
            tokenizer.bos_token().unwrap_or_default(),
            tokenizer.eos_token().unwrap_or_default(),
        )?;
        Ok(Self {
            tokenizer,
            template,
            tools: ToolSyntax::detect(&source),
            thinking: ThinkingSyntax::detect(&source),
            template_source: source,
        })
    }

    /// Tokens of a chat. When the prompt does not fit in `num_ctx` and `truncate` is on, the
    /// oldest non-system messages are dropped (the last message always stays); if what is
    /// left is still too long, its tokens are cut as a raw prompt is.
    pub fn chat_tokens(
        &self,
        chat: &ChatPrompt,
        options: &GenerateOptions,
        truncate: bool,
    ) -> Result<Prompt, EngineError> {
        let mut messages = chat.messages.clone();
        loop {
            let text = self.template.render_with(
                &Value::Array(messages.clone()),
                chat.tools.as_ref(),
                true,
                &chat.vars,
            )?;
            let tokens = self.encode_rendered(&text, true)?;
            if fits(&tokens, options.num_ctx) {
                return Ok(Prompt { tokens, text });
            }
            if !truncate {
                return Err(EngineError::PromptTooLong);
            }
            let droppable = messages
                .iter()
                .take(messages.len().saturating_sub(1))
                .position(|m| m["role"] != "system");
            match droppable {
                Some(i) => {
                    messages.remove(i);
                }
                None => {
                    let tokens = cut(&tokens, options);
                    return Ok(Prompt { tokens, text });
                }
            }
        }
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
            messages.push(json!({"role": "user", "content": prompt}));
            let rendered =
                self.template
                    .render_with(&Value::Array(messages), None, true, p.vars)?;
            tokens.extend(self.encode_rendered(&rendered, context.is_empty())?);
            rendered
        };
        if fits(&tokens, num_ctx) {
            return Ok(Prompt { tokens, text });
        }
        if !truncate {
            return Err(EngineError::PromptTooLong);
        }
        let tokens = cut(&tokens, options);
        Ok(Prompt { tokens, text })
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
