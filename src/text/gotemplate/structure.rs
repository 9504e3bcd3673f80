//! Block balance, which Go's parser enforces and `gotmpl`'s does not: its parser ends a list
//! at any `{{end}}`, `{{else}}` or end of input, so `{{if .X}}` alone or a stray `{{end}}`
//! (which would silently drop the rest of the template) parse there. This scan runs after
//! `gotmpl` has lexed the source successfully, so actions are well formed; it only tracks the
//! keywords that open and close blocks.

/// Fails on an unclosed block, a stray `{{end}}`, or an `{{else}}` outside if/with/range.
pub(crate) fn check_blocks(src: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let mut body = &rest[start + 2..];
        if let Some(b) = body.strip_prefix('-') {
            body = b;
        }
        let body = body.trim_start();
        if body.starts_with("/*") {
            // A comment runs to `*/` and its closing delimiter.
            let end = body.find("*/").ok_or("unclosed comment")?;
            rest = &body[end + 2..];
            continue;
        }
        let word: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        match word.as_str() {
            "if" | "range" | "with" | "define" | "block" => stack.push(keyword(&word)),
            "else" => match stack.last() {
                Some(&"if" | &"range" | &"with") => {}
                _ => return Err("unexpected {{else}}".into()),
            },
            "end" => {
                stack.pop().ok_or("unexpected {{end}}")?;
            }
            _ => {}
        }
        let Some(len) = action_len(body) else {
            return Err("unclosed action".into());
        };
        rest = &body[len..];
    }
    match stack.last() {
        Some(open) => Err(format!("unexpected EOF: unclosed {{{{{open}}}}}")),
        None => Ok(()),
    }
}

fn keyword(w: &str) -> &'static str {
    match w {
        "if" => "if",
        "range" => "range",
        "with" => "with",
        "define" => "define",
        _ => "block",
    }
}

/// Bytes up to and including the action's closing `}}`, skipping quoted strings.
fn action_len(body: &str) -> Option<usize> {
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i + 2),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::check_blocks;

    #[test]
    fn balance() {
        assert!(check_blocks("{{ if .X }}a{{ else if .Y }}b{{ else }}c{{ end }}").is_ok());
        assert!(check_blocks("{{- range $i, $m := .M -}}{{ \"}}{{end\" }}{{- end }}").is_ok());
        assert!(check_blocks("{{/* {{ end }} */}}{{ with .X }}{{ end }}").is_ok());
        assert!(check_blocks("{{ if .X }}").is_err());
        assert!(check_blocks("a{{ end }}b").is_err());
        assert!(check_blocks("{{ else }}").is_err());
    }
}
