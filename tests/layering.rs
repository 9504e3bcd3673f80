//! The layering the crate promises (`src/lib.rs`), checked on the source: `server` → `engine`
//! → `model`, with `api`, `text`, `store` and `pull` as leaves. A file that reaches across a line it
//! must not cross fails this test, naming the file and the path it used.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What each part of `src/` must not use: crate modules (`crate::x`, `super::…::x` are
/// resolved by the folder) and external crates.
const RULES: &[(&str, &[&str], &[&str])] = &[
    // (folder, crate modules it must not use, external crates it must not use)
    (
        "server",
        &["model", "store", "text", "convert"],
        &["candle_core", "candle_nn"],
    ),
    (
        "engine",
        &["server"],
        &["axum", "http", "hyper", "tower", "tower_http"],
    ),
    (
        "model",
        &["server", "engine", "store"],
        &["tokio", "axum", "http", "hyper"],
    ),
    (
        "api",
        &["server", "engine", "model", "store", "text"],
        &["axum", "http", "tokio"],
    ),
    (
        "text",
        &["server", "engine", "model", "store", "api"],
        &["axum", "http", "tokio"],
    ),
    (
        "store",
        &["server", "engine", "model", "text", "api"],
        &["axum", "http", "tokio"],
    ),
    (
        "cli",
        &["server", "engine", "model", "text", "pull", "convert"],
        &["axum", "candle_core", "candle_nn"],
    ),
    (
        "pull",
        &["server", "engine", "model", "text", "api"],
        &["axum"],
    ),
];

#[test]
fn every_part_of_src_uses_only_what_its_layer_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = vec![];
    for (part, modules, crates) in RULES {
        for file in rust_files(&src.join(part)) {
            let text = std::fs::read_to_string(&file).expect("read source");
            for used in violations(&text, modules, crates) {
                broken.push(format!("{}: uses {used}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn the_checker_sees_every_way_of_naming_a_module() {
    let modules = &["model", "store"];
    let crates = &["axum"];
    let sample = r#"
        use crate::model::Checkpoint;
        use crate::{api, store::ModelStore};
        fn f() -> axum::response::Response { todo!() }
        // use crate::text; -- a comment is not a use
        let s = "crate::model in a string is not a use either";
        let q = '"'; let r = '\''; fn g<'a>(x: &'a str) {}
    "#;
    let found = violations(sample, modules, crates);
    assert_eq!(
        found,
        ["axum", "crate::model", "crate::store"]
            .map(String::from)
            .to_vec()
    );
    assert!(violations("use crate::engine::Engine;", modules, crates).is_empty());
    assert!(violations("use crate::modeling;", modules, crates).is_empty());
}

/// The forbidden modules and crates `source` names, sorted.
fn violations(source: &str, modules: &[&str], crates: &[&str]) -> Vec<String> {
    let code = strip_comments_and_strings(source);
    let mut found = BTreeSet::new();
    for module in crate_modules(&code) {
        if modules.contains(&module.as_str()) {
            found.insert(format!("crate::{module}"));
        }
    }
    for name in crates {
        if uses_path_root(&code, name) {
            found.insert(name.to_string());
        }
    }
    found.into_iter().collect()
}

/// The first segment of every `crate::…` path, `crate::{a, b::c}` groups included.
fn crate_modules(code: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let tail = rest.trim_start();
        if let Some(group) = tail.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                out.extend(ident(item.trim()));
            }
        } else {
            out.extend(ident(tail));
        }
    }
    out
}

fn ident(s: &str) -> Option<String> {
    let id: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!id.is_empty()).then_some(id)
}

/// `name::` at the start of a path (not `foo_name::`, not `crate::name::`).
fn uses_path_root(code: &str, name: &str) -> bool {
    let needle = format!("{name}::");
    code.match_indices(&needle).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

/// The code with `//` and `/* */` comments and string literals blanked out.
fn strip_comments_and_strings(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let chars: Vec<char> = source.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1)) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            ('r', Some('#' | '"')) if !prev_is_ident(&chars, i) => {
                // A raw string: r"…" or r#"…"#.
                let mut j = i + 1;
                let mut hashes = 0;
                while chars.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if chars.get(j) != Some(&'"') {
                    out.push(chars[i]);
                    i += 1;
                    continue;
                }
                j += 1;
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let closing: Vec<char> = close.chars().collect();
                while j < chars.len() && !chars[j..].starts_with(&closing) {
                    j += 1;
                }
                i = j + closing.len();
                out.push_str("\"\"");
            }
            ('\'', _) => {
                // A char literal ('"', '\n', '\'') is skipped; a lifetime is kept.
                let end = match chars.get(i + 1) {
                    Some('\\') => (i + 2..chars.len()).find(|&j| chars[j] == '\'' && j > i + 2),
                    Some(_) if chars.get(i + 2) == Some(&'\'') => Some(i + 2),
                    _ => None,
                };
                match end {
                    Some(end) => {
                        out.push_str("' '");
                        i = end + 1;
                    }
                    None => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
            ('"', _) => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}
