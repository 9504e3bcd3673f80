//! The OpenAPI document (`GET /openapi.json`): valid OpenAPI 3.1 (read back by utoipa's own
//! types, and checked against the official OAS 3.1 JSON Schema), in step with the router
//! (every route documented, nothing documented that is not routed), and true: real replies
//! of the real server on smollm2 match the schemas their operations document, and name no
//! field the schemas leave out.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Map, Value};

use common::TestServer;

const OPERATIONS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    serde_json::to_value(rollama::server::openapi::document()).expect("document as JSON")
}

fn oas_schema() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi/oas-3.1-schema.json");
    let text = std::fs::read_to_string(&path).expect("read the OAS 3.1 schema");
    serde_json::from_str(&text).expect("the OAS 3.1 schema is JSON")
}

#[test]
fn the_document_is_openapi_3_1_by_the_official_schema() {
    let doc = document();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    let validator = jsonschema::validator_for(&oas_schema()).expect("compile the OAS schema");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not valid OpenAPI 3.1:\n{}",
        errors.join("\n")
    );
    // The checker is not vacuous: a document without `info` fails it.
    let mut broken = doc.clone();
    if let Some(o) = broken.as_object_mut() {
        o.remove("info");
    }
    assert!(!validator.is_valid(&broken));
}

#[test]
fn the_document_reads_back_into_utoipas_types_unchanged() {
    let doc = document();
    let text = serde_json::to_string(&doc).expect("serialize");
    let parsed: utoipa::openapi::OpenApi = serde_json::from_str(&text).expect("utoipa reads it");
    let again = serde_json::to_value(&parsed).expect("serialize again");
    assert_eq!(again, doc);
}

/// Every component is a valid JSON Schema (2020-12, OpenAPI 3.1's dialect), and every
/// `$ref` anywhere in the document points at something that exists.
#[test]
fn every_schema_is_valid_json_schema_and_every_ref_resolves() {
    let doc = document();
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    assert!(schemas.len() > 30, "{} schemas", schemas.len());
    for (name, schema) in schemas {
        let mut schema = schema.clone();
        if let Some(o) = schema.as_object_mut() {
            o.insert(
                "$schema".into(),
                json!("https://json-schema.org/draft/2020-12/schema"),
            );
        }
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("{name} is not a valid JSON Schema: {e}\n{schema:#}");
        }
    }
    let mut refs = vec![];
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "{} refs", refs.len());
    for r in refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(r.clone());
            }
            o.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// `(path, method)` of every `.route("PATH", METHODS)` under `src/server`, with axum's
/// `{*rest}` written as OpenAPI's `{rest}`.
fn routed() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for file in rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server")) {
        let text = std::fs::read_to_string(&file).expect("read source");
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = rest[at + ".route(".len()..].trim_start();
            // rustfmt may put the path on the next line.
            rest = rest
                .strip_prefix('"')
                .expect("a path literal after .route(");
            let end = rest.find('"').expect("end of the path literal");
            let path = rest[..end].replace("{*", "{");
            let args = call_args(&rest[end + 1..]);
            let methods = methods(args);
            assert!(!methods.is_empty(), "no method in .route(\"{path}\"{args})");
            for m in methods {
                out.insert((path.clone(), m));
            }
        }
    }
    out
}

/// The text up to the `)` that closes the `.route(` whose path was just read.
fn call_args(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return &s[..i],
            ')' => depth -= 1,
            _ => {}
        }
    }
    panic!("unclosed .route(: {s}")
}

/// The method routers named at the outer level of `, get(h).post(h2)`: `get`, `post`.
fn methods(args: &str) -> Vec<String> {
    let mut out = vec![];
    let mut depth = 0;
    let mut word = String::new();
    for c in args.chars() {
        match c {
            '(' => {
                if depth == 0 {
                    match word.as_str() {
                        "any" => out.extend(OPERATIONS.map(String::from)),
                        w if OPERATIONS.contains(&w) => out.push(w.to_string()),
                        w => panic!("unknown method router {w:?} in {args}"),
                    }
                }
                depth += 1;
                word.clear();
            }
            ')' => depth -= 1,
            c if depth == 0 && (c.is_alphanumeric() || c == '_') => word.push(c),
            _ if depth == 0 => word.clear(),
            _ => {}
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            assert!(OPERATIONS.contains(&method.as_str()), "{path}: {method}");
            out.insert((path.clone(), method.clone()));
        }
    }
    out
}

#[test]
fn the_route_parser_reads_every_form_the_router_uses() {
    assert_eq!(methods(", get(meta::root)"), ["get"]);
    assert_eq!(
        methods(",\n head(manage::head_blob).post(manage::post_blob),\n"),
        ["head", "post"]
    );
    assert_eq!(methods(", any(x::y)").len(), 8);
    assert_eq!(call_args(", get(f(a))) .next"), ", get(f(a))");
    let routes = routed();
    for expected in [
        ("/", "get"),
        ("/api/blobs/{digest}", "head"),
        ("/api/blobs/{digest}", "post"),
        ("/v1/models/{model}", "get"),
        ("/v1/{rest}", "trace"),
        ("/openapi.json", "get"),
    ] {
        let expected = (expected.0.to_string(), expected.1.to_string());
        assert!(routes.contains(&expected), "{expected:?} not read");
    }
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let routes = routed();
    let documented = documented(&document());
    let expected = routes;
    let undocumented: Vec<_> = expected.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&expected).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

/// The schema an operation documents for `status` and the reply's content type, as a
/// standalone JSON Schema (the document's components beside it, so `$ref`s resolve).
fn response_schema(
    doc: &Value,
    path: &str,
    method: &str,
    status: u16,
    content_type: &str,
) -> Value {
    let responses = &doc["paths"][path][method]["responses"];
    let response = &responses[status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path}: status {status} is not documented ({})",
        responses
    );
    let essence = |t: &str| t.split(';').next().unwrap_or_default().trim().to_string();
    let content = response["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} {status}: no content documented"));
    let schema = content
        .iter()
        .find(|(t, _)| essence(t.as_str()) == essence(content_type))
        .map(|(_, c)| c["schema"].clone())
        .unwrap_or_else(|| {
            panic!("{method} {path} {status}: {content_type} is not documented ({content:?})")
        });
    let mut standalone = Map::new();
    standalone.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    standalone.insert("components".into(), doc["components"].clone());
    match schema {
        Value::Object(o) => standalone.extend(o),
        other => panic!("{method} {path} {status}: schema {other}"),
    }
    Value::Object(standalone)
}

/// Follows `$ref`s (within the document) to the schema they name.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        schema = r
            .strip_prefix('#')
            .and_then(|p| doc.pointer(p))
            .unwrap_or_else(|| panic!("{r} does not resolve"));
    }
    schema
}

/// The schemas `schema` is made of (itself, its `allOf`/`oneOf`/`anyOf` branches), resolved.
fn branches<'a>(doc: &'a Value, schema: &'a Value, out: &mut Vec<&'a Value>) {
    let schema = resolve(doc, schema);
    out.push(schema);
    for key in ["allOf", "oneOf", "anyOf"] {
        for branch in schema[key].as_array().into_iter().flatten() {
            branches(doc, branch, out);
        }
    }
}

/// The fields of `value` (recursively) that its schema does not name, where the schema names
/// any fields at all (a free-form object, e.g. `model_info`, names none).
fn undocumented(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let mut parts = vec![];
    branches(doc, schema, &mut parts);
    match value {
        Value::Object(fields) => {
            let named: Vec<&Map<String, Value>> = parts
                .iter()
                .filter_map(|p| p["properties"].as_object())
                .collect();
            if named.is_empty() {
                return;
            }
            for (key, v) in fields {
                match named.iter().find_map(|props| props.get(key)) {
                    Some(s) => undocumented(doc, s, v, &format!("{at}.{key}"), out),
                    None => out.push(format!("{at}.{key}")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = parts.iter().find_map(|p| p.get("items")) {
                for (i, v) in items.iter().enumerate() {
                    undocumented(doc, item_schema, v, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.text().await.expect("body");
    Reply {
        status,
        content_type,
        body,
    }
}

/// What is wrong with a reply (each line of an NDJSON one) by what its operation documents:
/// schema violations, and fields the schema does not name.
fn violations(doc: &Value, path: &str, method: &str, reply: &Reply) -> Vec<String> {
    let schema = response_schema(doc, path, method, reply.status, &reply.content_type);
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{method} {path}: schema does not compile: {e}"));
    let values: Vec<Value> = match reply.content_type.starts_with("application/x-ndjson") {
        true => reply
            .body
            .lines()
            .map(|l| serde_json::from_str(l).expect("NDJSON line"))
            .collect(),
        false => vec![serde_json::from_str(&reply.body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}: {}", reply.body))],
    };
    assert!(!values.is_empty(), "{method} {path}: empty reply");
    let mut out = vec![];
    for value in &values {
        out.extend(
            validator
                .iter_errors(value)
                .map(|e| format!("{e} at {} in {value}", e.instance_path())),
        );
        let mut extra = vec![];
        undocumented(doc, &schema, value, "", &mut extra);
        out.extend(
            extra
                .into_iter()
                .map(|f| format!("{f}: not in the schema, in {value}")),
        );
    }
    out
}

fn conforms(doc: &Value, path: &str, method: &str, reply: &Reply) {
    let wrong = violations(doc, path, method, reply);
    assert!(
        wrong.is_empty(),
        "{method} {path} {}: the reply is not what the document says:\n{}",
        reply.status,
        wrong.join("\n")
    );
}

#[tokio::test]
async fn real_replies_match_their_documented_schemas() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let doc = document();
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}"));
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).json(&body);

    // The served document is the one the types build.
    let served = send(get("/openapi.json")).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&served.body).expect("JSON"),
        doc
    );

    for path in ["/api/tags", "/api/version", "/api/ps", "/v1/models"] {
        let reply = send(get(path)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        conforms(&doc, path, "get", &reply);
    }
    let show = send(post("/api/show", json!({"model": "smollm2"}))).await;
    assert_eq!(show.status, 200, "{}", show.body);
    conforms(&doc, "/api/show", "post", &show);

    let options = json!({"num_predict": 4, "temperature": 0});
    let generate = send(post(
        "/api/generate",
        json!({"model": "smollm2", "prompt": "Hi", "stream": false, "options": options}),
    ))
    .await;
    assert_eq!(generate.status, 200, "{}", generate.body);
    conforms(&doc, "/api/generate", "post", &generate);

    let streamed = send(post(
        "/api/chat",
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}],
            "options": options, "logprobs": true, "top_logprobs": 2}),
    ))
    .await;
    assert_eq!(streamed.status, 200, "{}", streamed.body);
    assert!(streamed.content_type.starts_with("application/x-ndjson"));
    conforms(&doc, "/api/chat", "post", &streamed);

    let completion = send(post(
        "/v1/chat/completions",
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 4, "temperature": 0}),
    ))
    .await;
    assert_eq!(completion.status, 200, "{}", completion.body);
    conforms(&doc, "/v1/chat/completions", "post", &completion);

    // After the generations, ps lists the loaded model.
    let ps = send(get("/api/ps")).await;
    assert!(ps.body.contains("smollm2"), "{}", ps.body);
    conforms(&doc, "/api/ps", "get", &ps);

    // Errors, in each family's shape.
    let missing = send(post("/api/show", json!({"model": "nope"}))).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    conforms(&doc, "/api/show", "post", &missing);
    let malformed = send(client.post(format!("{base}/api/generate")).body("{")).await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    conforms(&doc, "/api/generate", "post", &malformed);
    let openai_missing = send(post(
        "/v1/chat/completions",
        json!({"model": "nope", "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 4}),
    ))
    .await;
    assert_eq!(openai_missing.status, 404, "{}", openai_missing.body);
    conforms(&doc, "/v1/chat/completions", "post", &openai_missing);
}

/// The checks above can fail: a reply with a wrong type, a missing required field or a
/// field the schema does not name is caught.
#[test]
fn the_conformance_check_catches_wrong_replies() {
    let doc = document();
    let reply = |body: Value| Reply {
        status: 200,
        content_type: "application/json; charset=utf-8".into(),
        body: body.to_string(),
    };
    conforms(
        &doc,
        "/api/version",
        "get",
        &reply(json!({"version": "0.12.6"})),
    );
    for bad in [
        json!({"version": 12}),
        json!({}),
        json!({"version": "0.12.6", "extra": true}),
        json!({"models": [{"name": "x"}]}),
    ] {
        let wrong = violations(&doc, "/api/version", "get", &reply(bad.clone()));
        assert!(!wrong.is_empty(), "{bad} passed");
    }
    let tag = json!({"models": [{"name": "x", "model": "x", "modified_at": "t", "size": 1,
        "digest": "d", "details": {"parent_model": "", "format": "gguf", "family": "llama",
        "families": ["llama"], "parameter_size": "1M", "quantization_level": "Q4_0",
        "surprise": 1}}]});
    let wrong = violations(&doc, "/api/tags", "get", &reply(tag));
    assert_eq!(wrong.len(), 1, "{wrong:?}");
    assert!(
        wrong[0].starts_with(".models[0].details.surprise"),
        "{wrong:?}"
    );
}

/// Every documented operation reaches a handler: none of them is answered by the router's
/// fallbacks (`404 page not found`, `405 method not allowed`).
#[tokio::test]
async fn every_documented_operation_reaches_a_handler() {
    let base = TestServer::default().spawn(&[]).await;
    let client = reqwest::Client::new();
    let doc = document();
    for (path, method) in documented(&doc) {
        let url = format!(
            "{base}{}",
            path.replace("{digest}", "sha256:00")
                .replace("{model}", "nope")
                .replace("{rest}", "responses")
        );
        let method_ =
            reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let mut request = client.request(method_, &url);
        if ["post", "put", "patch", "delete"].contains(&method.as_str()) {
            request = request.body("{}");
        }
        let reply = send(request).await;
        // A HEAD reply has no body to tell the fallback's 404 from a handler's.
        let fallback = reply.body == "404 page not found"
            || reply.status == 405
            || (method == "head" && reply.status == 404);
        assert!(
            !fallback,
            "{method} {path}: {} {}",
            reply.status, reply.body
        );
    }
}
