//! `create MODEL -f Modelfile`: the Modelfile parsed here, local files uploaded as blobs,
//! then `POST /api/create`, as Ollama's `CreateHandler`.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::args::CreateArgs;
use super::client::check;
use super::modelfile::{CreateRequest, Modelfile, ModelfileError};
use super::{progress, CliError, Client};
use crate::store::{Digest, ModelName};

pub async fn create(client: &Client, args: CreateArgs) -> Result<(), CliError> {
    if ModelName::parse(&args.model).is_none() {
        return Err(CliError::Usage(format!(
            "invalid model name: {}",
            args.model
        )));
    }
    let (text, dir) = read_modelfile(args.file.as_deref())?;
    let modelfile = Modelfile::parse_bytes(&text)?;
    eprintln!("gathering model components");
    let req = modelfile.to_create_request(&dir)?;
    for warning in &req.warnings {
        println!("{warning}");
    }
    let mut files = Map::new();
    for (path, name) in local_files(&req.local)? {
        let digest = upload(client, &path).await?;
        files.insert(name, Value::String(digest.to_string()));
    }
    let body = body(&args, req, files);
    let lines = client.stream("/api/create", &body).await?;
    progress::follow(lines).await
}

/// The Modelfile's bytes and the directory its relative paths start from. Like Ollama's,
/// a Modelfile that is not there (`-f` or the default `Modelfile`) stands for `FROM .`:
/// the model files of the current directory.
fn read_modelfile(file: Option<&Path>) -> Result<(Vec<u8>, PathBuf), CliError> {
    let path = file.unwrap_or(Path::new("Modelfile"));
    match std::fs::read(path) {
        Ok(text) => {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            Ok((text, dir.to_path_buf()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok((b"FROM .\n".to_vec(), PathBuf::from(".")))
        }
        Err(e) => Err(CliError::Usage(format!("open {}: {e}", path.display()))),
    }
}

/// Ollama's `CreateRequest` JSON: empty fields left out (`omitempty`).
fn body(args: &CreateArgs, req: CreateRequest, files: Map<String, Value>) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(args.model));
    let strings = [
        ("from", req.from),
        ("template", req.template),
        ("system", req.system),
        ("requires", req.requires),
        ("quantize", args.quantize.clone()),
    ];
    for (key, value) in strings {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            body.insert(key.into(), Value::String(v));
        }
    }
    if !files.is_empty() {
        body.insert("files".into(), Value::Object(files));
    }
    if !req.license.is_empty() {
        body.insert("license".into(), json!(req.license));
    }
    if !req.parameters.is_empty() {
        body.insert("parameters".into(), Value::Object(req.parameters));
    }
    if !req.messages.is_empty() {
        let messages: Vec<Value> = req
            .messages
            .into_iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        body.insert("messages".into(), Value::Array(messages));
    }
    Value::Object(body)
}

/// Every file the local `FROM`s stand for, with the name it goes by in `files`: a file's
/// base name, or with several files their path under the directory common to all of them
/// (a checkpoint's `1_Pooling/config.json`), as Ollama's `createRequestFileNames`.
fn local_files(local: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, CliError> {
    let mut files = vec![];
    for path in local {
        match path.is_dir() {
            true => files.extend(files_for_model(path)?),
            false => files.push(path.clone()),
        }
    }
    let root = match files.len() {
        0 | 1 => None,
        _ => common_root(&files),
    };
    let files = files
        .into_iter()
        .map(|f| {
            let relative = root
                .as_deref()
                .and_then(|r| f.strip_prefix(r).ok())
                .filter(|r| !r.as_os_str().is_empty());
            let name = match relative {
                Some(r) => r.to_string_lossy().into_owned(),
                None => base_name(&f),
            };
            let name = gguf_name(&f, name);
            (f, name)
        })
        .collect();
    Ok(files)
}

fn base_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Ollama's server recognises a GGUF without the extension by its magic (a blob path, as
/// `show --modelfile` prints in `FROM`); rollama's goes by the name, so such a file is sent
/// as `NAME.gguf`, which both understand.
fn gguf_name(path: &Path, name: String) -> String {
    if name.ends_with(".gguf") {
        return name;
    }
    let mut magic = [0u8; 4];
    let is_gguf = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"GGUF";
    match is_gguf {
        true => format!("{name}.gguf"),
        false => name,
    }
}

/// The deepest directory holding every file (`None` when that is `/`: no common root).
fn common_root(files: &[PathBuf]) -> Option<PathBuf> {
    let mut root = files.first()?.parent()?.to_path_buf();
    for f in files {
        while !f.starts_with(&root) {
            root = root.parent()?.to_path_buf();
        }
    }
    (root.parent().is_some()).then_some(root)
}

/// Ollama's `filesForModel`: a directory's weights (safetensors first, then PyTorch, then
/// GGUF), with its JSON configuration, chat template and `tokenizer.model`.
fn files_for_model(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let weights = [
        ("model", ".safetensors"),
        ("consolidated", ".safetensors"),
        ("pytorch_model", ".bin"),
        ("consolidated", ".pth"),
        ("", ".gguf"),
        ("", ".bin"),
    ];
    let mut files = vec![];
    for (prefix, suffix) in weights {
        files = glob(dir, prefix, suffix)?;
        if !files.is_empty() {
            if prefix == "model" {
                files.extend(glob_nested(dir, prefix, suffix)?);
            }
            break;
        }
    }
    if files.is_empty() {
        return Err(CliError::Usage(
            "no Modelfile or safetensors files found".into(),
        ));
    }
    files.extend(glob(dir, "", ".json")?);
    files.extend(glob_nested(dir, "", ".json")?);
    files.extend(glob(dir, "chat_template.jinja", "")?);
    let tokenizer = glob(dir, "tokenizer.model", "")?;
    match tokenizer.is_empty() {
        false => files.extend(tokenizer),
        true => files.extend(glob_nested(dir, "tokenizer.model", "")?),
    }
    Ok(files)
}

/// The files in `dir` named `PREFIX*SUFFIX`, sorted (Go's `filepath.Glob`).
fn glob(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<PathBuf>, CliError> {
    let mut found = vec![];
    for entry in read_dir(dir)? {
        let name = base_name(&entry);
        let matches = name.len() >= prefix.len() + suffix.len()
            && name.starts_with(prefix)
            && name.ends_with(suffix);
        if matches && entry.is_file() {
            found.push(entry);
        }
    }
    found.sort();
    Ok(found)
}

/// The same one directory down (`*/PREFIX*SUFFIX`).
fn glob_nested(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<PathBuf>, CliError> {
    let mut found = vec![];
    let mut subdirs: Vec<PathBuf> = read_dir(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    subdirs.sort();
    for sub in subdirs {
        found.extend(glob(&sub, prefix, suffix)?);
    }
    Ok(found)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let io = |e: std::io::Error| {
        CliError::from(ModelfileError::Io {
            path: dir.display().to_string(),
            message: e.to_string(),
        })
    };
    std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()).map_err(io))
        .collect()
}

/// Hashes a file and uploads it to `/api/blobs/sha256:…` unless the server has it already.
async fn upload(client: &Client, path: &Path) -> Result<Digest, CliError> {
    let open = |e: std::io::Error| CliError::Usage(format!("open {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(open)?;
    let (digest, _size) = tokio::task::spawn_blocking(move || Digest::of_reader(file))
        .await
        .map_err(|e| CliError::Io(std::io::Error::other(e)))?
        .map_err(open)?;
    let blob = format!("/api/blobs/{digest}");
    let head = client.send(client.request(Method::HEAD, &blob)).await?;
    if head.status() != StatusCode::OK {
        let file = tokio::fs::File::open(path).await.map_err(open)?;
        let req = client
            .request(Method::POST, &blob)
            .body(reqwest::Body::from(file));
        check(client.send(req).await?).await?;
    }
    eprintln!("copying file {digest} 100%");
    Ok(digest)
}
