//! `/v1/chat/completions` replies: the whole completion, or its SSE chunks.

use futures::{stream, Stream, StreamExt};

use super::{error_event, usage, Head};
use crate::api::openai::{
    Beyond, ChatChoice, ChatCompletion, ChatCompletionChunk, ChoiceLogprobs, ChunkChoice, Delta,
    ResponseMessage, Usage,
};
use crate::engine::{FinishReason, Piece, Pieces, TokenLogprob};
use crate::server::reply::Collected;
use crate::server::sse::SseItem;
use crate::server::wire;

/// The non-streamed reply.
pub fn completion(head: Head, all: Collected) -> ChatCompletion {
    let finished = &all.finished;
    ChatCompletion {
        object: "chat.completion".into(),
        system_fingerprint: "fp_ollama".into(),
        choices: vec![ChatChoice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: all.text,
                extra: Beyond {
                    tool_calls: wire::openai_calls(&all.calls),
                    ..Beyond::reasoning(all.thinking)
                },
            },
            logprobs: head.logprobs(&all.logprobs),
            finish_reason: finish_reason(finished.reason, !all.calls.is_empty()).into(),
        }],
        usage: usage(&finished.metrics),
        id: head.id,
        created: head.created,
        model: head.model,
    }
}

impl Head {
    fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> SseItem {
        SseItem::json(&ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            system_fingerprint: "fp_ollama".into(),
            choices,
            usage,
        })
    }

    fn delta(
        &self,
        delta: Delta,
        logprobs: Option<ChoiceLogprobs>,
        finish: Option<&str>,
    ) -> SseItem {
        let choice = ChunkChoice {
            index: 0,
            delta,
            logprobs,
            finish_reason: finish.map(str::to_string),
        };
        self.chunk(vec![choice], None)
    }

    fn logprobs(&self, lps: &[TokenLogprob]) -> Option<ChoiceLogprobs> {
        wire::logprob_objects(self.logprobs, lps).map(|content| ChoiceLogprobs { content })
    }

    /// The SSE events of one piece.
    fn events(&self, piece: Piece, include_usage: bool) -> Vec<SseItem> {
        let content = |text: String| Delta {
            content: Some(text),
            ..Delta::default()
        };
        match piece {
            Piece::Text { text, logprobs } => {
                vec![self.delta(content(text), self.logprobs(&logprobs), None)]
            }
            Piece::Thinking { text, logprobs } => {
                let delta = Delta {
                    extra: Beyond::reasoning(text),
                    ..Delta::default()
                };
                vec![self.delta(delta, self.logprobs(&logprobs), None)]
            }
            Piece::Calls { calls, logprobs } => {
                let delta = Delta {
                    extra: Beyond {
                        tool_calls: wire::openai_calls(&calls),
                        ..Beyond::default()
                    },
                    ..content(String::new())
                };
                vec![self.delta(delta, self.logprobs(&logprobs), None)]
            }
            Piece::Done(finished) => {
                let mut items = vec![];
                if !finished.logprobs.is_empty() && self.logprobs {
                    let lps = self.logprobs(&finished.logprobs);
                    items.push(self.delta(content(String::new()), lps, None));
                }
                let reason = finish_reason(finished.reason, finished.called);
                items.push(self.delta(Delta::default(), None, Some(reason)));
                if include_usage {
                    items.push(self.chunk(vec![], Some(usage(&finished.metrics))));
                }
                items.push(SseItem::Done);
                items
            }
            Piece::Error(e) => vec![error_event(e)],
        }
    }
}

/// The role chunk at once, a delta per piece, then the finish chunk, the usage chunk when
/// asked, and `[DONE]`. An error ends the stream with an error event, no `[DONE]`.
pub fn chunks(
    head: Head,
    pieces: Pieces,
    include_usage: bool,
) -> impl Stream<Item = SseItem> + Send + 'static {
    let role = Delta {
        role: Some("assistant".into()),
        content: Some(String::new()),
        ..Delta::default()
    };
    let first = head.delta(role, None, None);
    let rest = pieces.flat_map(move |piece| stream::iter(head.events(piece, include_usage)));
    stream::once(async move { first }).chain(rest)
}

/// A reply that called tools and stopped on its own ends with `tool_calls`, as in OpenAI.
fn finish_reason(reason: FinishReason, called: bool) -> &'static str {
    match (reason, called) {
        (FinishReason::Stop, true) => "tool_calls",
        (reason, _) => wire::done_reason(reason),
    }
}
