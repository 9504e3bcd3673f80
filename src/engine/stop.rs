//! Stop strings over streamed text: text that might be the start of a stop string is held
//! back, so nothing is ever streamed that would later have to be retracted.

pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

/// What a new piece of text produced.
#[derive(Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// Safe to send now (possibly empty).
    Emit(String),
    /// A stop string matched: send this text (before the match), then finish.
    Stop(String),
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops,
            pending: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> StopOutcome {
        self.pending.push_str(text);
        let first_match = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min();
        if let Some(at) = first_match {
            let before = self.pending[..at].to_string();
            self.pending.clear();
            return StopOutcome::Stop(before);
        }
        let hold = self
            .stops
            .iter()
            .map(|s| longest_prefix_suffix(&self.pending, s))
            .max()
            .unwrap_or(0);
        let cut = self.pending.len() - hold;
        let emit = self.pending[..cut].to_string();
        self.pending.drain(..cut);
        StopOutcome::Emit(emit)
    }

    /// Text still held back when generation ends for another reason.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop`, on char
/// boundaries.
fn longest_prefix_suffix(text: &str, stop: &str) -> usize {
    let max = stop.len().saturating_sub(1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n)
                && stop.is_char_boundary(n)
                && text.ends_with(&stop[..n])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_partial_matches_and_stops() {
        let mut m = StopMatcher::new(vec!["END".into(), "\n\n".into()]);
        assert_eq!(m.push("hello E"), StopOutcome::Emit("hello ".into()));
        assert_eq!(m.push("N"), StopOutcome::Emit(String::new()));
        assert_eq!(m.push("x"), StopOutcome::Emit("ENx".into()));
        assert_eq!(m.push(" a\n"), StopOutcome::Emit(" a".into()));
        assert_eq!(m.push("\nrest"), StopOutcome::Stop(String::new()));
        let mut m = StopMatcher::new(vec!["stop".into()]);
        assert_eq!(m.push("a st"), StopOutcome::Emit("a ".into()));
        assert_eq!(m.push("op and more"), StopOutcome::Stop("".into()));
        let mut m = StopMatcher::new(vec!["é!".into()]);
        assert_eq!(m.push("café"), StopOutcome::Emit("caf".into()));
        assert_eq!(m.flush(), "é");
    }
}
