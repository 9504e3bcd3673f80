//! The engine's typed calls, as a server makes them: what is asked ([`GenerateRequest`],
//! [`EmbedRequest`]) and what comes back (the [`Piece`]s of a generation, [`Embeddings`]).
//! Wire formats (Ollama's, OpenAI's) are the server's business; these types say what the
//! model is asked, once.

use std::time::Duration;

use futures::stream::BoxStream;
use serde_json::Value;

use super::{Failure, FinishReason, Grammar, TokenLogprob};
use crate::api::{KeepAlive, Message, Options};

/// A generation: a chat or a prompt, and how to run it.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// The model as the request named it (error texts quote it).
    pub model: String,
    pub input: Input,
    pub options: Options,
    /// How long the model stays loaded afterwards; `None`: the server's default.
    pub keep_alive: Option<KeepAlive>,
    /// A prompt longer than `num_ctx` loses its oldest messages (or is cut) instead of
    /// being refused.
    pub truncate: bool,
    /// Shift the window when the generation fills `num_ctx`; off, it ends there.
    pub shift: bool,
    /// `Some(k)`: each generated token's log-probability, with the `k` most likely.
    pub logprobs: Option<usize>,
    /// Structured output: what the reply must match.
    pub format: Option<Grammar>,
    pub think: Think,
    /// Tool definitions (OpenAI's function-tool objects), for chats.
    pub tools: Vec<Value>,
    pub tool_choice: ToolChoice,
    /// A forced choice may be several calls (OpenAI's `parallel_tool_calls: true`).
    pub parallel_tool_calls: bool,
}

impl GenerateRequest {
    /// The request with every knob at Ollama's default.
    pub fn new(model: impl Into<String>, input: Input) -> Self {
        Self {
            model: model.into(),
            input,
            options: Options::default(),
            keep_alive: None,
            truncate: true,
            shift: true,
            logprobs: None,
            format: None,
            think: Think::Default,
            tools: vec![],
            tool_choice: ToolChoice::Auto,
            parallel_tool_calls: false,
        }
    }
}

/// What the model reads.
#[derive(Debug, Clone)]
pub enum Input {
    /// Messages rendered through the model's chat template.
    Chat(Vec<Message>),
    Prompt(PromptInput),
}

/// `/api/generate`'s prompt parts (and `/v1/completions`', raw).
#[derive(Debug, Clone, Default)]
pub struct PromptInput {
    pub prompt: String,
    pub system: Option<String>,
    /// No template: the prompt is the model's input as is.
    pub raw: bool,
    /// Tokens of an earlier exchange to continue (Ollama's deprecated `context`).
    pub context: Vec<u32>,
    /// Text to fill in before (refused: no model served here inserts).
    pub suffix: String,
    /// A Go template replacing the model's (refused: not implemented).
    pub template: Option<String>,
}

impl Input {
    /// What the capability errors call this use (`"x" does not support chat`).
    pub fn capability(&self) -> &'static str {
        match self {
            Self::Chat(_) => "chat",
            Self::Prompt(_) => "generate",
        }
    }
}

/// Reasoning asked of the model (`think`, `reasoning_effort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Think {
    /// Not said: on for models that think (Ollama since 0.12.4).
    #[default]
    Default,
    Off,
    /// On, with an effort level (`low`, `medium`, `high`, `max`) or none (`true`).
    On(Option<&'static str>),
}

/// Which tools the model may or must call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// No tools: they are not shown to the model.
    None,
    /// At least one call, enforced by a grammar.
    Required,
    /// A call to this function, enforced by a grammar.
    Function(String),
}

/// A generation as it streams: answer text, reasoning and tool calls, then one
/// [`Piece::Done`] or [`Piece::Error`], then the end.
pub type Pieces = BoxStream<'static, Piece>;

/// One step of a generation.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Answer text, with the logprobs of the tokens sampled since the previous piece (when
    /// asked).
    Text {
        text: String,
        logprobs: Vec<TokenLogprob>,
    },
    /// Reasoning text, with the logprobs of its tokens.
    Thinking {
        text: String,
        logprobs: Vec<TokenLogprob>,
    },
    /// Whole tool calls, parsed from the model's own syntax, with their tokens' logprobs.
    Calls {
        calls: Vec<ToolCall>,
        logprobs: Vec<TokenLogprob>,
    },
    Done(Finished),
    /// The generation failed midway; nothing follows.
    Error(Failure),
}

/// How a generation ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub reason: FinishReason,
    /// The reply made tool calls.
    pub called: bool,
    pub metrics: GenerationMetrics,
    /// Prompt and generated token ids (Ollama's `context`).
    pub context: Vec<u32>,
    /// Logprobs of tokens whose text never came out (held back at the end).
    pub logprobs: Vec<TokenLogprob>,
}

/// Counters of a finished generation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerationMetrics {
    /// From the engine taking the request to the end.
    pub total_duration: Duration,
    /// Waiting for the model to be loaded (near zero when it already was).
    pub load_duration: Duration,
    /// Prompt tokens computed (those reused from the prefix cache not counted).
    pub prompt_eval_count: usize,
    pub prompt_eval_duration: Duration,
    /// Tokens generated.
    pub eval_count: usize,
    pub eval_duration: Duration,
    /// The whole prompt, reused tokens included.
    pub prompt_tokens: usize,
}

/// A call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// `call_` and 8 random `[a-z0-9]`, as Ollama.
    pub id: String,
    /// Its place among the reply's calls.
    pub index: usize,
    pub name: String,
    /// Always a JSON object.
    pub arguments: Value,
}

/// Sentence embeddings of some texts.
#[derive(Debug, Clone)]
pub struct EmbedRequest {
    /// The model as the request named it.
    pub model: String,
    pub inputs: Vec<String>,
    /// An input longer than the window is cut instead of refused.
    pub truncate: bool,
    /// Only `num_ctx` matters here: tokens per input, at most the model's own limit.
    pub options: Options,
    pub keep_alive: Option<KeepAlive>,
    /// Keep the first `d` values of each vector (before normalizing).
    pub dimensions: Option<usize>,
    /// L2-normalize each vector (every route but the legacy `/api/embeddings`).
    pub normalize: bool,
}

/// Vectors of an [`EmbedRequest`], in input order.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    /// Tokens of all inputs, after truncation.
    pub prompt_tokens: usize,
    pub load_duration: Duration,
    pub total_duration: Duration,
}
