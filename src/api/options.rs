//! Ollama's `options` object, typed.
//!
//! Ollama reads `options` as a loose map: unknown keys (and legacy ones clients still send,
//! `mirostat`, `tfs_z`, `penalize_newline`) are ignored, `null` is "not set", integers may
//! come as JSON floats (truncated), and a known key with the wrong JSON type does not make
//! the body malformed: the request is refused later with a 500 naming the key. So the body
//! always parses; a wrong type is kept in [`Options`] and reported by [`Options::check`].

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// The options a request sets; `None` leaves the server's default.
///
/// The schema lists the known keys with their types. Unknown keys are ignored, null is "not
/// set", and a known key of the wrong type is Ollama's 500 (`option "k" must be of type t`).
#[derive(Debug, Clone, Default, PartialEq, utoipa::ToSchema)]
#[schema(
    description = "Model parameters (Ollama's `options`). Unknown keys are ignored; null \
    is \"not set\"; integers may be sent as floats (truncated); a known key with a value of \
    the wrong type fails the request with 500 `option \"<key>\" must be of type <type>`."
)]
pub struct Options {
    pub temperature: Option<f32>,
    pub top_k: Option<i64>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub typical_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    /// `-1`: the whole window; `0`: no penalties.
    pub repeat_last_n: Option<i64>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    /// Negative: a fresh random seed.
    pub seed: Option<i64>,
    /// Negative: no limit.
    pub num_predict: Option<i64>,
    pub num_ctx: Option<i64>,
    pub num_keep: Option<i64>,
    /// Empty strings are dropped; a plain string is one stop.
    #[schema(schema_with = super::schema::stop)]
    pub stop: Option<Vec<String>>,
    pub num_thread: Option<i64>,
    /// Load-time options rollama accepts with their types checked and does not use.
    pub num_batch: Option<i64>,
    pub num_gpu: Option<i64>,
    pub main_gpu: Option<i64>,
    pub draft_num_predict: Option<i64>,
    pub use_mmap: Option<bool>,
    /// Ollama's error text for the first known key whose value had the wrong type (only
    /// reading a request sets it; [`Options::check`] reports it). Not on the wire.
    #[schema(ignore)]
    pub wrong_type: Option<String>,
}

impl Options {
    /// `Err` with Ollama's text (`option "temperature" must be of type float`) when a known
    /// key had the wrong JSON type.
    pub fn check(&self) -> Result<(), String> {
        match &self.wrong_type {
            Some(message) => Err(message.clone()),
            None => Ok(()),
        }
    }

    /// These options, with those they leave unset taken from `defaults` (a model's
    /// parameters layer under a request's options, as Ollama merges them).
    pub fn over(mut self, defaults: &Options) -> Self {
        macro_rules! fill {
            ($($field:ident),*) => {
                $(if self.$field.is_none() {
                    self.$field = defaults.$field.clone();
                })*
            };
        }
        fill!(
            temperature,
            top_k,
            top_p,
            min_p,
            typical_p,
            repeat_penalty,
            repeat_last_n,
            presence_penalty,
            frequency_penalty,
            seed,
            num_predict,
            num_ctx,
            num_keep,
            stop,
            num_thread,
            num_batch,
            num_gpu,
            main_gpu,
            draft_num_predict,
            use_mmap
        );
        self
    }

    /// Reads a request's `options` map the way Ollama does (see the module doc).
    pub fn from_map(map: &Map<String, Value>) -> Self {
        let mut o = Self::default();
        for (key, value) in map {
            if value.is_null() {
                continue;
            }
            if let Err(message) = o.set(key, value) {
                o.wrong_type.get_or_insert(message);
            }
        }
        o
    }

    fn set(&mut self, key: &str, v: &Value) -> Result<(), String> {
        match key {
            "temperature" => self.temperature = Some(float(key, v)?),
            "top_k" => self.top_k = Some(int(key, v)?),
            "top_p" => self.top_p = Some(float(key, v)?),
            "min_p" => self.min_p = Some(float(key, v)?),
            "typical_p" => self.typical_p = Some(float(key, v)?),
            "repeat_penalty" => self.repeat_penalty = Some(float(key, v)?),
            "repeat_last_n" => self.repeat_last_n = Some(int(key, v)?),
            "presence_penalty" => self.presence_penalty = Some(float(key, v)?),
            "frequency_penalty" => self.frequency_penalty = Some(float(key, v)?),
            "seed" => self.seed = Some(int(key, v)?),
            "num_predict" => self.num_predict = Some(int(key, v)?),
            "num_ctx" => self.num_ctx = Some(int(key, v)?),
            "num_keep" => self.num_keep = Some(int(key, v)?),
            "stop" => self.stop = Some(stop_list(key, v)?),
            "num_thread" => self.num_thread = Some(int(key, v)?),
            "num_batch" => self.num_batch = Some(int(key, v)?),
            "num_gpu" => self.num_gpu = Some(int(key, v)?),
            "main_gpu" => self.main_gpu = Some(int(key, v)?),
            "draft_num_predict" => self.draft_num_predict = Some(int(key, v)?),
            "use_mmap" => self.use_mmap = Some(v.as_bool().ok_or_else(|| wrong(key, "boolean"))?),
            _ => {}
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_map(&Map::deserialize(d)?))
    }
}

fn wrong(key: &str, ty: &str) -> String {
    format!("option \"{key}\" must be of type {ty}")
}

fn float(key: &str, v: &Value) -> Result<f32, String> {
    v.as_f64()
        .map(|x| x as f32)
        .ok_or_else(|| wrong(key, "float"))
}

/// Integers may arrive as JSON floats; they are truncated, as in Ollama.
fn int(key: &str, v: &Value) -> Result<i64, String> {
    v.as_i64()
        .or_else(|| v.as_f64().map(|x| x as i64))
        .ok_or_else(|| wrong(key, "integer"))
}

/// `stop` is an array of strings; a plain string is accepted too.
fn stop_list(key: &str, v: &Value) -> Result<Vec<String>, String> {
    let stops = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| wrong(key, "[]string"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(wrong(key, "[]string")),
    };
    Ok(stops.into_iter().filter(|s| !s.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Options {
        serde_json::from_value(v).expect("options always parse")
    }

    #[test]
    fn known_keys_are_typed_and_unknown_ones_ignored() {
        let o = parse(
            json!({"temperature": 0, "top_k": 5.9, "seed": 42, "stop": "\n",
            "num_predict": -1, "mirostat": 2, "tfs_z": 1.0, "top_p": null, "use_mmap": true}),
        );
        assert_eq!(o.check(), Ok(()));
        assert_eq!(o.temperature, Some(0.0));
        assert_eq!(o.top_k, Some(5));
        assert_eq!(o.seed, Some(42));
        assert_eq!(o.stop, Some(vec!["\n".to_string()]));
        assert_eq!(o.num_predict, Some(-1));
        assert_eq!(o.top_p, None);
        assert_eq!(o.use_mmap, Some(true));
    }

    #[test]
    fn a_wrong_type_is_kept_for_the_request_to_refuse() {
        let o = parse(json!({"temperature": "hot"}));
        assert_eq!(
            o.check(),
            Err("option \"temperature\" must be of type float".to_string())
        );
        assert!(parse(json!({"stop": 3})).check().is_err());
        assert!(parse(json!({"stop": ["a", 1]})).check().is_err());
        assert!(parse(json!({"seed": "x"})).check().is_err());
        assert!(parse(json!({"use_mmap": 1})).check().is_err());
        // A body whose `options` is not an object is malformed (serde's 400).
        assert!(serde_json::from_value::<Options>(json!([1])).is_err());
    }
}
