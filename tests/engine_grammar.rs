//! Grammars compiled by llguidance against a real vocabulary (SmolLM2's): the forced-call
//! grammar of every tool syntax, and the JSON ones. A grammar that does not compile would
//! only show as a 400 at request time.

mod common;

use std::sync::Arc;

use rollama::engine::{Grammar, Grammars};
use rollama::model::Checkpoint;
use rollama::text::{Tokenizer, ToolSyntax};
use serde_json::json;

fn grammars() -> (Grammars, Arc<Tokenizer>) {
    let file = Checkpoint::open(&common::model_path("smollm2")).expect("open gguf");
    let tokenizer = Arc::new(Tokenizer::from_gguf(file.metadata()).expect("tokenizer"));
    (Grammars::new(Arc::clone(&tokenizer)), tokenizer)
}

#[test]
fn forced_call_grammars_of_every_syntax_compile() {
    let (grammars, tokenizer) = grammars();
    let tools = vec![
        json!({"type": "function", "function": {"name": "get_weather", "parameters":
            {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"},
             "days": {"type": "integer", "minimum": 1, "maximum": 7}}}}}),
        json!({"type": "function", "function": {"name": "ping"}}),
    ];
    // SmolLM2's `<|im_end|>` stands in for a marker that is one control token.
    let im_end = tokenizer.token_id("<|im_end|>").expect("im_end");
    let no_special = |_: &str| None;
    let as_special = |m: &str| (m == "[TOOL_CALLS]" || m == "[ARGS]").then_some(im_end);
    for syntax in [ToolSyntax::Hermes, ToolSyntax::Llama3, ToolSyntax::Mistral] {
        for special in [&no_special as &dyn Fn(&str) -> Option<u32>, &as_special] {
            for only in [None, Some("ping")] {
                for lark in [
                    syntax.forced_grammar(&tools, only, special),
                    syntax.forced_single_call(&tools, only, special),
                ] {
                    let lark = lark.expect("grammar");
                    if let Err(e) = grammars.compile(&Grammar::Lark(lark.clone())) {
                        panic!("{syntax:?}: {e}\n{lark}");
                    }
                }
            }
        }
    }
}

#[test]
fn json_grammars_compile_and_bad_schemas_say_why() {
    let (grammars, _) = grammars();
    assert!(grammars.compile(&Grammar::Json).is_ok());
    let ok = json!({"type": "object", "properties": {"a": {"type": "string", "format": "date"}}});
    assert!(grammars.compile(&Grammar::Schema(ok)).is_ok());
    for (schema, needle) in [
        (json!({"type": "array", "uniqueItems": true}), "uniqueItems"),
        (json!({"type": "object", "not": {}}), "not"),
        (json!({"$ref": "#/$defs/missing"}), "missing"),
        (json!({"type": "integer", "minimum": 5, "maximum": 1}), ""),
    ] {
        match grammars.compile(&Grammar::Schema(schema.clone())) {
            Ok(_) => panic!("{schema} compiled"),
            Err(e) => assert!(e.to_string().contains(needle), "{schema}: {e}"),
        }
    }
}
