//! The SOQL subset the fake org understands: enough for what sync tools
//! send. `parse` turns text into a syntax tree, `plan` checks it against the
//! schemas and evaluates it over the stored records.

mod lex;
mod parse;
pub mod plan;

pub use parse::parse;
pub use plan::{compile, Plan};

/// A query Salesforce would refuse, with the error code it would send.
#[derive(Debug, Clone, PartialEq)]
pub struct SoqlError {
    /// `MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`, ...
    pub code: &'static str,
    /// The last line of the message, after the position marker.
    pub detail: String,
    /// Character offset of the offending token in the query.
    pub pos: usize,
}

impl SoqlError {
    pub(crate) fn new(code: &'static str, pos: usize, detail: impl Into<String>) -> SoqlError {
        SoqlError {
            code,
            detail: detail.into(),
            pos,
        }
    }

    /// The message as Salesforce words it: the query line, a caret under
    /// the offending token, `ERROR at Row:R:Column:C`, then the detail.
    pub fn message(&self, query: &str) -> String {
        let before: String = query.chars().take(self.pos).collect();
        let row = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        let line = query[line_start..].lines().next().unwrap_or("");
        let caret = " ".repeat(column - 1);
        format!(
            "{line}\n{caret}^\nERROR at Row:{row}:Column:{column}\n{}",
            self.detail
        )
    }
}
