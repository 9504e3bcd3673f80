//! The client commands' flags: Ollama's names, meanings and defaults, so a script written
//! for `ollama` runs against rollama with only the binary's name changed.

use std::path::PathBuf;

use clap::Args;

/// `rollama run MODEL [PROMPT...]`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    pub model: String,
    /// The prompt (words are joined with spaces); without one, stdin when it is piped, else
    /// an interactive chat.
    pub prompt: Vec<String>,
    /// Duration to keep a model loaded (e.g. 5m).
    #[arg(long)]
    pub keepalive: Option<String>,
    /// Show timings for response.
    #[arg(long)]
    pub verbose: bool,
    /// Use an insecure registry.
    #[arg(long)]
    pub insecure: bool,
    /// Don't wrap words to the next line automatically.
    #[arg(long)]
    pub nowordwrap: bool,
    /// Response format (e.g. json).
    #[arg(long)]
    pub format: Option<String>,
    /// Enable thinking mode (`--think`, `--think=false`, `--think=high`; a value needs `=`,
    /// as with Ollama's flag, so `--think MODEL` still names the model): true/false or high/medium/low for supported models.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub think: Option<String>,
    /// Hide thinking output (if provided).
    #[arg(long)]
    pub hidethinking: bool,
    /// For embedding models: truncate inputs exceeding context length (default: true).
    /// Set --truncate=false to error instead.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub truncate: Option<bool>,
    /// Truncate output embeddings to specified dimension (embedding models only).
    #[arg(long, default_value_t = 0)]
    pub dimensions: usize,
}

/// `rollama pull MODEL` / `rollama push MODEL`.
#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    pub model: String,
    /// Use an insecure registry.
    #[arg(long)]
    pub insecure: bool,
}

/// `rollama list [PREFIX]` / `rollama ps [PREFIX]`: only names starting with PREFIX.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    pub prefix: Option<String>,
}

/// `rollama show MODEL`.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    pub model: String,
    /// Show license of a model.
    #[arg(long)]
    pub license: bool,
    /// Show Modelfile of a model.
    #[arg(long)]
    pub modelfile: bool,
    /// Show parameters of a model.
    #[arg(long)]
    pub parameters: bool,
    /// Show template of a model.
    #[arg(long)]
    pub template: bool,
    /// Show system message of a model.
    #[arg(long)]
    pub system: bool,
    /// Show detailed model information.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// `rollama rm MODEL [MODEL...]`.
#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    #[arg(required = true)]
    pub models: Vec<String>,
}

/// `rollama cp SOURCE DESTINATION`.
#[derive(Debug, Clone, Args)]
pub struct CpArgs {
    pub source: String,
    pub destination: String,
}

/// `rollama create MODEL [-f Modelfile] [-q LEVEL]`.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    pub model: String,
    /// Name of the Modelfile (default "Modelfile").
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// Quantize model to this level (e.g. q4_K_M).
    #[arg(long, short = 'q')]
    pub quantize: Option<String>,
}

/// `rollama stop MODEL`.
#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    pub model: String,
}
