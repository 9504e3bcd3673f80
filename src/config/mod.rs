//! Command line and environment: every flag is also the environment variable Ollama uses.
//! The gateway's flags (all opt-in) are in one file per part.

mod auth;
mod browsers;
mod lifecycle;
mod limits;
mod observe;
mod rate;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::api::KeepAlive;
use crate::engine::EngineConfig;

#[derive(Debug, Parser)]
#[command(
    name = "rollama",
    about = "An Ollama-compatible LLM server on candle",
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Show version information (`rollama version is X`, worded as `ollama -v` so scripts
    /// that read its fourth word keep working).
    #[arg(short = 'v', long)]
    pub version: bool,
}

// Parsed once at startup: `serve`'s many flags make its variant large, and that costs
// nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Ollama HTTP API.
    #[command(alias = "start")]
    Serve(ServeArgs),
    #[command(flatten)]
    Client(crate::cli::Command),
    /// Load-test a running server (rollama, Ollama or llama.cpp) with concurrent streams.
    Bench(crate::loadgen::BenchArgs),
    /// Measure single-stream prefill and decode speed of a GGUF file in-process.
    Perf(crate::perf::PerfArgs),
    /// Write a GGUF decoder out as a Hugging Face safetensors checkpoint directory.
    Convert(crate::convert::ConvertArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on: `host`, `host:port`, `:port`, `[v6]:port` or `http://host[:port]`.
    #[arg(long, env = "OLLAMA_HOST", default_value = "127.0.0.1:11434")]
    pub host: String,

    /// The model store, in Ollama's layout (`manifests/`, `blobs/`; default Ollama's own,
    /// `~/.ollama/models`, so its models are served as they are). Loose `NAME.gguf` files
    /// and Hugging Face checkpoint directories directly in it are served as `NAME:latest`.
    #[arg(long, env = "OLLAMA_MODELS")]
    pub models: Option<PathBuf>,

    /// How long a model stays loaded after its last request (`5m`, `1h`, `300`, `-1` = forever).
    #[arg(long, env = "OLLAMA_KEEP_ALIVE", default_value = "5m")]
    pub keep_alive: String,

    /// Models resident at once (0 = auto: 3, as Ollama on one device); beyond it the idle
    /// model used least recently is unloaded.
    #[arg(long, env = "OLLAMA_MAX_LOADED_MODELS", default_value_t = 3)]
    pub max_loaded_models: usize,

    /// Memory all loaded models may take together (weights + reserved KV, as `/api/ps`
    /// `size` reports them): bytes, or `512MiB`, `8GiB`, `8GB`. Default on CPU: the
    /// machine's MemAvailable at startup; on a GPU: no limit.
    #[arg(long, env = "ROLLAMA_MEMORY_BUDGET", value_parser = crate::engine::residency::parse_bytes)]
    pub memory_budget: Option<u64>,

    /// How long a load waits for busy models to free room before failing with 503
    /// (`30s`, `5m`, `0` = not at all, negative = without bound).
    #[arg(long, env = "ROLLAMA_LOAD_WAIT", default_value = "5m")]
    pub load_wait: String,

    /// Requests waiting per model before new ones get 503.
    #[arg(long, env = "OLLAMA_MAX_QUEUE", default_value_t = 512)]
    pub max_queue: usize,

    /// Sequences a model decodes together in one step.
    #[arg(long, env = "OLLAMA_NUM_PARALLEL", default_value_t = crate::engine::DEFAULT_NUM_PARALLEL)]
    pub num_parallel: usize,

    /// Default context window (`num_ctx`) per request, clamped to the model's own.
    #[arg(long, env = "OLLAMA_CONTEXT_LENGTH", default_value_t = crate::engine::DEFAULT_NUM_CTX)]
    pub context_length: usize,

    /// KV cache positions per model, shared by its running sequences (each reserves its
    /// `num_ctx` before starting). Default: num_parallel × context_length.
    #[arg(long, env = "ROLLAMA_KV_CACHE_TOKENS")]
    pub kv_cache_tokens: Option<usize>,

    /// KV positions of finished requests kept per model for prefix reuse (0 = off).
    /// Default: 2 × context_length.
    #[arg(long, env = "ROLLAMA_PREFIX_CACHE_TOKENS")]
    pub prefix_cache_tokens: Option<usize>,

    /// Prompt tokens computed per engine step; running streams wait at most one such step.
    #[arg(long, env = "ROLLAMA_BATCH_TOKENS", default_value_t = 512)]
    pub batch_tokens: usize,

    /// Serve `GET /metrics` (Prometheus text: queue, slots, KV use, token counters).
    /// `1`, `true`, `yes`, `on` (and their negatives) all read, as Go's booleans do.
    #[arg(long, env = "ROLLAMA_METRICS", value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics: bool,

    /// Re-encode 32-block weights (Q4_0/Q4_1/Q5_x/Q8_0) as padded Q8_0 for candle's
    /// repacked VNNI/AMX kernels instead of ours, for comparison: slower than ours, more
    /// memory, logits further from llama.cpp's.
    #[arg(long, env = "ROLLAMA_CPU_REQUANTIZE", value_parser = clap::builder::BoolishValueParser::new())]
    pub cpu_requantize: bool,

    /// CPU threads for the model (default: physical cores). A request's `num_thread`
    /// option can use fewer.
    #[arg(long, env = "ROLLAMA_NUM_THREADS")]
    pub threads: Option<usize>,

    /// The Ollama version `/api/version` reports (clients gate features on it).
    #[arg(long, env = "ROLLAMA_OLLAMA_VERSION", default_value = "0.12.6")]
    pub ollama_version: String,

    #[command(flatten, next_help_heading = "Authentication")]
    pub auth: auth::AuthArgs,

    #[command(flatten, next_help_heading = "Rate limits")]
    pub rate: rate::RateArgs,

    #[command(flatten, next_help_heading = "Browsers (CORS, Host check)")]
    pub browsers: browsers::BrowsersArgs,

    #[command(flatten, next_help_heading = "Limits and deadlines")]
    pub limits: limits::LimitsArgs,

    #[command(flatten, next_help_heading = "Observability")]
    pub observe: observe::ObserveArgs,

    #[command(flatten, next_help_heading = "Connections (timeouts, TLS, drain)")]
    pub lifecycle: lifecycle::LifecycleArgs,
}

impl ServeArgs {
    /// Every gateway setting, checked (a bad keys file or origin stops the start).
    pub fn gateway(&self) -> anyhow::Result<crate::server::gateway::Gateway> {
        Ok(crate::server::gateway::Gateway {
            auth: self.auth.config()?,
            browsers: self.browsers.config()?,
            limits: self.limits.config()?,
            observe: self.observe.config()?,
            lifecycle: self.lifecycle.config()?,
            rate: self.rate.config()?,
        })
    }

    pub fn engine_config(&self) -> EngineConfig {
        let num_parallel = self.num_parallel.max(1);
        EngineConfig {
            max_queue: self.max_queue,
            max_running: num_parallel,
            max_batch_tokens: self.batch_tokens.max(1),
            kv_tokens: self
                .kv_cache_tokens
                .unwrap_or(num_parallel * self.context_length),
            prefix_cache_tokens: self.prefix_cache_tokens.unwrap_or(2 * self.context_length),
            ..EngineConfig::default()
        }
    }

    /// `--models`, else Ollama's default store `$HOME/.ollama/models`.
    pub fn models_dir(&self) -> PathBuf {
        match &self.models {
            Some(dir) => dir.clone(),
            None => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(".ollama/models"),
        }
    }

    /// `OLLAMA_MAX_LOADED_MODELS` with Ollama's 0 = auto.
    pub fn max_loaded(&self) -> usize {
        match self.max_loaded_models {
            0 => crate::engine::residency::AUTO_MAX_LOADED,
            n => n,
        }
    }

    /// The memory budget: as set, else what the machine has available now on CPU (no
    /// model is loaded yet, so all of it is theirs). On a GPU without a setting, none:
    /// candle gives no cheap reading of free VRAM, and a guess would refuse loads that fit.
    pub fn memory_budget(&self, device: &candle_core::Device) -> Option<u64> {
        if self.memory_budget.is_some() {
            return self.memory_budget;
        }
        match device.is_cpu() {
            true => crate::engine::residency::system_available_memory(),
            false => None,
        }
    }

    /// `ROLLAMA_LOAD_WAIT`: Go duration or seconds; negative = no bound. Unparsable falls
    /// back to the default with a warning, like `OLLAMA_KEEP_ALIVE`.
    pub fn load_wait(&self) -> Option<Duration> {
        match KeepAlive::parse_env(&self.load_wait) {
            Ok(KeepAlive::For(d)) => Some(d),
            Ok(KeepAlive::Forever) => None,
            Err(e) => {
                let default = crate::engine::residency::DEFAULT_LOAD_WAIT;
                tracing::warn!(value = %self.load_wait, error = %e, ?default, "invalid ROLLAMA_LOAD_WAIT");
                Some(default)
            }
        }
    }

    pub fn bind_addr(&self) -> anyhow::Result<SocketAddr> {
        parse_host(&self.host)
    }

    /// An unparsable value falls back to 5 minutes with a warning, as in Ollama.
    pub fn default_keep_alive(&self) -> Option<Duration> {
        match KeepAlive::parse_env(&self.keep_alive) {
            Ok(KeepAlive::For(d)) => Some(d),
            Ok(KeepAlive::Forever) => None,
            Err(e) => {
                tracing::warn!(value = %self.keep_alive, error = %e, "invalid OLLAMA_KEEP_ALIVE, using 5m");
                Some(Duration::from_secs(300))
            }
        }
    }
}

/// `OLLAMA_HOST` as Ollama reads it: scheme optional (`http` → port 80, `https` → 443 when
/// no port is given), default port 11434, a bare `:port` binds every interface.
pub fn parse_host(raw: &str) -> anyhow::Result<SocketAddr> {
    let s = raw.trim().trim_matches(|c| c == '"' || c == '\'');
    let (default_port, rest) = if let Some(r) = s.strip_prefix("http://") {
        (80, r)
    } else if let Some(r) = s.strip_prefix("https://") {
        (443, r)
    } else {
        (11434, s)
    };
    let rest = rest.split('/').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| anyhow::anyhow!("invalid OLLAMA_HOST {raw:?}"))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    let port = port
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(default_port);
    let host = if host.is_empty() {
        "0.0.0.0".to_string()
    } else {
        host
    };
    (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow::anyhow!("cannot resolve OLLAMA_HOST {raw:?}"))
}

#[cfg(test)]
mod tests {
    use super::parse_host;

    #[test]
    fn host_forms() {
        let p = |s: &str| parse_host(s).expect("valid").to_string();
        assert_eq!(p("127.0.0.1:11434"), "127.0.0.1:11434");
        assert_eq!(p("127.0.0.1"), "127.0.0.1:11434");
        assert_eq!(p(":8080"), "0.0.0.0:8080");
        assert_eq!(p("http://127.0.0.1"), "127.0.0.1:80");
        assert_eq!(p("https://127.0.0.1"), "127.0.0.1:443");
        assert_eq!(p("[::1]:9000"), "[::1]:9000");
        assert_eq!(p("0.0.0.0:bad"), "0.0.0.0:11434");
    }
}
