//! Ollama model names: `[host/][namespace/]model[:tag]`, validated before any path is built.

/// A parsed, validated model name. Only `model` and `tag` matter for the local store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelName {
    pub host: String,
    pub namespace: String,
    pub model: String,
    pub tag: String,
}

const DEFAULT_HOST: &str = "registry.ollama.ai";
const DEFAULT_NAMESPACE: &str = "library";
const DEFAULT_TAG: &str = "latest";

impl ModelName {
    /// Parses with Ollama's character rules. Anything that could name a path outside the
    /// store (`..`, `/x`, `a\b`, empty parts) is rejected here.
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw
            .strip_prefix("http://")
            .or_else(|| raw.strip_prefix("https://"))
            .unwrap_or(raw);
        let (path, tag) = match s.rfind(':') {
            Some(i) if !s[i..].contains('/') => (&s[..i], &s[i + 1..]),
            _ => (s, DEFAULT_TAG),
        };
        let parts: Vec<&str> = path.split('/').collect();
        let (host, namespace, model) = match parts.as_slice() {
            [m] => (DEFAULT_HOST, DEFAULT_NAMESPACE, *m),
            [ns, m] => (DEFAULT_HOST, *ns, *m),
            [h, ns, m] => (*h, *ns, *m),
            _ => return None,
        };
        Self::from_parts(&[host, namespace, model, tag].map(String::from))
    }

    /// `model:latest` in the default namespace (a loose file's stem, already valid).
    pub fn local(model: &str) -> Self {
        Self {
            host: DEFAULT_HOST.into(),
            namespace: DEFAULT_NAMESPACE.into(),
            model: model.split(':').next().unwrap_or(model).into(),
            tag: DEFAULT_TAG.into(),
        }
    }

    /// A name from the four path components under `manifests/`, each validated as the
    /// part it stands for (what Ollama's `ParseNameFromFilepath` accepts).
    pub fn from_parts(parts: &[String; 4]) -> Option<Self> {
        let [host, namespace, model, tag] = parts;
        let ok = valid_part(host, 350, |c| c == '.' || c == ':' || c == '-')
            && valid_part(namespace, 80, |c| c == '-')
            && valid_part(model, 80, |c| c == '.' || c == '-')
            && valid_part(tag, 80, |c| c == '.' || c == '-');
        ok.then(|| Self {
            host: host.clone(),
            namespace: namespace.clone(),
            model: model.clone(),
            tag: tag.clone(),
        })
    }

    /// Ollama matches names case-insensitively, part by part.
    pub fn eq_fold(&self, other: &Self) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
            && self.namespace.eq_ignore_ascii_case(&other.namespace)
            && self.model.eq_ignore_ascii_case(&other.model)
            && self.tag.eq_ignore_ascii_case(&other.tag)
    }

    /// The short display form (Ollama's `DisplayShortest`), tag always shown:
    /// `smollm2:latest`, `user/model:latest`, `example.com:5000/ns/model:v1`.
    pub fn display(&self) -> String {
        if !self.host.eq_ignore_ascii_case(DEFAULT_HOST) {
            format!(
                "{}/{}/{}:{}",
                self.host, self.namespace, self.model, self.tag
            )
        } else if !self.namespace.eq_ignore_ascii_case(DEFAULT_NAMESPACE) {
            format!("{}/{}:{}", self.namespace, self.model, self.tag)
        } else {
            format!("{}:{}", self.model, self.tag)
        }
    }
}

/// First char `[A-Za-z0-9_]`, then those plus the extra characters, 1..=max long.
fn valid_part(s: &str, max: usize, extra: impl Fn(char) -> bool) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    s.len() <= max
        && (first.is_ascii_alphanumeric() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || extra(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let n = ModelName::parse("smollm2").expect("valid");
        assert_eq!(n.display(), "smollm2:latest");
        assert_eq!(
            ModelName::parse("library/smollm2:v1").map(|n| n.display()),
            Some("smollm2:v1".into())
        );
        assert!(ModelName::parse("registry.ollama.ai/library/smollm2:latest").is_some());
        for bad in [
            "",
            "foo:",
            "/foo",
            "a b",
            "../etc/passwd",
            "..",
            "a/../b",
            "x/y/z/w",
            ".hidden",
            "a\\b",
            "foo:../x",
            "foo:.x",
            "%2e%2e",
        ] {
            assert!(ModelName::parse(bad).is_none(), "{bad:?} should be invalid");
        }
    }
}
