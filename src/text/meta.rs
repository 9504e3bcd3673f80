//! Reading the `tokenizer.ggml.*` keys of a GGUF file into plain Rust values.
//!
//! GGUF writers disagree on integer widths (ids as u32, i32 or u64; token types as i32 or
//! u32), so every accessor here is lenient about the numeric variant and strict about
//! meaning: a value that cannot be an id is an error, not a silent default.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;

use super::TextError;

/// llama.cpp's token types (`llama_token_type`), as stored in `tokenizer.ggml.token_type`;
/// the discriminants are the stored codes, the one table both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum TokenType {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

impl TokenType {
    const ALL: [Self; 7] = [
        Self::Undefined,
        Self::Normal,
        Self::Unknown,
        Self::Control,
        Self::UserDefined,
        Self::Unused,
        Self::Byte,
    ];

    /// The code GGUF stores.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// Unknown codes read as `Undefined`, as llama.cpp does.
    pub fn from_code(code: i64) -> Self {
        Self::ALL
            .into_iter()
            .find(|t| i64::from(t.code()) == code)
            .unwrap_or(Self::Undefined)
    }
}

/// GGUF writers disagree on widths; these read any variant that can hold the value. The
/// one set of GGUF value readers (the model's config and `/api/show` use them too).
///
/// Any integer variant as `i64`; `None` for non-integers (and u64 beyond i64, never an id).
pub fn value_as_i64(v: &Value) -> Option<i64> {
    match *v {
        Value::U8(x) => Some(x.into()),
        Value::I8(x) => Some(x.into()),
        Value::U16(x) => Some(x.into()),
        Value::I16(x) => Some(x.into()),
        Value::U32(x) => Some(x.into()),
        Value::I32(x) => Some(x.into()),
        Value::U64(x) => i64::try_from(x).ok(),
        Value::I64(x) => Some(x),
        _ => None,
    }
}

/// Any integer variant as `u64`; `None` for negative values and non-integers.
pub fn value_as_u64(v: &Value) -> Option<u64> {
    match *v {
        Value::U64(x) => Some(x),
        _ => value_as_i64(v).and_then(|x| u64::try_from(x).ok()),
    }
}

/// Any numeric variant as `f64` (scores are f32 in practice, i32 in a few old files).
pub fn value_as_f64(v: &Value) -> Option<f64> {
    match *v {
        Value::F32(x) => Some(x.into()),
        Value::F64(x) => Some(x),
        Value::U64(x) => Some(x as f64),
        _ => value_as_i64(v).map(|x| x as f64),
    }
}

fn value_as_f32(v: &Value) -> Option<f32> {
    value_as_f64(v).map(|x| x as f32)
}

/// Typed view of the metadata map with error messages that name the key.
pub struct Meta<'a>(pub &'a HashMap<String, Value>);

impl Meta<'_> {
    pub fn string(&self, key: &str) -> Result<Option<String>, TextError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(TextError::Metadata(format!(
                "{key} is not a string: {other:?}"
            ))),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, TextError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => match value_as_i64(v) {
                Some(x) => Ok(Some(x != 0)),
                None => Err(TextError::Metadata(format!("{key} is not a bool: {v:?}"))),
            },
        }
    }

    /// A token id; out-of-range ids are ignored (as llama.cpp does, with a warning there).
    pub fn token_id(&self, key: &str, n_tokens: usize) -> Result<Option<u32>, TextError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(v) => {
                let id = value_as_i64(v).ok_or_else(|| {
                    TextError::Metadata(format!("{key} is not an integer: {v:?}"))
                })?;
                Ok(u32::try_from(id)
                    .ok()
                    .filter(|&id| (id as usize) < n_tokens))
            }
        }
    }

    fn array(&self, key: &str) -> Result<Option<&Vec<Value>>, TextError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(TextError::Metadata(format!(
                "{key} is not an array: {other:?}"
            ))),
        }
    }

    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, TextError> {
        let Some(arr) = self.array(key)? else {
            return Ok(None);
        };
        arr.iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(TextError::Metadata(format!(
                    "{key} holds a non-string: {other:?}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub fn floats(&self, key: &str) -> Result<Option<Vec<f32>>, TextError> {
        let Some(arr) = self.array(key)? else {
            return Ok(None);
        };
        arr.iter()
            .map(|v| {
                value_as_f32(v)
                    .ok_or_else(|| TextError::Metadata(format!("{key} holds a non-number: {v:?}")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An array of ids (any integer width); negative or oversized entries are errors.
    pub fn token_ids(&self, key: &str) -> Result<Option<Vec<u32>>, TextError> {
        let Some(arr) = self.array(key)? else {
            return Ok(None);
        };
        arr.iter()
            .map(|v| {
                value_as_i64(v)
                    .and_then(|x| u32::try_from(x).ok())
                    .ok_or_else(|| TextError::Metadata(format!("{key} holds a non-id: {v:?}")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub fn token_types(&self, key: &str) -> Result<Option<Vec<TokenType>>, TextError> {
        let Some(arr) = self.array(key)? else {
            return Ok(None);
        };
        arr.iter()
            .map(|v| {
                value_as_i64(v)
                    .map(TokenType::from_code)
                    .ok_or_else(|| TextError::Metadata(format!("{key} holds a non-integer: {v:?}")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}
