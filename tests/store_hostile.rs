//! A hostile store and hostile requests: every broken or malicious entry is refused or
//! left out (the rest still listed), nothing outside the store is ever read or written,
//! and the server keeps answering.

mod common;

use std::path::Path;

use common::{
    manifest_bytes, post, OllamaStore, TestLayer, TestServer, MT_CONFIG, MT_MODEL, MT_SYSTEM,
};
use serde_json::{json, Value};

const SECRET: &str = "OUTSIDE-SECRET-7f3a9c";

fn good_system() -> &'static str {
    "A good model."
}

/// A store with one good model and many broken entries; the directory outside it that
/// its links lead to.
fn hostile() -> (OllamaStore, std::path::PathBuf) {
    let store = OllamaStore::new();
    let outside = common::temp_store(&[]);
    let config = store.config();
    let weights = store.weights();
    let system = store.blob(MT_SYSTEM, good_system().as_bytes());
    store.manifest(
        "registry.ollama.ai/library/good/latest",
        &config,
        &[weights.clone(), system.clone()],
    );

    // Not JSON; JSON of the wrong shape; an empty file.
    store.raw_manifest("registry.ollama.ai/library/notjson/latest", b"{not json");
    store.raw_manifest(
        "registry.ollama.ai/library/shape/latest",
        br#"{"layers": 3}"#,
    );
    store.raw_manifest("registry.ollama.ai/library/empty/latest", b"");

    // Digests that are paths.
    for (name, digest) in [
        ("dotdot", "sha256:../../../../outside/secret".to_string()),
        ("abs", "/etc/passwd".to_string()),
        ("dotdothex", format!("sha256:../{}", &"a".repeat(61))),
        ("nohex", format!("sha256-{}", "z".repeat(64))),
    ] {
        let bad = TestLayer {
            media_type: MT_SYSTEM.into(),
            digest,
            size: 10,
        };
        store.manifest(
            &format!("registry.ollama.ai/library/{name}/latest"),
            &config,
            &[weights.clone(), bad],
        );
    }

    // A secret outside the store, a manifest and a blob linking to it.
    let secret_path = outside.join("secret.txt");
    std::fs::write(&secret_path, SECRET).expect("secret");
    let secret_layer = TestLayer {
        media_type: MT_SYSTEM.into(),
        digest: format!("sha256:{}", common::sha256_hex(SECRET.as_bytes())),
        size: SECRET.len() as u64,
    };
    std::os::unix::fs::symlink(&secret_path, store.blob_path(&secret_layer.digest))
        .expect("link blob");
    store.manifest(
        "registry.ollama.ai/library/linkedblob/latest",
        &config,
        &[weights.clone(), secret_layer.clone()],
    );
    // A manifest outside (valid, naming the secret as its system) linked into manifests/.
    let outside_manifest = outside.join("manifest.json");
    std::fs::write(
        &outside_manifest,
        manifest_bytes(&config, &[weights.clone(), system.clone()]),
    )
    .expect("outside manifest");
    let link = store
        .dir
        .join("manifests/registry.ollama.ai/library/linkedmanifest/latest");
    std::fs::create_dir_all(link.parent().expect("parent")).expect("dir");
    std::os::unix::fs::symlink(&outside_manifest, &link).expect("link manifest");
    // A whole namespace directory linked outside.
    let outside_ns = outside.join("ns");
    std::fs::create_dir_all(outside_ns.join("m")).expect("outside ns");
    std::fs::write(
        outside_ns.join("m/latest"),
        manifest_bytes(&config, &[weights.clone(), system.clone()]),
    )
    .expect("outside ns manifest");
    std::os::unix::fs::symlink(
        &outside_ns,
        store.dir.join("manifests/registry.ollama.ai/linkedns"),
    )
    .expect("link ns");
    // The weights blob a link to a file outside the store.
    let outside_gguf = outside.join("weights.gguf");
    std::fs::hard_link(
        std::fs::canonicalize(common::model_path("smollm2")).expect("canonical"),
        &outside_gguf,
    )
    .or_else(|_| std::fs::copy(common::model_path("smollm2"), &outside_gguf).map(|_| ()))
    .expect("outside gguf");
    let fake = TestLayer {
        media_type: MT_MODEL.into(),
        digest: format!("sha256:{}", "b".repeat(64)),
        size: weights.size,
    };
    std::os::unix::fs::symlink(&outside_gguf, store.blob_path(&fake.digest)).expect("link w");
    store.manifest(
        "registry.ollama.ai/library/linkedweights/latest",
        &config,
        &[fake, system.clone()],
    );

    // A small layer whose bytes do not hash to its name.
    let wrong = TestLayer {
        media_type: MT_SYSTEM.into(),
        digest: format!("sha256:{}", "c".repeat(64)),
        size: 9,
    };
    std::fs::write(store.blob_path(&wrong.digest), "tampered!").expect("wrong blob");
    store.manifest(
        "registry.ollama.ai/library/wrongdigest/latest",
        &config,
        &[weights.clone(), wrong],
    );
    // A config blob that is not JSON (hashing right).
    let bad_config = store.blob(MT_CONFIG, b"not a config");
    store.manifest(
        "registry.ollama.ai/library/badconfig/latest",
        &bad_config,
        std::slice::from_ref(&weights),
    );
    // Weights whose size differs from the manifest's (a truncated copy).
    let longer = TestLayer {
        size: weights.size + 1,
        ..weights.clone()
    };
    store.manifest(
        "registry.ollama.ai/library/truncated/latest",
        &config,
        &[longer, system.clone()],
    );
    // A truncated GGUF whose manifest agrees with it (size and digest).
    let head = std::fs::read(common::model_path("smollm2")).expect("gguf")[..1 << 20].to_vec();
    let cut = store.blob(MT_MODEL, &head);
    store.manifest(
        "registry.ollama.ai/library/cutgguf/latest",
        &config,
        &[cut, system.clone()],
    );
    // A manifest naming a blob that is not there; one naming no weights.
    let absent = TestLayer {
        media_type: MT_MODEL.into(),
        digest: format!("sha256:{}", "d".repeat(64)),
        size: 5,
    };
    store.manifest(
        "registry.ollama.ai/library/absent/latest",
        &config,
        &[absent],
    );
    store.manifest(
        "registry.ollama.ai/library/noweights/latest",
        &config,
        std::slice::from_ref(&system),
    );

    // Directory names that are not valid name parts, and too deep a tree.
    let good = manifest_bytes(&config, &[weights.clone(), system.clone()]);
    for rel in [
        "registry.ollama.ai/library/.hidden/latest",
        "registry.ollama.ai/library/bad name/latest",
        "registry.ollama.ai/library/-dash/latest",
        "registry.ollama.ai/library/x/.tag",
        "registry.ollama.ai/library/x/ta:g",
        "registry.ollama.ai/li.brary/x/latest",
        "-host/library/x/latest",
        "registry.ollama.ai/library/deep/er/latest",
    ] {
        store.raw_manifest(rel, &good);
    }
    let long = "a".repeat(81);
    store.raw_manifest(&format!("registry.ollama.ai/library/{long}/latest"), &good);
    (store, outside)
}

async fn get(url: String) -> Value {
    let r = reqwest::get(url).await.expect("get");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

async fn names(base: &str) -> Vec<String> {
    let tags = get(format!("{base}/api/tags")).await;
    let mut names: Vec<String> = tags["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    names
}

/// Status and body of a request; the body must never hold the secret.
async fn send(req: reqwest::RequestBuilder) -> (u16, String) {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    assert!(!body.contains(SECRET), "the outside file leaked: {body}");
    (status, body)
}

fn tree(dir: &Path) -> Vec<(String, u64)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let meta = std::fs::symlink_metadata(e.path()).expect("meta");
            if meta.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path().display().to_string(), meta.len()));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_entries_are_left_out_and_the_rest_served() {
    let (store, outside) = hostile();
    let before = tree(&outside);
    let base = TestServer::default().spawn_store(store.dir.clone()).await;
    // Only the good model and the truncated GGUF that agrees with its manifest could be
    // listed; the latter's header cannot be read, so it is left out too.
    assert_eq!(names(&base).await, ["good:latest"]);
    let c = reqwest::Client::new();
    let (status, body) = send(
        c.post(format!("{base}/api/show"))
            .json(&json!({"model": "good"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("present")["system"],
        good_system()
    );
    for name in [
        "notjson",
        "shape",
        "empty",
        "dotdot",
        "abs",
        "dotdothex",
        "nohex",
        "linkedblob",
        "linkedmanifest",
        "linkedns/m",
        "linkedweights",
        "wrongdigest",
        "badconfig",
        "truncated",
        "absent",
        "noweights",
        "deep",
        "x:ta",
        "x",
    ] {
        for path in ["show", "generate", "chat", "embed"] {
            let body = match path {
                "chat" => {
                    json!({"model": name, "messages": [{"role": "user", "content": "hi"}], "stream": false})
                }
                "embed" => json!({"model": name, "input": "hi"}),
                _ => json!({"model": name, "prompt": "hi", "stream": false}),
            };
            let (status, reply) = send(c.post(format!("{base}/api/{path}")).json(&body)).await;
            assert!(
                (400..500).contains(&status),
                "{path} {name}: {status} {reply}"
            );
        }
    }
    // The truncated GGUF is refused when asked for, as an error, not a crash.
    for path in ["show", "generate"] {
        let (status, reply) = send(
            c.post(format!("{base}/api/{path}"))
                .json(&json!({"model": "cutgguf", "prompt": "hi", "stream": false})),
        )
        .await;
        assert!((400..600).contains(&status), "{path}: {status} {reply}");
        assert!(reply.contains("error"), "{reply}");
    }
    // Deleting a linked entry touches nothing outside: a linked manifest is not one of
    // the store's; a manifest naming a linked blob goes, the file the link leads to stays.
    for name in ["linkedblob", "linkedweights"] {
        let (status, reply) = send(
            c.delete(format!("{base}/api/delete"))
                .json(&json!({"model": name})),
        )
        .await;
        assert_eq!((status, reply.as_str()), (200, ""), "delete {name}");
    }
    for name in ["linkedmanifest", "linkedns/m"] {
        let (status, reply) = send(
            c.delete(format!("{base}/api/delete"))
                .json(&json!({"model": name})),
        )
        .await;
        assert!(
            (400..500).contains(&status),
            "delete {name}: {status} {reply}"
        );
    }
    // Broken downloads (not listed) can still be deleted, as with Ollama; the blobs the
    // good model shares stay, their own go.
    let wrong_blob = store.blob_path(&format!("sha256:{}", "c".repeat(64)));
    assert!(wrong_blob.exists());
    for name in [
        "truncated",
        "absent",
        "wrongdigest",
        "badconfig",
        "noweights",
        "cutgguf",
    ] {
        let (status, reply) = send(
            c.delete(format!("{base}/api/delete"))
                .json(&json!({"model": name})),
        )
        .await;
        assert_eq!((status, reply.as_str()), (200, ""), "delete {name}");
        assert!(!store
            .dir
            .join("manifests/registry.ollama.ai/library")
            .join(name)
            .exists());
        let (status, _) = send(
            c.delete(format!("{base}/api/delete"))
                .json(&json!({"model": name})),
        )
        .await;
        assert_eq!(status, 404, "delete {name} again");
    }
    assert!(!wrong_blob.exists());
    let (hex, _) = common::smollm2_blob();
    assert!(store.blob_path(&format!("sha256:{hex}")).exists());
    let (status, reply) = send(c.post(format!("{base}/api/generate")).json(
        &json!({"model": "good", "prompt": "hi", "stream": false, "options": {"num_predict": 1}}),
    ))
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(names(&base).await, ["good:latest"]);
    assert_eq!(tree(&outside), before);
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).expect("present"),
        SECRET
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_names_are_refused_everywhere() {
    let (store, outside) = hostile();
    let before = tree(&outside);
    let base = TestServer::default().spawn_store(store.dir.clone()).await;
    let c = reqwest::Client::new();
    let (hex, _) = common::smollm2_blob();
    let digest = format!("sha256:{hex}");
    let long = "a".repeat(5000);
    let long_ns = format!("{}/m", "n".repeat(81));
    let outside_rel = format!("../../../../..{}/secret.txt", outside.display());
    let hostile: Vec<&str> = vec![
        "../x",
        "/abs",
        "/etc/passwd",
        "a/../../b",
        "%2e%2e",
        "%2e%2e/%2e%2e/x",
        "..",
        ".",
        "good:../../x",
        "good:..",
        "registry.ollama.ai/library/../../../etc/passwd",
        "registry.ollama.ai/../x/y",
        "a\\..\\b",
        "x/y/z/w",
        "x\0y",
        "",
        " ",
        &long,
        &long_ns,
        &outside_rel,
    ];
    for name in &hostile {
        let name = *name;
        let expect_4xx = |what: &str, status: u16, reply: &str| {
            assert!(
                (400..500).contains(&status),
                "{what} {name:?}: {status} {reply}"
            );
        };
        for path in ["show", "generate"] {
            let (s, r) = send(
                c.post(format!("{base}/api/{path}"))
                    .json(&json!({"model": name, "prompt": "hi", "stream": false})),
            )
            .await;
            expect_4xx(path, s, &r);
        }
        let (s, r) = send(
            c.delete(format!("{base}/api/delete"))
                .json(&json!({"model": name})),
        )
        .await;
        expect_4xx("delete", s, &r);
        let (s, r) = send(
            c.post(format!("{base}/api/copy"))
                .json(&json!({"source": "good", "destination": name})),
        )
        .await;
        expect_4xx("copy to", s, &r);
        let (s, r) = send(
            c.post(format!("{base}/api/copy"))
                .json(&json!({"source": name, "destination": "fine"})),
        )
        .await;
        expect_4xx("copy from", s, &r);
        let (s, r) = send(
            c.post(format!("{base}/api/create"))
                .json(&json!({"model": name, "from": "good", "stream": false})),
        )
        .await;
        expect_4xx("create", s, &r);
        let (s, r) = send(
            c.post(format!("{base}/api/create"))
                .json(&json!({"model": "fine2", "from": name, "stream": false})),
        )
        .await;
        expect_4xx("create from", s, &r);
        let (s, r) = send(
            c.post(format!("{base}/api/create"))
                .json(&json!({"model": "fine3", "files": {name: digest}, "stream": false})),
        )
        .await;
        expect_4xx("create files", s, &r);
    }
    // Hostile digests in the blobs routes.
    for d in [
        "sha256:..%2F..%2Fsecret",
        "sha256-..",
        "..%2F..%2Fetc%2Fpasswd",
        "sha256:%2e%2e",
        &format!("sha256:{}", "g".repeat(64)),
        &format!("sha512:{hex}"),
        &format!("sha256:{hex}0"),
    ] {
        let (s, r) = send(c.head(format!("{base}/api/blobs/{d}"))).await;
        assert!((400..500).contains(&s), "head {d}: {s} {r}");
        let (s, r) = send(c.post(format!("{base}/api/blobs/{d}")).body("x")).await;
        assert!((400..500).contains(&s), "post {d}: {s} {r}");
    }
    // Nothing was created: only the good model is listed, no `fine*` anywhere.
    assert_eq!(names(&base).await, ["good:latest"]);
    assert_eq!(tree(&outside), before);
    let written: Vec<String> = tree(&store.dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.contains("fine") || p.contains("passwd") || p.contains("secret"))
        .collect();
    assert!(written.is_empty(), "{written:?}");
    let mut top: Vec<String> = std::fs::read_dir(&store.dir)
        .expect("store")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    top.sort();
    assert_eq!(top, ["blobs", "manifests"]);
    assert!(!store.dir.parent().expect("tmp").join("x").exists());
    // The server still answers, and still serves the good model.
    let r = post(&format!("{base}/api/show"), json!({"model": "good:latest"})).await;
    assert_eq!(r.status(), 200);
}
