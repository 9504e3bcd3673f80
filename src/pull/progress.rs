//! One line of Ollama's pull progress stream.

use crate::store::Digest;

/// One line of Ollama's progress stream; the server serializes it as Ollama does
/// (`{"status":...}` or `{"status":"pulling <12hex>","digest":"sha256:...","total":N,"completed":M}`,
/// digest/total/completed omitted when zero).
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub status: String,
    pub digest: Option<Digest>,
    pub total: u64,
    pub completed: u64,
}

impl Progress {
    /// A bare status line (`pulling manifest`, `success`, …).
    pub fn status(status: impl Into<String>) -> Self {
        Self {
            status: status.into(),
            digest: None,
            total: 0,
            completed: 0,
        }
    }

    /// `pulling <12 hex>` with the layer's digest and byte counts.
    pub fn layer(digest: &Digest, total: u64, completed: u64) -> Self {
        Self {
            status: format!("pulling {}", digest.short()),
            digest: Some(digest.clone()),
            total,
            completed,
        }
    }

    /// The JSON object Ollama writes for this line (zero fields left out, as its
    /// `omitempty` does).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("status".into(), self.status.clone().into());
        if let Some(d) = &self.digest {
            map.insert("digest".into(), d.to_string().into());
        }
        if self.total != 0 {
            map.insert("total".into(), self.total.into());
        }
        if self.completed != 0 {
            map.insert("completed".into(), self.completed.into());
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_fields_are_left_out_as_ollama_does() {
        assert_eq!(
            Progress::status("success").to_json(),
            serde_json::json!({"status": "success"})
        );
        let d = Digest::of_bytes(b"x");
        let line = Progress::layer(&d, 10, 0).to_json();
        assert_eq!(
            line,
            serde_json::json!({"status": format!("pulling {}", &d.hex()[..12]), "digest": d.to_string(), "total": 10})
        );
    }
}
