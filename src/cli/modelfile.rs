//! Ollama's Modelfile: parsing (`FROM`, `PARAMETER`, `TEMPLATE`, `SYSTEM`, `MESSAGE`,
//! `LICENSE`, `ADAPTER`, quoting and `"""` blocks) into the body of a create call.
