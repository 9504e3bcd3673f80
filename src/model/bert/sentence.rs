//! The sentence-transformers files around a checkpoint: `modules.json` (the pipeline),
//! the Pooling module's `config.json`, and `sentence_bert_config.json` (`max_seq_length`).
//!
//! A plain Hugging Face directory without them is read as mean pooling, no normalization,
//! and the model's own position limit.

use std::path::Path;

use serde::Deserialize;

use super::super::ModelError;
use super::pooling::Pooling;

/// What the sentence-transformers pipeline does after the encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentenceConfig {
    pub pooling: Pooling,
    /// A `Normalize` module is listed: vectors are meant to be L2-normalized.
    pub normalize: bool,
    /// `max_seq_length` from `sentence_bert_config.json`, if any.
    pub max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct Module {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

#[derive(Deserialize)]
struct SentenceBertFile {
    max_seq_length: Option<usize>,
}

impl SentenceConfig {
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let max_seq_length = match read_json::<SentenceBertFile>(dir, "sentence_bert_config.json")?
        {
            Some(file) => file.max_seq_length,
            None => None,
        };
        let Some(modules) = read_json::<Vec<Module>>(dir, "modules.json")? else {
            return Ok(Self {
                pooling: Pooling::Mean,
                normalize: false,
                max_seq_length,
            });
        };
        let is = |m: &Module, name: &str| m.kind.rsplit('.').next() == Some(name);
        let pooling = match modules.iter().find(|m| is(m, "Pooling")) {
            Some(module) => {
                let file = Path::new(&module.path).join("config.json");
                let config: PoolingFile = read_json(dir, &file)?.ok_or_else(|| {
                    ModelError::Format(format!("modules.json lists {}, missing", file.display()))
                })?;
                config.pooling()?
            }
            None => Pooling::Mean,
        };
        for module in &modules {
            let known = ["Transformer", "Pooling", "Normalize"];
            if !known.iter().any(|name| is(module, name)) {
                return Err(ModelError::Unsupported(format!(
                    "sentence-transformers module {}",
                    module.kind
                )));
            }
        }
        Ok(Self {
            pooling,
            normalize: modules.iter().any(|m| is(m, "Normalize")),
            max_seq_length,
        })
    }
}

impl PoolingFile {
    fn pooling(&self) -> Result<Pooling, ModelError> {
        if self.pooling_mode_weightedmean_tokens || self.pooling_mode_lasttoken {
            return Err(ModelError::Unsupported(
                "weighted-mean and last-token pooling".into(),
            ));
        }
        let modes = [
            (self.pooling_mode_mean_tokens, Pooling::Mean),
            (self.pooling_mode_cls_token, Pooling::Cls),
            (self.pooling_mode_max_tokens, Pooling::Max),
            (self.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
        ];
        let mut on = modes.iter().filter(|(on, _)| *on).map(|(_, mode)| *mode);
        match (on.next(), on.next()) {
            (Some(mode), None) => Ok(mode),
            (None, _) => Err(ModelError::Format("pooling config enables no mode".into())),
            (Some(_), Some(_)) => Err(ModelError::Unsupported(
                "several pooling modes at once (concatenated vectors)".into(),
            )),
        }
    }
}

/// `dir/file` parsed, or `None` when it does not exist.
fn read_json<T: for<'de> Deserialize<'de>>(
    dir: &Path,
    file: impl AsRef<Path>,
) -> Result<Option<T>, ModelError> {
    let path = dir.join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ModelError::Io(path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ModelError::Format(format!("{}: {e}", path.display())))
}
