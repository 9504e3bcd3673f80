//! One streamed chat request, timed: Ollama's NDJSON `/api/chat` or OpenAI's SSE
//! `/v1/chat/completions` (rollama, Ollama, llama.cpp's server, vLLM all speak one of them).

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

/// Which wire protocol to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    /// `POST /api/chat`, NDJSON.
    Ollama,
    /// `POST /v1/chat/completions`, server-sent events.
    Openai,
}

/// What to ask.
#[derive(Debug, Clone)]
pub struct Ask {
    pub model: String,
    pub prompt: String,
    pub max_tokens: usize,
    pub temperature: f32,
}

/// Timings of one request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// From sending the request to the first piece of generated text.
    pub ttft: Duration,
    /// From sending the request to the end of the stream.
    pub total: Duration,
    /// Generated tokens, as the server counts them (else one per content chunk).
    pub tokens: usize,
}

pub async fn run(
    client: &reqwest::Client,
    base: &str,
    api: Api,
    ask: &Ask,
) -> anyhow::Result<Outcome> {
    let messages = json!([{"role": "user", "content": ask.prompt}]);
    let (path, body) = match api {
        Api::Ollama => (
            "/api/chat",
            json!({"model": ask.model, "messages": messages, "stream": true,
                "options": {"num_predict": ask.max_tokens, "temperature": ask.temperature}}),
        ),
        Api::Openai => (
            "/v1/chat/completions",
            json!({"model": ask.model, "messages": messages, "stream": true,
                "max_tokens": ask.max_tokens, "temperature": ask.temperature,
                "stream_options": {"include_usage": true}}),
        ),
    };
    let started = Instant::now();
    let resp = client
        .post(format!("{}{path}", base.trim_end_matches('/')))
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        anyhow::bail!("HTTP {status}: {}", text.trim());
    }
    let mut state = Progress::default();
    let mut buf = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(bytes) = body.next().await {
        buf.extend_from_slice(&bytes?);
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let event = match api {
                Api::Ollama => parse_ndjson(line.trim())?,
                Api::Openai => parse_sse(line.trim())?,
            };
            state.take(event, started);
        }
    }
    let ttft = state
        .first
        .ok_or_else(|| anyhow::anyhow!("the stream carried no generated text"))?;
    Ok(Outcome {
        ttft,
        total: started.elapsed(),
        tokens: state.counted.unwrap_or(state.chunks),
    })
}

/// What one line of a stream says.
enum Line {
    Nothing,
    Content,
    Usage(usize),
}

#[derive(Default)]
struct Progress {
    first: Option<Duration>,
    chunks: usize,
    counted: Option<usize>,
}

impl Progress {
    fn take(&mut self, line: Line, started: Instant) {
        match line {
            Line::Nothing => {}
            Line::Content => {
                self.first.get_or_insert_with(|| started.elapsed());
                self.chunks += 1;
            }
            Line::Usage(n) => self.counted = Some(n),
        }
    }
}

fn parse_ndjson(line: &str) -> anyhow::Result<Line> {
    match line.is_empty() {
        true => Ok(Line::Nothing),
        false => classify(line, "/eval_count", "/message/content"),
    }
}

fn parse_sse(line: &str) -> anyhow::Result<Line> {
    match line.strip_prefix("data:").map(str::trim) {
        // Comments, `event:` lines, blank separators, the end marker.
        None | Some("[DONE]") => Ok(Line::Nothing),
        Some(data) => classify(data, "/usage/completion_tokens", "/choices/0/delta/content"),
    }
}

/// One JSON chunk of either protocol: an error, the final token count (at `usage`), or
/// new text (at `content`).
fn classify(json: &str, usage: &str, content: &str) -> anyhow::Result<Line> {
    let v: Value = serde_json::from_str(json)?;
    if let Some(e) = v.get("error") {
        anyhow::bail!("error mid-stream: {e}");
    }
    if let Some(n) = v.pointer(usage).and_then(Value::as_u64) {
        return Ok(Line::Usage(n as usize));
    }
    let text = v
        .pointer(content)
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(match text.is_empty() {
        true => Line::Nothing,
        false => Line::Content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(l: anyhow::Result<Line>) -> String {
        match l.expect("parses") {
            Line::Nothing => "-".into(),
            Line::Content => "c".into(),
            Line::Usage(n) => format!("u{n}"),
        }
    }

    #[test]
    fn ndjson_lines() {
        let l = |s| kind(parse_ndjson(s));
        assert_eq!(
            l(r#"{"message":{"role":"assistant","content":"Hi"},"done":false}"#),
            "c"
        );
        assert_eq!(
            l(r#"{"message":{"role":"assistant","content":""},"done":false}"#),
            "-"
        );
        assert_eq!(l(r#"{"done":true,"eval_count":7}"#), "u7");
        assert!(parse_ndjson(r#"{"error":"boom"}"#).is_err());
    }

    #[test]
    fn sse_lines() {
        let l = |s| kind(parse_sse(s));
        assert_eq!(
            l(r#"data: {"choices":[{"delta":{"role":"assistant"}}]}"#),
            "-"
        );
        assert_eq!(l(r#"data: {"choices":[{"delta":{"content":"Hi"}}]}"#), "c");
        assert_eq!(
            l(r#"data: {"choices":[],"usage":{"completion_tokens":9}}"#),
            "u9"
        );
        assert_eq!(l("data: [DONE]"), "-");
        assert_eq!(l(": keep-alive"), "-");
        assert!(parse_sse(r#"data: {"error":{"message":"x"}}"#).is_err());
    }
}
