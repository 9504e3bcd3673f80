//! Ollama's `collate`: consecutive messages of one role merge into one (joined by a blank
//! line), except tool messages; the system messages' contents are also joined into the
//! `.System` string.

use super::GoMessage;

pub(crate) fn collate(msgs: &[GoMessage]) -> (String, Vec<GoMessage>) {
    let mut system: Vec<&str> = Vec::new();
    let mut collated: Vec<GoMessage> = Vec::new();
    for m in msgs {
        if m.role == "system" {
            system.push(&m.content);
        }
        match collated.last_mut() {
            // Only the content merges; the later message's other fields are dropped, as in Ollama.
            Some(prev) if prev.role == m.role && m.role != "tool" => {
                prev.content.push_str("\n\n");
                prev.content.push_str(&m.content);
            }
            _ => collated.push(m.clone()),
        }
    }
    (system.join("\n\n"), collated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(role: &str, content: &str, tool: &str) -> GoMessage {
        GoMessage {
            role: role.into(),
            content: content.into(),
            tool_name: tool.into(),
            ..Default::default()
        }
    }

    #[test]
    fn merges_same_role_but_not_tools() {
        let (sys, c) = collate(&[m("user", "Hello", ""), m("user", "How are you?", "")]);
        assert_eq!(sys, "");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].content, "Hello\n\nHow are you?");

        let (_, c) = collate(&[m("tool", "sunny", "a"), m("tool", "72F", "b")]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].tool_name, "b");

        let (sys, c) = collate(&[
            m("system", "You are helpful", ""),
            m("user", "Hello", ""),
            m("assistant", "Hi there!", ""),
            m("user", "What's the weather?", ""),
            m("tool", "sunny", "get_weather"),
            m("tool", "72F", "get_temperature"),
            m("user", "Thanks", ""),
        ]);
        assert_eq!(sys, "You are helpful");
        assert_eq!(c.len(), 7);
    }
}
