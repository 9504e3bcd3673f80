//! The key set: names and SHA-256 digests of the tokens, parsed from `ROLLAMA_API_KEYS` and
//! the keys file, and the constant-time lookup of a presented token.
//!
//! A token is hashed as soon as it is read and only its digest is kept, so no `Debug`, log
//! line or error message can ever show one: errors name a line or a key's name, never the
//! text around a token.

use std::collections::HashSet;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// Why a key list or keys file is refused. Never quotes a token.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the keys file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{place}: {reason}")]
    Invalid { place: String, reason: &'static str },
    #[error("two keys are named {0:?}")]
    DuplicateName(String),
    #[error("keys {0:?} and {1:?} have the same token")]
    DuplicateToken(String, String),
}

/// One accepted token: its name (logs, metrics, rate limits) and its digest.
#[derive(Clone)]
pub struct Key {
    pub name: Arc<str>,
    digest: [u8; 32],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Key").field(&self.name).finish()
    }
}

impl Key {
    fn new(name: &str, token: &str) -> Self {
        Self {
            name: name.into(),
            digest: digest(token.as_bytes()),
        }
    }
}

/// Every key accepted at one moment; replaced whole on reload.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// `listed` then `filed`, checked together: no two names or tokens alike.
    pub fn new(listed: &[Key], filed: &[Key]) -> Result<Self, KeyError> {
        let keys: Vec<Key> = listed.iter().chain(filed).cloned().collect();
        let mut names = HashSet::new();
        for (i, key) in keys.iter().enumerate() {
            if !names.insert(&key.name) {
                return Err(KeyError::DuplicateName(key.name.to_string()));
            }
            if let Some(twin) = keys[..i].iter().find(|k| k.digest == key.digest) {
                return Err(KeyError::DuplicateToken(
                    twin.name.to_string(),
                    key.name.to_string(),
                ));
            }
        }
        Ok(Self { keys })
    }

    pub fn names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.keys.iter().map(|k| &k.name)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The name of the key whose token is `token`. The token is hashed first, so the
    /// comparisons take the same time whatever its length, and it is compared with every
    /// key, in constant time, without stopping at a match: how long this takes says
    /// nothing about which key, if any, matched or how much of one.
    pub fn find(&self, token: &[u8]) -> Option<Arc<str>> {
        let presented = digest(token);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (i, key) in self.keys.iter().enumerate() {
            let hit = compare(&presented, &key.digest);
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            index.conditional_assign(&i, hit);
            found |= hit;
        }
        match bool::from(found) {
            true => self.keys.get(index as usize).map(|k| Arc::clone(&k.name)),
            false => None,
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn compare(a: &[u8; 32], b: &[u8; 32]) -> subtle::Choice {
    #[cfg(test)]
    tests::COMPARED.with(|n| n.set(n.get() + 1));
    a.ct_eq(b)
}

/// `ROLLAMA_API_KEYS`: comma-separated `name:token` or bare `token` entries; a bare token
/// is named `key<N>` by its position in the list (1-based). A token that holds a `:` needs
/// a name in front of it.
pub fn parse_list(list: &str) -> Result<Vec<Key>, KeyError> {
    let mut keys = vec![];
    for (i, entry) in list.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let place = || format!("ROLLAMA_API_KEYS entry {}", i + 1);
        let (name, token) = match entry.split_once(':') {
            Some((name, token)) => (name.trim().to_string(), token.trim()),
            None => (format!("key{}", i + 1), entry),
        };
        keys.push(checked(&name, token, place)?);
    }
    Ok(keys)
}

/// The keys file: one `name:token` a line (the list's form, a name always required so
/// that moving a line does not rename its key); blank lines and lines starting with `#`
/// are skipped. Surrounding whitespace is trimmed.
pub fn parse_file(text: &str) -> Result<Vec<Key>, KeyError> {
    let mut keys = vec![];
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let place = || format!("keys file line {}", i + 1);
        let Some((name, token)) = line.split_once(':') else {
            return Err(KeyError::Invalid {
                place: place(),
                reason: "expected name:token",
            });
        };
        keys.push(checked(name.trim(), token.trim(), place)?);
    }
    Ok(keys)
}

/// Names are what logs and metric labels show: short, plain, no spaces.
fn checked(name: &str, token: &str, place: impl Fn() -> String) -> Result<Key, KeyError> {
    let invalid = |reason| KeyError::Invalid {
        place: place(),
        reason,
    };
    if token.is_empty() {
        return Err(invalid("empty token"));
    }
    if token.chars().any(char::is_whitespace) {
        return Err(invalid("whitespace inside the token"));
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.@".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
        return Err(invalid("a key's name is 1 to 64 of A-Z a-z 0-9 - _ . @"));
    }
    Ok(Key::new(name, token))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Digest comparisons made on this thread ([`compare`] counts them).
        pub static COMPARED: Cell<usize> = const { Cell::new(0) };
    }

    fn set(list: &str) -> KeySet {
        KeySet::new(&parse_list(list).expect("list"), &[]).expect("set")
    }

    fn compared(f: impl FnOnce()) -> usize {
        COMPARED.with(|n| n.set(0));
        f();
        COMPARED.with(Cell::get)
    }

    #[test]
    fn finds_the_key_by_its_token() {
        let keys = set("alice:tok-a, bob:tok-b,tok-c");
        assert_eq!(keys.find(b"tok-a").as_deref(), Some("alice"));
        assert_eq!(keys.find(b"tok-b").as_deref(), Some("bob"));
        assert_eq!(keys.find(b"tok-c").as_deref(), Some("key3"));
        assert_eq!(keys.find(b"tok-d"), None);
        assert_eq!(keys.find(b"tok-"), None);
        assert_eq!(keys.find(b"tok-aa"), None);
        assert_eq!(keys.find(b""), None);
    }

    #[test]
    fn every_key_is_compared_whether_or_not_one_matches() {
        let keys = set("a:t1,b:t2,c:t3,d:t4");
        let tokens: [&[u8]; 4] = [b"t1", b"t4", b"nope", b"a much longer wrong token"];
        for token in tokens {
            assert_eq!(compared(|| drop(keys.find(token))), 4, "{token:?}");
        }
    }

    #[test]
    fn a_file_takes_names_comments_and_blank_lines() {
        let keys = parse_file("# ops\n\n alice : s3cr:et \n#bob:x\nbob:y\n").expect("file");
        let set = KeySet::new(&[], &keys).expect("set");
        assert_eq!(set.find(b"s3cr:et").as_deref(), Some("alice"));
        assert_eq!(set.find(b"y").as_deref(), Some("bob"));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn refusals_never_quote_the_token() {
        for (text, want) in [
            ("justatoken\n", "keys file line 1: expected name:token"),
            ("a:\n", "keys file line 1: empty token"),
            ("ok:1\nbad name:sekrit\n", "keys file line 2: a key's name"),
            ("a:one two\n", "keys file line 1: whitespace"),
        ] {
            let e = parse_file(text).expect_err(text).to_string();
            assert!(e.starts_with(want), "{e}");
            assert!(!e.contains("justatoken") && !e.contains("sekrit"), "{e}");
        }
        let e = parse_list("a:x,b:").expect_err("empty").to_string();
        assert_eq!(e, "ROLLAMA_API_KEYS entry 2: empty token");
    }

    #[test]
    fn names_and_tokens_are_unique() {
        let list = parse_list("a:x,key2").expect("list");
        let e = KeySet::new(&list, &parse_file("a:z").expect("file")).expect_err("name");
        assert_eq!(e.to_string(), r#"two keys are named "a""#);
        let e = KeySet::new(&list, &parse_file("b:x").expect("file")).expect_err("token");
        assert_eq!(e.to_string(), r#"keys "a" and "b" have the same token"#);
    }

    #[test]
    fn debug_shows_names_only() {
        let keys = set("alice:very-secret-token");
        let shown = format!("{keys:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("very-secret-token"), "{shown}");
    }
}
