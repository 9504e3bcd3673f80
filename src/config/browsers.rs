//! `rollama serve` flags of [`crate::server::gateway::browsers`].

use crate::server::gateway::browsers::{Browsers, Cors};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct BrowsersArgs {
    /// Origins allowed to call the API from a browser, comma-separated, besides Ollama's
    /// defaults (`http(s)://localhost`, `127.0.0.1`, `0.0.0.0` on any port, `app://`,
    /// `file://`, `tauri://`, `vscode-webview://`, `vscode-file://`). One `*` per entry
    /// is a wildcard (`https://*.example.com`, `chrome-extension://*`); `*` alone allows
    /// every origin. Entries without `*` must start with http(s):// or a browser
    /// extension's scheme.
    #[arg(long, env = "OLLAMA_ORIGINS")]
    pub origins: Option<String>,
}

impl BrowsersArgs {
    /// The CORS rules; an entry gin-contrib/cors would refuse stops the start (Ollama
    /// panics on it).
    pub fn config(&self) -> anyhow::Result<Browsers> {
        let extra = self.origins.as_deref().map(split).unwrap_or_default();
        let cors = Cors::new(&extra).map_err(|e| anyhow::anyhow!("OLLAMA_ORIGINS: {e}"))?;
        Ok(Browsers { cors, bound: None })
    }
}

/// As Ollama's `envconfig.Var` then `strings.Split`: surrounding spaces and quotes of the
/// whole value go, each entry stays as written.
fn split(raw: &str) -> Vec<String> {
    let value = raw.trim().trim_matches(|c| c == '"' || c == '\'');
    match value.is_empty() {
        true => vec![],
        false => value.split(',').map(String::from).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_split_as_ollama_splits_them() {
        // envconfig's TestOrigins inputs.
        assert_eq!(split(""), Vec::<String>::new());
        assert_eq!(split("http://10.0.0.1"), ["http://10.0.0.1"]);
        assert_eq!(
            split("http://172.16.0.1,https://192.168.0.1"),
            ["http://172.16.0.1", "https://192.168.0.1"]
        );
        assert_eq!(split(" 'http://a.test' "), ["http://a.test"]);
        assert_eq!(
            split("http://a.test, http://b.test"),
            ["http://a.test", " http://b.test"]
        );
    }

    #[test]
    fn a_bad_entry_stops_the_start() {
        let args = |s: &str| BrowsersArgs {
            origins: Some(s.into()),
        };
        assert!(args("http://totally.safe,http://definitely.legit")
            .config()
            .is_ok());
        assert!(args("https://*.example.com,*").config().is_ok());
        let e = args("example.com").config().expect_err("no scheme");
        assert!(e.to_string().contains("origins must contain '*'"), "{e}");
        assert!(
            args("http://a.test,").config().is_err(),
            "an empty entry, as gin"
        );
        assert!(BrowsersArgs::default().config().is_ok());
    }
}
