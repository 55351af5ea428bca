//! A scenario error: where (file, line, column), what text, why, and how to
//! fix it. Rendered by miette with the offending line underlined.

use std::ops::Range;

use miette::{Diagnostic, NamedSource, SourceSpan};

/// One problem in a scenario file.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{}", self.headline())]
pub struct ScenarioError {
    /// File name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The offending text.
    pub snippet: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    #[help]
    pub hint: Option<String>,
    #[source_code]
    src: NamedSource<String>,
    #[label("{message}")]
    span: SourceSpan,
}

impl ScenarioError {
    /// `file:line:column: message (at `text`)`, or `file: message` for
    /// errors about the whole file.
    fn headline(&self) -> String {
        if self.snippet.is_empty() {
            format!("{}: {}", self.file, self.message)
        } else {
            format!(
                "{}:{}:{}: {} (at `{}`)",
                self.file, self.line, self.column, self.message, self.snippet
            )
        }
    }

    /// An error at byte range `span` of `text`.
    pub fn at(
        file: &str,
        text: &str,
        span: Range<usize>,
        message: String,
        hint: Option<String>,
    ) -> Self {
        let start = span.start.min(text.len());
        let end = span.end.clamp(start, text.len());
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let mut snippet: String = text[start..end]
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(80)
            .collect();
        if snippet.trim().is_empty() {
            // A point error (end of line, end of file): show the line itself.
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[line_start..]
                .find('\n')
                .map_or(text.len(), |i| line_start + i);
            snippet = text[line_start..line_end].chars().take(80).collect();
        }
        ScenarioError {
            file: file.to_string(),
            line,
            column,
            snippet,
            message,
            hint,
            src: NamedSource::new(file, text.to_string()),
            span: (start, end - start).into(),
        }
    }

    /// An error about the file as a whole (unreadable, empty).
    pub fn whole(file: &str, message: String, hint: Option<String>) -> Self {
        ScenarioError {
            file: file.to_string(),
            line: 1,
            column: 1,
            snippet: String::new(),
            message,
            hint,
            src: NamedSource::new(file, String::new()),
            span: (0, 0).into(),
        }
    }
}
