/// Errors of the text layer: tokenizer construction, encoding, template rendering.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("unsupported tokenizer: {0}")]
    Unsupported(String),
    #[error("invalid tokenizer metadata: {0}")]
    Metadata(String),
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    #[error("template error: {0}")]
    Template(String),
}
