//! The `tokenizer.ggml.pre` profiles of byte-level BPE vocabularies: which regexes split the
//! text into words before BPE, and the per-profile flags llama.cpp attaches to them.
//!
//! The regexes are llama.cpp's (`src/llama-vocab.cpp`, `llm_tokenizer_bpe`), not the HF
//! originals, because our goldens and Ollama's behaviour come from llama.cpp. llama.cpp applies
//! the list in order, each regex splitting the pieces left by the previous one and keeping the
//! unmatched stretches as pieces of their own; that is exactly a sequence of
//! `Split(regex, Isolated)` pre-tokenizers. A `pre` value that is not in this table is refused:
//! a wrong split silently degrades every prompt.

/// GPT-2's split (also the second stage of several profiles).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

// The letter class is spelled with code points: several of its characters (U+1FD3, U+2126,
// U+212A, …) would be changed by Unicode normalization of the source text, which breaks ranges.
const DEEPSEEK_LLM: &[&str] = &[
    r"[\r\n]",
    r"\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+",
    r"\s?[!-/:-~！-／：-～‘-‟　-。]+",
    r"\s+$",
    r"[一-龥ࠀ-一가-퟿]+",
    r"\p{N}+",
];

const DEEPSEEK_CODER: &[&str] = &[
    r"[\r\n]",
    r"\s?\p{L}+",
    r"\s?\p{P}+",
    r"[一-龥ࠀ-一가-퟿]+",
    r"\p{N}",
];

const DEEPSEEK3: &[&str] = &[
    r"\p{N}{1,3}",
    r"[一-龥぀-ゟ゠-ヿ]+",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
];

const FALCON: &[&str] = &[r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"];

const STARCODER: &[&str] = &[r"\p{N}", GPT2];

const DEFAULT: &[&str] = &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"];

/// How llama.cpp pre-tokenizes one `pre` family.
#[derive(Debug, Clone, Copy)]
pub struct PreProfile {
    /// Applied in order, each one splitting the pieces of the previous one.
    pub regexes: &'static [&'static str],
    /// Take a whole word as one token when the vocabulary has it, before any merge
    /// (llama.cpp `ignore_merges`; HF `BPE.ignore_merges`).
    pub ignore_merges: bool,
    /// llama.cpp's default for `add_bos` when the GGUF has no `add_bos_token` key.
    pub add_bos: bool,
}

const fn profile(regexes: &'static [&'static str]) -> PreProfile {
    PreProfile {
        regexes,
        ignore_merges: false,
        add_bos: false,
    }
}

/// The profile for a `tokenizer.ggml.pre` value, or `None` when we do not know it.
pub fn pre_profile(pre: &str) -> Option<PreProfile> {
    let p = match pre {
        "default" => profile(DEFAULT),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => PreProfile {
            regexes: &[LLAMA3],
            ignore_merges: true,
            add_bos: true,
        },
        "dbrx" | "smaug-bpe" => profile(&[LLAMA3]),
        "deepseek-llm" => profile(DEEPSEEK_LLM),
        "deepseek-coder" => profile(DEEPSEEK_CODER),
        "deepseek-v3" | "hunyuan-dense" | "joyai-llm" | "hy_v4" => profile(DEEPSEEK3),
        "falcon" => profile(FALCON),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b"
        | "mellum2" => profile(STARCODER),
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de"
        | "a.x-4.0" | "mellum" | "exaone4" | "mpt" | "olmo" | "jais" | "trillion"
        | "granite-docling" => profile(&[GPT2]),
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" | "stablelm2" | "hunyuan"
        | "solar-open" => profile(&[QWEN2]),
        "qwen35" => profile(&[QWEN35]),
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => profile(&[GPT4O]),
        "tekken" => PreProfile {
            regexes: &[TEKKEN],
            ignore_merges: true,
            add_bos: true,
        },
        _ => return None,
    };
    Some(p)
}

/// One name per distinct profile, tried in this order when recognising a `tokenizer.json`.
const NAMED: &[&str] = &[
    "llama-bpe",
    "dbrx",
    "qwen2",
    "qwen35",
    "gpt-4o",
    "tekken",
    "smollm",
    "gpt-2",
    "deepseek-llm",
    "deepseek-coder",
    "deepseek-v3",
    "falcon",
    "default",
];

/// HF spells the contractions case-insensitively; llama.cpp (and our table) with classes.
const HF_CONTRACTIONS: &str = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
const CPP_CONTRACTIONS: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

/// The `pre` name whose split regexes are `regexes` (as a `tokenizer.json` pre-tokenizer
/// lists them, HF or llama.cpp spelling), preferring one whose `ignore_merges` agrees.
pub fn pre_for_regexes(regexes: &[String], ignore_merges: bool) -> Option<&'static str> {
    let normalized: Vec<String> = regexes
        .iter()
        .map(|r| r.replace(HF_CONTRACTIONS, CPP_CONTRACTIONS))
        .collect();
    let matching: Vec<(&'static str, PreProfile)> = NAMED
        .iter()
        .filter_map(|&name| Some((name, pre_profile(name)?)))
        .filter(|(_, p)| {
            p.regexes
                .iter()
                .copied()
                .eq(normalized.iter().map(String::as_str))
        })
        .collect();
    matching
        .iter()
        .find(|(_, p)| p.ignore_merges == ignore_merges)
        .or(matching.first())
        .map(|(name, _)| *name)
}

/// GPT-2's split regex: what a `ByteLevel` pre-tokenizer with `use_regex` applies.
pub const GPT2_REGEX: &str = GPT2;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every regex must compile in the engine `tokenizers` uses (fancy-regex).
    #[test]
    fn all_regexes_compile() {
        for pre in [
            "default",
            "llama-bpe",
            "dbrx",
            "deepseek-llm",
            "deepseek-coder",
            "deepseek-v3",
            "falcon",
            "smollm",
            "gpt-2",
            "qwen2",
            "qwen35",
            "gpt-4o",
            "tekken",
        ] {
            let p = pre_profile(pre).expect("known profile");
            for re in p.regexes {
                tokenizers::pre_tokenizers::split::Split::new(
                    tokenizers::pre_tokenizers::split::SplitPattern::Regex((*re).to_string()),
                    tokenizers::SplitDelimiterBehavior::Isolated,
                    false,
                )
                .unwrap_or_else(|e| panic!("{pre}: {re}: {e}"));
            }
        }
        assert!(pre_profile("nonsense").is_none());
    }

    #[test]
    fn hf_regexes_are_recognised() {
        let llama3_hf = LLAMA3.replace(CPP_CONTRACTIONS, HF_CONTRACTIONS);
        assert_eq!(pre_for_regexes(&[llama3_hf], true), Some("llama-bpe"));
        assert_eq!(pre_for_regexes(&[LLAMA3.to_string()], false), Some("dbrx"));
        let smol = [r"\p{N}".to_string(), GPT2.to_string()];
        assert_eq!(pre_for_regexes(&smol, false), Some("smollm"));
        assert_eq!(pre_for_regexes(&["x".to_string()], false), None);
    }
}
