//! `show`: a model's details, or one of its parts (`--modelfile`, `--parameters`, …), as
//! Ollama's `ShowHandler` and `showInfo` print them.

use serde_json::{json, Map, Value};

use super::args::ShowArgs;
use super::table::Table;
use super::wire::ShowResponse;
use super::{CliError, Client};

/// One of the parts `show` prints verbatim instead of the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    License,
    Modelfile,
    Parameters,
    System,
    Template,
}

impl Part {
    /// The part the flags ask for; two at once is Ollama's error.
    pub fn from_flags(args: &ShowArgs) -> Result<Option<Part>, CliError> {
        let set: Vec<Part> = [
            (args.license, Part::License),
            (args.modelfile, Part::Modelfile),
            (args.parameters, Part::Parameters),
            (args.system, Part::System),
            (args.template, Part::Template),
        ]
        .into_iter()
        .filter_map(|(on, part)| on.then_some(part))
        .collect();
        match set.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(CliError::Usage(
                "only one of '--license', '--modelfile', '--parameters', '--system', or '--template' can be specified"
                    .into(),
            )),
        }
    }
}

pub async fn show(client: &Client, args: ShowArgs) -> Result<(), CliError> {
    let part = Part::from_flags(&args)?;
    let body = json!({"model": args.model, "verbose": args.verbose});
    let resp: ShowResponse = client.post("/api/show", &body).await?;
    if resp.capabilities.iter().any(|c| c == "image") {
        return Err(CliError::Usage(
            "image generation models are not currently supported".into(),
        ));
    }
    match part {
        Some(part) => print!("{}", part_text(&resp, part)),
        None => print!("{}", info(&resp, args.verbose)),
    }
    Ok(())
}

/// What `show --<part>` prints: the field as is, with a final newline for the license,
/// Modelfile and parameters only (Ollama's `Println` there, `Print` for system/template).
pub fn part_text(resp: &ShowResponse, part: Part) -> String {
    match part {
        Part::License => format!("{}\n", resp.license),
        Part::Modelfile => format!("{}\n", resp.modelfile),
        Part::Parameters => format!("{}\n", resp.parameters),
        Part::System => resp.system.clone(),
        Part::Template => resp.template.clone(),
    }
}

/// The summary `show MODEL` prints (and `/show info` in a chat): the Model table, then
/// Capabilities, Projector, Parameters, with `verbose` Metadata and Tensors, then the
/// first lines of System and License — each section a titled table and a blank line.
pub fn info(resp: &ShowResponse, verbose: bool) -> String {
    let mut out = String::new();
    // An empty map is taken for an absent one: the lenient wire type cannot tell them apart.
    let model_info = (!resp.model_info.is_empty()).then_some(&resp.model_info);

    section(&mut out, "Model", model_rows(resp, model_info));
    if !resp.capabilities.is_empty() {
        let rows = resp
            .capabilities
            .iter()
            .map(|c| vec![String::new(), c.clone()]);
        section(&mut out, "Capabilities", rows.collect());
    }
    if !resp.projector_info.is_empty() {
        section(&mut out, "Projector", projector_rows(&resp.projector_info));
    }
    if !resp.parameters.is_empty() {
        let rows = resp.parameters.lines().filter(|l| !l.is_empty()).map(|l| {
            let mut row = vec![String::new()];
            row.extend(l.split_whitespace().map(str::to_string));
            row
        });
        section(&mut out, "Parameters", rows.collect());
    }
    if let (Some(info), true) = (model_info, verbose) {
        let mut keys: Vec<&String> = info.keys().collect();
        keys.sort();
        let rows = keys
            .into_iter()
            .map(|k| vec![String::new(), k.clone(), metadata_value(&info[k])]);
        section(&mut out, "Metadata", rows.collect());
    }
    if let (Some(tensors), true) = (&resp.tensors, verbose) {
        if !tensors.is_empty() {
            let rows = tensors.iter().map(|t| {
                let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
                vec![
                    String::new(),
                    t.name.clone(),
                    t.kind.clone(),
                    format!("[{}]", shape.join(" ")),
                ]
            });
            section(&mut out, "Tensors", rows.collect());
        }
    }
    if !resp.system.is_empty() {
        section(&mut out, "System", head(&resp.system, 2));
    }
    if !resp.license.is_empty() {
        section(&mut out, "License", head(&resp.license, 2));
    }
    out
}

/// `  Title`, its rows as a table (System and License wrap at 100 columns, the rest at
/// tablewriter's 30), a blank line.
fn section(out: &mut String, title: &str, rows: Vec<Vec<String>>) {
    out.push_str(&format!("  {title}\n"));
    let mut table = Table::new();
    if matches!(title, "Template" | "System" | "License") {
        table = table.col_width(100);
    }
    for row in rows {
        table.row(row);
    }
    out.push_str(&table.render());
    out.push('\n');
}

fn model_rows(resp: &ShowResponse, model_info: Option<&Map<String, Value>>) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = |k: &str, v: String| rows.push(vec![String::new(), k.to_string(), v]);
    if !resp.remote_host.is_empty() {
        row("Remote model", resp.remote_model.clone());
        row("Remote URL", resp.remote_host.clone());
    }
    match model_info {
        Some(info) => {
            let arch = info
                .get("general.architecture")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !arch.is_empty() {
                row("architecture", arch.to_string());
            }
            let params = match resp.details.parameter_size.as_str() {
                "" => info
                    .get("general.parameter_count")
                    .and_then(Value::as_f64)
                    .map(|n| human_number(n as u64))
                    .unwrap_or_default(),
                size => size.to_string(),
            };
            if !params.is_empty() {
                row("parameters", params);
            }
            for (key, label) in [
                ("context_length", "context length"),
                ("embedding_length", "embedding length"),
            ] {
                if let Some(n) = info.get(&format!("{arch}.{key}")).and_then(Value::as_f64) {
                    row(label, n.to_string());
                }
            }
        }
        None => {
            row("architecture", resp.details.family.clone());
            row("parameters", resp.details.parameter_size.clone());
        }
    }
    row("quantization", resp.details.quantization_level.clone());
    if !resp.requires.is_empty() {
        row("requires", resp.requires.clone());
    }
    rows
}

fn projector_rows(info: &Map<String, Value>) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = |k: &str, v: String| rows.push(vec![String::new(), k.to_string(), v]);
    let arch = info
        .get("general.architecture")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !arch.is_empty() {
        row("architecture", arch.to_string());
    }
    if let Some(n) = info.get("general.parameter_count").and_then(Value::as_f64) {
        row("parameters", human_number(n as u64));
    }
    // The vision or the audio tower's, whichever the projector has.
    let value = |suffix: &str| {
        ["vision", "audio"].iter().find_map(|m| {
            info.get(&format!("{arch}.{m}.{suffix}"))
                .and_then(Value::as_f64)
        })
    };
    if let Some(n) = value("embedding_length") {
        row("embedding length", n.to_string());
    }
    if let Some(n) = value("projection_dim") {
        row("dimensions", n.to_string());
    }
    rows
}

/// The first `n` non-blank lines, trimmed, and "..." when there were more.
fn head(text: &str, n: usize) -> Vec<Vec<String>> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut rows: Vec<Vec<String>> = lines
        .iter()
        .take(n)
        .map(|l| vec![String::new(), l.to_string()])
        .collect();
    if lines.len() > n {
        rows.push(vec![String::new(), "...".into()]);
    }
    rows
}

/// A Metadata cell: Go's `%t`, the string, `%g`, or for an array as many items as fit in
/// about ten columns and a count of the rest (`[a b ...+3 more]`).
fn metadata_value(v: &Value) -> String {
    match v {
        Value::Bool(_) | Value::String(_) | Value::Number(_) => go_value(v),
        Value::Array(items) => {
            const TARGET: usize = 10;
            let mut total = 1;
            let mut shown = 0;
            for (i, item) in items.iter().enumerate() {
                let width = unicode_width::UnicodeWidthStr::width(go_value(item).as_str())
                    + if i > 0 { 2 } else { 0 };
                if total + width > TARGET && i > 0 {
                    break;
                }
                total += width;
                shown += 1;
            }
            let list = |items: &[Value]| {
                let parts: Vec<String> = items.iter().map(go_value).collect();
                format!("[{}]", parts.join(" "))
            };
            match shown < items.len() {
                true => {
                    let head = list(&items[..shown]);
                    let head = head.strip_suffix(']').unwrap_or(&head);
                    format!("{head} ...+{} more]", items.len() - shown)
                }
                false => list(items),
            }
        }
        // Go's `%T` of what JSON decodes to.
        Value::Object(_) => "map[string]interface {}".into(),
        Value::Null => "<nil>".into(),
    }
}

/// Go's `%v` of a decoded JSON value (numbers are float64 there).
fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or_default()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_value(&map[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%g`/`%v` of a float64: the shortest digits, in exponent form (`8e+09`, `1e-05`)
/// when the exponent is below -4 or at least 6 (as `fmt.Println(1e6)` prints `1e+06`).
fn go_float(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// Ollama's `format.HumanNumber`: 7B, 1.5B, 135M, 133.70M, 12K.
pub fn human_number(n: u64) -> String {
    const THOUSAND: f64 = 1e3;
    const MILLION: f64 = 1e6;
    const BILLION: f64 = 1e9;
    let f = n as f64;
    match f {
        f if f >= BILLION => match f / BILLION {
            v if v == v.floor() => format!("{v:.0}B"),
            v => format!("{v:.1}B"),
        },
        f if f >= MILLION => match f / MILLION {
            v if v == v.floor() => format!("{v:.0}M"),
            v => format!("{v:.2}M"),
        },
        f if f >= THOUSAND => format!("{:.0}K", f / THOUSAND),
        _ => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! The goldens of Ollama's `TestShowInfo` (cmd/cmd_test.go).
    use super::*;
    use crate::cli::wire::{Details, Tensor};

    fn bare() -> ShowResponse {
        ShowResponse {
            details: Details {
                family: "test".into(),
                parameter_size: "7B".into(),
                quantization_level: "FP16".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn bare_details() {
        assert_eq!(
            info(&bare(), false),
            "  Model\n    architecture    test    \n    parameters      7B      \n    quantization    FP16    \n\n"
        );
    }

    #[test]
    fn bare_model_info() {
        let resp = ShowResponse {
            model_info: map(json!({
                "general.architecture": "test",
                "general.parameter_count": 7_000_000_000u64,
                "test.context_length": 0,
                "test.embedding_length": 0,
            })),
            ..bare()
        };
        assert_eq!(
            info(&resp, false),
            "  Model\n\
             \x20   architecture        test    \n\
             \x20   parameters          7B      \n\
             \x20   context length      0       \n\
             \x20   embedding length    0       \n\
             \x20   quantization        FP16    \n\n"
        );
    }

    #[test]
    fn verbose_model() {
        let resp = ShowResponse {
            details: Details {
                parameter_size: "8B".into(),
                ..bare().details
            },
            parameters: "\n\t\t\tstop up".into(),
            model_info: map(json!({
                "general.architecture": "test",
                "general.parameter_count": 8_000_000_000u64,
                "some.true_bool": true,
                "some.false_bool": false,
                "test.context_length": 1000,
                "test.embedding_length": 11434,
            })),
            tensors: Some(vec![
                Tensor {
                    name: "blk.0.attn_k.weight".into(),
                    kind: "BF16".into(),
                    shape: vec![42, 3117],
                },
                Tensor {
                    name: "blk.0.attn_q.weight".into(),
                    kind: "FP16".into(),
                    shape: vec![3117, 42],
                },
            ]),
            ..bare()
        };
        let expect = "  Model
    architecture        test     
    parameters          8B       
    context length      1000     
    embedding length    11434    
    quantization        FP16     

  Parameters
    stop    up    

  Metadata
    general.architecture       test     
    general.parameter_count    8e+09    
    some.false_bool            false    
    some.true_bool             true     
    test.context_length        1000     
    test.embedding_length      11434    

  Tensors
    blk.0.attn_k.weight    BF16    [42 3117]    
    blk.0.attn_q.weight    FP16    [3117 42]    

";
        assert_eq!(info(&resp, true), expect);
        // Without -v: no Metadata, no Tensors.
        let short = info(&resp, false);
        assert!(
            !short.contains("Metadata") && !short.contains("Tensors"),
            "{short}"
        );
    }

    #[test]
    fn parameters() {
        let resp = ShowResponse {
            parameters: "\n\t\t\tstop never\n\t\t\tstop gonna\n\t\t\tstop give\n\t\t\tstop you\n\t\t\tstop up\n\t\t\ttemperature 99".into(),
            ..bare()
        };
        let expect = "  Model
    architecture    test    
    parameters      7B      
    quantization    FP16    

  Parameters
    stop           never    
    stop           gonna    
    stop           give     
    stop           you      
    stop           up       
    temperature    99       

";
        assert_eq!(info(&resp, false), expect);
    }

    #[test]
    fn projector_info() {
        let resp = ShowResponse {
            projector_info: map(json!({
                "general.architecture": "clip",
                "general.parameter_count": 133_700_000u64,
                "clip.vision.embedding_length": 0,
                "clip.vision.projection_dim": 0,
            })),
            ..bare()
        };
        let expect = "  Model
    architecture    test    
    parameters      7B      
    quantization    FP16    

  Projector
    architecture        clip       
    parameters          133.70M    
    embedding length    0          
    dimensions          0          

";
        assert_eq!(info(&resp, false), expect);
    }

    #[test]
    fn system_shows_two_lines() {
        let resp = ShowResponse {
            system: "You are a pirate!\nAhoy, matey!\nWeigh anchor!\n\t\t\t".into(),
            ..bare()
        };
        let expect = "  Model
    architecture    test    
    parameters      7B      
    quantization    FP16    

  System
    You are a pirate!    
    Ahoy, matey!         
    ...                  

";
        assert_eq!(info(&resp, false), expect);
    }

    #[test]
    fn license() {
        let resp = ShowResponse {
            license: "MIT License\nCopyright (c) Ollama\n".into(),
            ..bare()
        };
        let expect = "  Model
    architecture    test    
    parameters      7B      
    quantization    FP16    

  License
    MIT License             
    Copyright (c) Ollama    

";
        assert_eq!(info(&resp, false), expect);
    }

    #[test]
    fn capabilities() {
        let resp = ShowResponse {
            capabilities: vec!["vision".into(), "tools".into()],
            ..bare()
        };
        assert_eq!(
            info(&resp, false),
            "  Model\n    architecture    test    \n    parameters      7B      \n    quantization    FP16    \n\n  Capabilities\n    vision    \n    tools     \n\n"
        );
    }

    #[test]
    fn min_version() {
        let resp = ShowResponse {
            requires: "0.19.0".into(),
            ..bare()
        };
        assert!(info(&resp, false).contains("    requires        0.19.0    \n"));
    }

    #[test]
    fn metadata_values_as_go_prints_them() {
        assert_eq!(metadata_value(&json!(134515008)), "1.34515008e+08");
        assert_eq!(metadata_value(&json!(100000)), "100000");
        assert_eq!(metadata_value(&json!(1000000)), "1e+06");
        assert_eq!(metadata_value(&json!(0.00001)), "1e-05");
        assert_eq!(metadata_value(&json!(0.5)), "0.5");
        assert_eq!(metadata_value(&json!(0)), "0");
        assert_eq!(metadata_value(&json!(["a", "b"])), "[a b]");
        assert_eq!(
            metadata_value(&json!(["<|im_start|>", "b", "c"])),
            "[<|im_start|> ...+2 more]"
        );
        assert_eq!(
            metadata_value(&json!([1, 2, 3, 4, 5])),
            "[1 2 3 ...+2 more]"
        );
        assert_eq!(metadata_value(&json!([])), "[]");
        assert_eq!(metadata_value(&Value::Null), "<nil>");
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human_number(7_000_000_000), "7B");
        assert_eq!(human_number(1_500_000_000), "1.5B");
        assert_eq!(human_number(134_515_008), "134.52M");
        assert_eq!(human_number(135_000_000), "135M");
        assert_eq!(human_number(12_345), "12K");
        assert_eq!(human_number(999), "999");
    }

    #[test]
    fn two_part_flags_are_refused() {
        let args = |license, template| ShowArgs {
            model: "m".into(),
            license,
            modelfile: false,
            parameters: false,
            template,
            system: false,
            verbose: false,
        };
        assert_eq!(
            Part::from_flags(&args(true, false)).ok(),
            Some(Some(Part::License))
        );
        assert_eq!(Part::from_flags(&args(false, false)).ok(), Some(None));
        let err = Part::from_flags(&args(true, true))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("only one of '--license', '--modelfile', '--parameters', '--system', or '--template' can be specified")
        );
    }

    #[test]
    fn parts_are_verbatim() {
        let resp = ShowResponse {
            template: "{{ .Prompt }}".into(),
            system: "Be brief.".into(),
            license: "MIT".into(),
            ..bare()
        };
        assert_eq!(part_text(&resp, Part::Template), "{{ .Prompt }}");
        assert_eq!(part_text(&resp, Part::System), "Be brief.");
        assert_eq!(part_text(&resp, Part::License), "MIT\n");
    }
}
