//! Content digests as Ollama writes them: `sha256:<64 hex>` on the wire and in manifests,
//! `sha256-<64 hex>` as a blob's file name.

use std::fmt;
use std::io::Read;

use sha2::{Digest as _, Sha256};

/// A validated sha256 digest (64 lowercase hex characters). Nothing else can be built into a
/// blob path, so a digest from a request or a manifest cannot name a file outside `blobs/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Accepts `sha256:<hex>` and `sha256-<hex>` (Ollama's `^sha256[:-][0-9a-fA-F]{64}$`).
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s
            .strip_prefix("sha256:")
            .or_else(|| s.strip_prefix("sha256-"))?;
        Self::from_hex(hex)
    }

    /// 64 hex characters, no prefix.
    pub fn from_hex(hex: &str) -> Option<Self> {
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(hex.to_ascii_lowercase()))
    }

    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(hex(&Sha256::digest(bytes)))
    }

    /// The digest of everything `reader` yields, and how many bytes that was.
    pub fn of_reader(mut reader: impl Read) -> std::io::Result<(Self, u64)> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok((Self(hex(&hasher.finalize())), total));
            }
            hasher.update(&buf[..n]);
            total += n as u64;
        }
    }

    pub fn from_hasher(hasher: Sha256) -> Self {
        Self(hex(&hasher.finalize()))
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// `sha256-<hex>`: the blob's file name.
    pub fn file_name(&self) -> String {
        format!("sha256-{}", self.0)
    }

    /// The 12 characters Ollama shows (`pulling 8eeb52dfb3bb`).
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid digest {s:?}")))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_spellings_and_nothing_else() {
        let hex = "a".repeat(64);
        let d = Digest::parse(&format!("sha256:{hex}")).expect("colon");
        assert_eq!(
            Digest::parse(&format!("sha256-{}", hex.to_uppercase())),
            Some(d.clone())
        );
        assert_eq!(d.file_name(), format!("sha256-{hex}"));
        assert_eq!(d.to_string(), format!("sha256:{hex}"));
        for bad in [
            String::new(),
            hex.clone(),
            format!("sha256:{}", &hex[..63]),
            format!("sha256:{hex}0"),
            format!("sha256:../{}", &hex[..61]),
            format!("sha512:{hex}"),
            format!("sha256:{}g", &hex[..63]),
        ] {
            assert!(Digest::parse(&bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            Digest::of_bytes(b"").hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
