//! Errors in scenarios: what was wrong, where (file:line:column), and what would be right.

use std::fmt;

/// A scenario that cannot be run, and why. Displayed on one line:
/// `PATH:LINE:COL: MESSAGE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file, if the scenario came from one.
    pub path: Option<String>,
    /// 1-based line and column (in characters), if known.
    pub line_col: Option<(usize, usize)>,
    /// What was wrong and what would be right.
    pub message: String,
}

impl ScenarioError {
    /// An error at byte `offset` of `text` (if both are known).
    pub fn at(
        path: Option<&str>,
        text: Option<&str>,
        offset: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        let line_col = match (text, offset) {
            (Some(text), Some(offset)) => Some(line_col(text, offset)),
            _ => None,
        };
        ScenarioError {
            path: path.map(Into::into),
            line_col,
            message: message.into(),
        }
    }
}

/// The 1-based line and character column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{path}:")?;
        }
        if let Some((line, col)) = self.line_col {
            write!(f, "{line}:{col}:")?;
        }
        if self.path.is_some() || self.line_col.is_some() {
            f.write_str(" ")?;
        }
        // One line, whatever the message held.
        f.write_str(&self.message.replace('\n', " "))
    }
}

impl std::error::Error for ScenarioError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // `=` after a two-byte character is column 4.
        assert_eq!(line_col(text, 10), (2, 4));
        let e = ScenarioError::at(Some("s.toml"), Some(text), Some(6), "bad\nthing");
        assert_eq!(e.to_string(), "s.toml:2:1: bad thing");
    }
}
