//! An Ollama-compatible registry (Docker distribution v2): the manifest at
//! `/v2/{namespace}/{model}/manifests/{tag}`, blobs at `/v2/{namespace}/{model}/blobs/{digest}`.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::StatusCode;

use super::error::{chain, PullError};
use super::transfer::{read_small, Fetch};
use super::{Plan, PullOptions, Source};
use crate::store::manifest::MANIFEST_V2;
use crate::store::{Manifest, ModelName};

/// The largest manifest accepted (real ones are a few KiB).
const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// The largest config blob accepted (real ones are under 1 KiB).
const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// The largest layer accepted: larger than any model, small enough that sums cannot
/// overflow.
const MAX_LAYER_BYTES: u64 = 1 << 42;

/// Fetches and validates the manifest of `name`; nothing is downloaded yet.
pub(super) async fn plan(name: &ModelName, options: &PullOptions) -> Result<Plan, PullError> {
    let scheme = if options.insecure { "http" } else { "https" };
    let base = format!(
        "{scheme}://{}/v2/{}/{}",
        name.host, name.namespace, name.model
    );
    let client = client().map_err(|e| PullError::Manifest(chain(&e)))?;
    let url = format!("{base}/manifests/{}", name.tag);
    let response = client
        .get(&url)
        .header(ACCEPT, MANIFEST_V2)
        .send()
        .await
        .map_err(|e| PullError::Manifest(format!("Get \"{url}\": {}", chain(&e))))?;
    match response.status() {
        StatusCode::NOT_FOUND => return Err(PullError::NotFound),
        s if !s.is_success() => {
            return Err(PullError::Manifest(format!("Get \"{url}\": {s}")));
        }
        _ => {}
    }
    let bytes = read_small(response, MAX_MANIFEST_BYTES)
        .await
        .map_err(PullError::Manifest)?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| PullError::Manifest(format!("invalid manifest: {e}")))?;
    validate(&manifest)?;
    let sources = manifest
        .digests()
        .map(|digest| {
            let size = size_of(&manifest, digest);
            let job = Fetch {
                client: client.clone(),
                url: format!("{base}/blobs/{digest}"),
                digest: digest.clone(),
                size,
            };
            (digest.clone(), Source::Fetch(job))
        })
        .collect::<HashMap<_, _>>();
    Ok(Plan { manifest, sources })
}

/// Digests were validated by parsing; here the rest: schema, sizes, one size per digest.
fn validate(manifest: &Manifest) -> Result<(), PullError> {
    let invalid = |why: String| Err(PullError::Manifest(format!("invalid manifest: {why}")));
    if manifest.schema_version != 2 {
        return invalid(format!("schema version {}", manifest.schema_version));
    }
    if manifest.layers.is_empty() {
        return invalid("no layers".into());
    }
    if manifest.config.size > MAX_CONFIG_BYTES {
        return invalid(format!("config of {} bytes", manifest.config.size));
    }
    let mut sizes = HashMap::new();
    for layer in manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
    {
        if layer.size > MAX_LAYER_BYTES {
            return invalid(format!("layer {} of {} bytes", layer.digest, layer.size));
        }
        if *sizes.entry(&layer.digest).or_insert(layer.size) != layer.size {
            return invalid(format!("layer {} has two sizes", layer.digest));
        }
    }
    Ok(())
}

fn size_of(manifest: &Manifest, digest: &crate::store::Digest) -> u64 {
    manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
        .find(|l| l.digest == *digest)
        .map_or(0, |l| l.size)
}

/// Follows redirects (registry.ollama.ai sends blobs to a CDN); a stalled connection
/// errors out and the transfer resumes it.
fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("rollama/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Digest, Layer};

    fn layer(bytes: &[u8], size: u64) -> Layer {
        Layer {
            media_type: crate::store::manifest::MODEL.into(),
            digest: Digest::of_bytes(bytes),
            size,
            from: String::new(),
            name: String::new(),
        }
    }

    #[test]
    fn manifests_with_insane_sizes_are_refused() {
        let ok = Manifest::new(layer(b"c", 1), vec![layer(b"m", 1)]);
        assert!(validate(&ok).is_ok());
        let huge = Manifest::new(layer(b"c", 1), vec![layer(b"m", u64::MAX)]);
        assert!(validate(&huge).is_err());
        let twice = Manifest::new(layer(b"c", 1), vec![layer(b"m", 1), layer(b"m", 2)]);
        assert!(validate(&twice).is_err());
        let empty = Manifest::new(layer(b"c", 1), vec![]);
        assert!(validate(&empty).is_err());
    }
}
