//! The Hugging Face hub through `hf-hub`: names `hf.co/{org}/{repo}[:{quant}]` (or
//! `huggingface.co/…`). hf-hub gives the endpoint (`HF_ENDPOINT`), the token (`HF_TOKEN`,
//! or its token file), the repo listing request and the file URLs; the bytes we stream
//! ourselves ([`super::transfer`]) because hf-hub's `download` only writes into its own
//! cache (`~/.cache/huggingface`, its own partial-file naming), where they would be neither
//! resumable from our partial files, nor shared between pulls, nor named by our digest.
//!
//! A GGUF repo becomes one `MODEL` layer (the quant the tag names); a safetensors repo
//! becomes one `CHECKPOINT_FILE` layer per file the engine reads, named by its repo path.

use std::collections::HashMap;

use hf_hub::api::tokio::{Api, ApiBuilder};
use hf_hub::{Cache, Repo, RepoType};
use reqwest::StatusCode;
use serde::Deserialize;

use super::error::{chain, PullError};
use super::transfer::{linked_sha256, read_small, Fetch};
use super::{Plan, PullOptions, Source};
use crate::store::manifest::{CHECKPOINT_FILE, CONFIG, MODEL};
use crate::store::{Digest, Layer, Manifest, ModelConfig, ModelName};

const HOSTS: [&str; 3] = ["hf.co", "huggingface.co", "www.huggingface.co"];
/// The largest repo listing accepted.
const MAX_LISTING_BYTES: u64 = 16 << 20;
/// The largest file taken into memory (files the hub does not store in LFS; the hub itself
/// keeps those under 10 MiB).
const MAX_SMALL_FILE_BYTES: u64 = 64 << 20;

/// Whether `name` lives on the Hugging Face hub.
pub(super) fn is_hub(name: &ModelName) -> bool {
    HOSTS.iter().any(|h| name.host.eq_ignore_ascii_case(h))
}

/// `GET /api/models/{repo}/revision/main?blobs=true`: the files with sizes and LFS sha256.
#[derive(Debug, Deserialize)]
struct Listing {
    sha: String,
    siblings: Vec<Sibling>,
}

#[derive(Debug, Deserialize)]
struct Sibling {
    rfilename: String,
    #[serde(default)]
    lfs: Option<Lfs>,
}

#[derive(Debug, Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

/// Lists the repo and decides its layers; small non-LFS files are fetched (and hashed)
/// here, weights are left to the transfer.
pub(super) async fn plan(name: &ModelName, options: &PullOptions) -> Result<Plan, PullError> {
    let api = api(options)?;
    let repo_id = format!("{}/{}", name.namespace, name.model);
    let repo = api.repo(Repo::with_revision(
        repo_id.clone(),
        RepoType::Model,
        "main".into(),
    ));
    let response = repo
        .info_request()
        .query(&[("blobs", "true")])
        .send()
        .await
        .map_err(|e| PullError::Manifest(chain(&e)))?;
    match response.status() {
        // The hub answers 401 for a repo that does not exist (or that the token may not
        // see), 404 for a revision that does not.
        StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED => return Err(PullError::NotFound),
        s if !s.is_success() => {
            return Err(PullError::Manifest(format!("{}: {s}", name.display())));
        }
        _ => {}
    }
    let bytes = read_small(response, MAX_LISTING_BYTES)
        .await
        .map_err(PullError::Manifest)?;
    let listing: Listing = serde_json::from_slice(&bytes)
        .map_err(|e| PullError::Manifest(format!("invalid repo listing: {e}")))?;
    // Files are fetched at the commit the listing describes, so a push in between cannot
    // mix two versions; the commit goes into a URL, hence the check.
    if listing.sha.is_empty() || !listing.sha.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(PullError::Manifest(format!(
            "invalid repo commit {:?}",
            listing.sha
        )));
    }
    let pinned = api.repo(Repo::with_revision(repo_id, RepoType::Model, listing.sha));

    let (format, files) = select(&listing.siblings, name)?;
    let mut layers = vec![];
    let mut sources = HashMap::new();
    for (sibling, media_type, layer_name) in files {
        let url = pinned.url(&sibling.rfilename);
        let (digest, size, source) = resolve(&api, sibling, url).await?;
        layers.push(Layer {
            media_type: media_type.into(),
            digest: digest.clone(),
            size,
            from: String::new(),
            name: layer_name,
        });
        sources.insert(digest, source);
    }

    // The engine reads family, size and quantization from the weights themselves.
    let config = ModelConfig {
        model_format: format.into(),
        architecture: "amd64".into(),
        os: "linux".into(),
        ..ModelConfig::default()
    }
    .to_bytes();
    let config_layer = Layer {
        media_type: CONFIG.into(),
        digest: Digest::of_bytes(&config),
        size: config.len() as u64,
        from: String::new(),
        name: String::new(),
    };
    sources.insert(config_layer.digest.clone(), Source::Bytes(config));
    Ok(Plan {
        manifest: Manifest::new(config_layer, layers),
        sources,
    })
}

/// hf-hub's client as its builder reads the environment (`HF_ENDPOINT`; `HF_HOME` and its
/// token file), then our options over it.
fn api(options: &PullOptions) -> Result<Api, PullError> {
    // hf-hub's `Cache::default` panics without a home directory. The cache is only where
    // hf-hub finds the token file of `huggingface-cli login` (we never download into it),
    // so without HF_HOME or a home there is simply no token file.
    let cache = match (std::env::var_os("HF_HOME"), std::env::home_dir()) {
        (Some(_), _) => Cache::from_env(),
        (None, Some(home)) => Cache::new(home.join(".cache").join("huggingface").join("hub")),
        (None, None) => Cache::new(std::env::temp_dir().join("rollama-hf-home").join("hub")),
    };
    let mut builder = ApiBuilder::from_cache(cache);
    // What `ApiBuilder::from_env` reads besides HF_HOME.
    if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
        builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_string());
    }
    let mut builder = builder
        .with_progress(false)
        .with_user_agent("rollama", env!("CARGO_PKG_VERSION"));
    if let Some(endpoint) = &options.hf_endpoint {
        builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_string());
    }
    if let Some(token) = &options.hf_token {
        builder = builder.with_token(Some(token.clone()));
    }
    builder
        .build()
        .map_err(|e| PullError::Manifest(format!("hugging face client: {}", chain(&e))))
}

/// The digest, size and source of one file: an LFS file is named by the hub's sha256 and
/// downloaded by the transfer (which checks its bytes against it); a small file is read
/// here and named by the sha256 we compute.
async fn resolve(
    api: &Api,
    sibling: &Sibling,
    url: String,
) -> Result<(Digest, u64, Source), PullError> {
    let client = api.client().clone();
    if let Some(lfs) = &sibling.lfs {
        let digest = Digest::from_hex(&lfs.sha256).ok_or_else(|| {
            PullError::Manifest(format!(
                "{}: invalid LFS sha256 {:?}",
                sibling.rfilename, lfs.sha256
            ))
        })?;
        let job = Fetch {
            client,
            url,
            digest: digest.clone(),
            size: lfs.size,
        };
        return Ok((digest, lfs.size, Source::Fetch(job)));
    }
    let network = |why: String| PullError::Network(format!("{}: {why}", sibling.rfilename));
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| network(chain(&e)))?;
    if !response.status().is_success() {
        return Err(network(format!("Get \"{url}\": {}", response.status())));
    }
    let linked = linked_sha256(response.headers());
    let bytes = read_small(response, MAX_SMALL_FILE_BYTES)
        .await
        .map_err(network)?;
    let digest = Digest::of_bytes(&bytes);
    if let Some(expected) = linked.filter(|l| *l != digest) {
        return Err(PullError::DigestMismatch {
            expected,
            actual: digest,
        });
    }
    Ok((digest, bytes.len() as u64, Source::Bytes(bytes)))
}

/// The files of the repo that become layers: `(file, media type, layer name)`.
type Selected<'a> = Vec<(&'a Sibling, &'static str, String)>;

fn select<'a>(
    siblings: &'a [Sibling],
    name: &ModelName,
) -> Result<(&'static str, Selected<'a>), PullError> {
    let mut ggufs: Vec<&Sibling> = siblings
        .iter()
        .filter(|s| s.rfilename.to_ascii_lowercase().ends_with(".gguf"))
        // Vision projectors go with a model, they are not one.
        .filter(|s| !base(&s.rfilename).to_ascii_lowercase().contains("mmproj"))
        .collect();
    ggufs.sort_by(|a, b| a.rfilename.cmp(&b.rfilename));
    if !ggufs.is_empty() {
        let chosen = pick_gguf(&ggufs, &name.tag).ok_or(PullError::NotFound)?;
        if is_shard(&chosen.rfilename) {
            return Err(PullError::Unsupported(format!(
                "{} is a GGUF split into several files ({}); multi-part GGUF is not supported yet",
                name.display(),
                chosen.rfilename
            )));
        }
        return Ok(("gguf", vec![(chosen, MODEL, String::new())]));
    }
    let has = |pred: &dyn Fn(&str) -> bool| siblings.iter().any(|s| pred(&s.rfilename));
    if has(&|f| f == "config.json") && has(&|f| !f.contains('/') && f.ends_with(".safetensors")) {
        let files = siblings
            .iter()
            .filter(|s| checkpoint_file(&s.rfilename))
            .map(|s| (s, CHECKPOINT_FILE, s.rfilename.clone()))
            .collect();
        return Ok(("safetensors", files));
    }
    Err(PullError::Unsupported(format!(
        "{} has neither GGUF nor safetensors weights",
        name.display()
    )))
}

/// The GGUF a tag names: the file whose name holds the quant (case-insensitively, as a
/// whole word: `Q4_K` does not pick `Q4_K_M`). For `latest`, Ollama's default `Q4_K_M`;
/// without it `Q4_0`, then `Q8_0` (the common small quants), else the first GGUF by name,
/// so that a repo holding one unquantized file (`model-f16.gguf`) still pulls.
fn pick_gguf<'a>(ggufs: &[&'a Sibling], tag: &str) -> Option<&'a Sibling> {
    let with = |quant: &str| {
        ggufs
            .iter()
            .find(|s| has_quant(base(&s.rfilename), quant))
            .copied()
    };
    if !tag.eq_ignore_ascii_case("latest") {
        return with(tag);
    }
    ["Q4_K_M", "Q4_0", "Q8_0"]
        .into_iter()
        .find_map(with)
        .or_else(|| ggufs.first().copied())
}

/// `quant` in `file` case-insensitively, not glued to letters, digits or `_` on either side.
fn has_quant(file: &str, quant: &str) -> bool {
    let (file, quant) = (file.to_ascii_lowercase(), quant.to_ascii_lowercase());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    file.match_indices(&quant).any(|(i, _)| {
        !word(file[..i].chars().next_back()) && !word(file[i + quant.len()..].chars().next())
    })
}

/// `…-00001-of-00003.gguf`: one part of a split GGUF.
fn is_shard(file: &str) -> bool {
    let stem = base(file).to_ascii_lowercase();
    let Some(stem) = stem.strip_suffix(".gguf") else {
        return false;
    };
    let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    matches!(parts.as_slice(), [total, "of", index, _] if digits(total) && digits(index))
}

/// The files of a safetensors checkpoint the engine reads: config, tokenizer, generation
/// config, weights and their index at the top level, and sentence-transformers' module
/// files (`modules.json`, `1_Pooling/config.json`, `2_Dense/…`).
fn checkpoint_file(path: &str) -> bool {
    const TOP: [&str; 17] = [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "tokenizer.model",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "vocab.txt",
        "merges.txt",
        "spiece.model",
        "sentencepiece.bpe.model",
        "chat_template.jinja",
        "chat_template.json",
        "modules.json",
        "config_sentence_transformers.json",
        "sentence_bert_config.json",
    ];
    let weights = |f: &str| f.ends_with(".safetensors") || f.ends_with(".safetensors.index.json");
    match path.split_once('/') {
        None => TOP.contains(&path) || weights(path),
        // `<n>_<Module>/file`: a sentence-transformers module directory.
        Some((dir, file)) => {
            let module = dir.split_once('_').is_some_and(|(n, rest)| {
                !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
            module && !file.contains('/') && (file == "config.json" || weights(file))
        }
    }
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sib(name: &str) -> Sibling {
        Sibling {
            rfilename: name.into(),
            lfs: None,
        }
    }

    #[test]
    fn quants_match_whole_words_case_insensitively() {
        assert!(has_quant("Model-Q4_K_M.gguf", "q4_k_m"));
        assert!(has_quant("model.q8_0.gguf", "Q8_0"));
        assert!(!has_quant("model-Q4_K_M.gguf", "Q4_K"));
        assert!(!has_quant("model-IQ4_XS.gguf", "Q4_XS"));
    }

    #[test]
    fn latest_prefers_q4_k_m_then_the_common_quants() {
        let files = [sib("m-Q8_0.gguf"), sib("m-Q4_K_M.gguf"), sib("m-F16.gguf")];
        let refs: Vec<&Sibling> = files.iter().collect();
        assert_eq!(
            pick_gguf(&refs, "latest").map(|s| s.rfilename.as_str()),
            Some("m-Q4_K_M.gguf")
        );
        assert_eq!(
            pick_gguf(&refs[..1], "latest").map(|s| s.rfilename.as_str()),
            Some("m-Q8_0.gguf")
        );
        assert_eq!(
            pick_gguf(&refs[2..], "latest").map(|s| s.rfilename.as_str()),
            Some("m-F16.gguf")
        );
        assert!(pick_gguf(&refs, "Q2_K").is_none());
    }

    #[test]
    fn shards_and_checkpoint_files_are_recognised() {
        assert!(is_shard("Q4_K_M/model-Q4_K_M-00001-of-00002.gguf"));
        assert!(!is_shard("model-Q4_K_M.gguf"));
        for f in [
            "config.json",
            "model-00001-of-00002.safetensors",
            "model.safetensors.index.json",
            "1_Pooling/config.json",
            "modules.json",
            "tokenizer.json",
        ] {
            assert!(checkpoint_file(f), "{f}");
        }
        for f in [
            "pytorch_model.bin",
            "onnx/model.onnx",
            "README.md",
            "onnx/config.json",
            "1_Pooling/x/config.json",
        ] {
            assert!(!checkpoint_file(f), "{f}");
        }
    }
}
