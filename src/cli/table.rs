//! The table layout Ollama's CLI prints (`github.com/olekukonko/tablewriter` v0.0.5 with
//! `SetBorder(false)`, `SetHeaderLine(false)`, `SetNoWhiteSpace(true)`,
//! `SetTablePadding("    ")`, left-aligned), reproduced byte for byte because scripts cut
//! `ollama list` by columns: every cell is padded to its column's widest cell and followed
//! by four spaces — the last one too, so data lines end in four spaces — while the header
//! line's last cell is followed by a single space. Cells wider than the column limit (30,
//! or what [`Table::col_width`] sets) are word-wrapped onto more lines, as there.

use unicode_width::UnicodeWidthStr;

/// tablewriter's `MAX_ROW_WIDTH`.
const DEFAULT_COL_WIDTH: usize = 30;
const PADDING: &str = "    ";

#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    col_width: usize,
}

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    pub fn new() -> Self {
        Self {
            header: Vec::new(),
            rows: Vec::new(),
            col_width: DEFAULT_COL_WIDTH,
        }
    }

    /// A header line (given as printed: Ollama's headers are already upper case).
    pub fn header(mut self, cells: &[&str]) -> Self {
        self.header = cells.iter().map(|c| c.to_string()).collect();
        self
    }

    /// `SetColWidth`: the width past which a cell is wrapped.
    pub fn col_width(mut self, width: usize) -> Self {
        self.col_width = width;
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = Vec::new();
        let mut measure = |cells: &[String]| -> Vec<Vec<String>> {
            cells
                .iter()
                .enumerate()
                .map(|(col, cell)| {
                    let (lines, width) = self.dimension(cell);
                    if widths.len() <= col {
                        widths.resize(col + 1, 0);
                    }
                    widths[col] = widths[col].max(width);
                    lines
                })
                .collect()
        };
        let header = measure(&self.header);
        let rows: Vec<Vec<Vec<String>>> = self.rows.iter().map(|r| measure(r)).collect();

        let mut out = String::new();
        if !header.is_empty() {
            let height = header.iter().map(Vec::len).max().unwrap_or(0);
            let last = widths.len().saturating_sub(1);
            for line in 0..height {
                for (col, width) in widths.iter().enumerate() {
                    let cell = header
                        .get(col)
                        .and_then(|c| c.get(line))
                        .map_or("", String::as_str);
                    out.push_str(&pad_right(cell, *width));
                    out.push_str(if col == last { " " } else { PADDING });
                }
                out.push('\n');
            }
        }
        for row in &rows {
            let height = row.iter().map(Vec::len).max().unwrap_or(0);
            for line in 0..height {
                for (col, cell) in row.iter().enumerate() {
                    // A cell with fewer lines than its row is filled with two spaces, as
                    // tablewriter does.
                    let text = cell.get(line).map_or("  ", String::as_str);
                    out.push_str(&pad_right(text, widths[col]));
                    out.push_str(PADDING);
                }
                out.push('\n');
            }
        }
        out
    }

    /// tablewriter's `parseDimension`: the cell's lines (reflowed into one paragraph and
    /// wrapped at the column limit) and the width it needs.
    fn dimension(&self, cell: &str) -> (Vec<String>, usize) {
        let raw: Vec<&str> = cell.split('\n').collect();
        let widest = raw.iter().map(|l| l.width()).max().unwrap_or(0);
        let limit = widest.min(self.col_width);
        let lines = wrap(&raw.join(" "), limit);
        let width = lines.iter().map(|l| l.width()).fold(limit, usize::max);
        (lines, width)
    }
}

fn pad_right(s: &str, width: usize) -> String {
    let gap = width.saturating_sub(s.width());
    format!("{s}{}", " ".repeat(gap))
}

/// tablewriter's `WrapString`: words split on single spaces, broken into lines of at most
/// `limit` columns (more when one word is longer) with the least raggedness.
fn wrap(s: &str, limit: usize) -> Vec<String> {
    let words: Vec<&str> = s.split(' ').collect();
    let limit = words.iter().map(|w| w.width()).fold(limit, usize::max);
    let breaks = wrap_words(&words, limit);
    let mut lines = Vec::new();
    let mut i = 0;
    while i < words.len() {
        lines.push(words[i..breaks[i]].join(" "));
        i = breaks[i];
    }
    lines
}

/// tablewriter's `WrapWords` (space 1, penalty 1e5): for each start word, where its line
/// ends so the sum of squared shortfalls over the following lines is least.
fn wrap_words(words: &[&str], limit: usize) -> Vec<usize> {
    const PENALTY: i64 = 100_000;
    let n = words.len();
    let mut prefix = vec![0i64; n + 1];
    for (i, w) in words.iter().enumerate() {
        prefix[i + 1] = prefix[i] + w.width() as i64;
    }
    // Width of words i..=j joined by single spaces.
    let length = |i: usize, j: usize| prefix[j + 1] - prefix[i] + (j - i) as i64;
    let limit = limit as i64;
    let mut breaks = vec![n; n];
    let mut cost = vec![i64::from(i32::MAX); n];
    for i in (0..n).rev() {
        if length(i, n - 1) <= limit {
            cost[i] = 0;
            breaks[i] = n;
            continue;
        }
        for j in i + 1..n {
            let d = limit - length(i, j - 1);
            let mut c = d * d + cost[j];
            if length(i, j - 1) > limit {
                c += PENALTY;
            }
            if c < cost[i] {
                cost[i] = c;
                breaks[i] = j;
            }
        }
    }
    breaks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(row: &[&str]) -> Vec<String> {
        row.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn list_layout_as_ollama_prints_it() {
        // cmd_test.go's TestListHandler golden.
        let mut t = Table::new().header(&["NAME", "ID", "SIZE", "MODIFIED"]);
        t.row(cells(&["model1", "sha256:abc12", "1.0 KB", "24 hours ago"]));
        t.row(cells(&["model2", "sha256:def45", "2.0 KB", "2 days ago"]));
        assert_eq!(
            t.render(),
            "NAME      ID              SIZE      MODIFIED     \n\
             model1    sha256:abc12    1.0 KB    24 hours ago    \n\
             model2    sha256:def45    2.0 KB    2 days ago      \n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header() {
        let t = Table::new().header(&["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]);
        assert_eq!(
            t.render(),
            "NAME    ID    SIZE    PROCESSOR    CONTEXT    UNTIL \n"
        );
    }

    #[test]
    fn rows_without_header_start_with_an_empty_cell() {
        let mut t = Table::new();
        t.row(cells(&["", "architecture", "test"]));
        t.row(cells(&["", "parameters", "7B"]));
        assert_eq!(
            t.render(),
            "    architecture    test    \n    parameters      7B      \n"
        );
    }

    #[test]
    fn rows_may_have_different_lengths() {
        let mut t = Table::new();
        t.row(cells(&["", "stop", "up"]));
        t.row(cells(&["", "temperature"]));
        assert_eq!(
            t.render(),
            "    stop           up    \n    temperature    \n"
        );
    }

    #[test]
    fn long_cells_wrap_at_thirty_columns() {
        let mut t = Table::new();
        t.row(cells(&[
            "",
            "general.name",
            "a fairly long sentence that does not fit",
        ]));
        t.row(cells(&["", "x", "y"]));
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        for line in &lines {
            assert!(line.width() <= 2 + 4 + 12 + 4 + 30 + 4, "{line:?}");
        }
        // The continuation line has the empty cells filled with two spaces.
        assert!(lines[1].starts_with("      "), "{out}");
        let words: Vec<&str> = lines[..2]
            .iter()
            .flat_map(|l| l.split_whitespace())
            .filter(|w| *w != "general.name")
            .collect();
        assert_eq!(words.join(" "), "a fairly long sentence that does not fit");
        // A single word wider than the limit stays whole.
        let mut t = Table::new();
        let word = "x".repeat(40);
        t.row(cells(&[&word]));
        assert_eq!(t.render(), format!("{word}    \n"));
    }

    #[test]
    fn wrapping_is_least_ragged() {
        // Greedy filling would give "aaa bb" / "cc" / "dddd"; tablewriter balances the
        // lines (the last one costs nothing).
        assert_eq!(wrap("aaa bb cc dddd", 6), vec!["aaa", "bb cc", "dddd"]);
        assert_eq!(wrap("", 0), vec![""]);
        assert_eq!(wrap("one", 30), vec!["one"]);
    }

    #[test]
    fn wide_characters_count_twice() {
        let mut t = Table::new().header(&["NAME", "ID"]);
        t.row(cells(&["模型", "x"]));
        assert_eq!(t.render(), "NAME    ID \n模型    x     \n");
    }
}
