//! The control page at `/`: a form to ask for a sync by hand, the outcome
//! of the last request, and the latest runs.
//!
//! Plain server-rendered HTML with no script. Every value that comes from
//! the configuration, the catalog, Salesforce or the request is escaped.
//! The key travels in the POST body only and is never written back into
//! the page. The latest runs are shown only after a valid key.

use std::fmt::Write;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::jobs::RecordReport;
use crate::catalog::{Event, RunRecord};
use crate::config::Config;

/// What a press of the button led to.
pub enum Outcome {
    /// One or more record syncs ran.
    Synced {
        /// The id asked for.
        id: String,
        /// A report per type.
        reports: Vec<std::sync::Arc<RecordReport>>,
    },
    /// A full sync started in the background.
    Started {
        /// Its run id.
        run: i64,
    },
    /// The request failed; the status and the error in words.
    Failed {
        /// The HTTP status the API would answer.
        status: StatusCode,
        /// What went wrong.
        message: String,
    },
}

/// Everything the page shows.
pub struct PageView<'a> {
    /// The configuration, for the type select.
    pub config: &'a Config,
    /// The type chosen last time, to keep it selected.
    pub chosen_type: String,
    /// The id typed last time.
    pub chosen_id: String,
    /// The outcome of the request just made.
    pub outcome: Option<Outcome>,
    /// The latest runs, shown after a valid key.
    pub runs: Option<Vec<RunRecord>>,
}

impl PageView<'_> {
    /// The page as a response with the given status and safe headers.
    pub fn respond(&self, status: StatusCode) -> Response {
        let mut response = (status, self.render()).into_response();
        let headers = response.headers_mut();
        let fixed = [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; \
                 form-action 'self'; frame-ancestors 'none'",
            ),
        ];
        for (name, value) in fixed {
            headers.insert(name, HeaderValue::from_static(value));
        }
        response
    }

    /// The whole document.
    pub fn render(&self) -> String {
        let mut html = String::with_capacity(8 * 1024);
        html.push_str(HEAD);
        self.render_form(&mut html);
        if let Some(outcome) = &self.outcome {
            render_outcome(&mut html, outcome);
        }
        if let Some(runs) = &self.runs {
            render_runs(&mut html, runs);
        }
        html.push_str("</main>\n</body>\n</html>\n");
        html
    }

    fn render_form(&self, html: &mut String) {
        html.push_str(
            "<form method=\"post\" action=\"/\" autocomplete=\"off\">\n\
             <label for=\"token\">Sync key</label>\n\
             <input id=\"token\" name=\"token\" type=\"password\" required>\n\
             <label for=\"type\">Content type</label>\n\
             <select id=\"type\" name=\"type\">\n",
        );
        let all = self.chosen_type.is_empty();
        option(html, "", "All types (full sync)", all);
        for t in &self.config.types {
            let label = format!("{} ({})", t.name, t.sobject);
            option(
                html,
                &t.name,
                &label,
                t.name.eq_ignore_ascii_case(&self.chosen_type),
            );
        }
        let _ = write!(
            html,
            "</select>\n\
             <label for=\"sf_object_id\">Salesforce id</label>\n\
             <input id=\"sf_object_id\" name=\"sf_object_id\" value=\"{}\" \
             placeholder=\"empty: sync every record of the type\" maxlength=\"18\">\n\
             <button id=\"sync\" type=\"submit\">Synchronize now</button>\n\
             </form>\n",
            escape(&self.chosen_id)
        );
    }
}

fn option(html: &mut String, value: &str, label: &str, selected: bool) {
    let selected = if selected { " selected" } else { "" };
    let _ = writeln!(
        html,
        "<option value=\"{}\"{selected}>{}</option>",
        escape(value),
        escape(label)
    );
}

fn render_outcome(html: &mut String, outcome: &Outcome) {
    match outcome {
        Outcome::Synced { id, reports } => {
            let found = reports.iter().any(|r| r.found);
            let class = if found { "ok" } else { "warn" };
            let _ = writeln!(html, "<section id=\"outcome\" class=\"{class}\">");
            for r in reports {
                let _ = writeln!(html, "<p>{}</p>", escape(&record_summary(id, r)));
                for h in &r.hook_errors {
                    let _ = writeln!(html, "<p class=\"error\">Hook failed: {}</p>", escape(h));
                }
            }
            let events: Vec<&Event> = reports.iter().flat_map(|r| &r.events).collect();
            render_events(html, &events);
        }
        Outcome::Started { run } => {
            let _ = writeln!(
                html,
                "<section id=\"outcome\" class=\"ok\">\n<p>Full sync started as run {run}. \
                 It is listed below; reload with the key to follow it.</p>"
            );
        }
        Outcome::Failed { status, message } => {
            let _ = writeln!(
                html,
                "<section id=\"outcome\" class=\"error\">\n<p>Error {}: {}</p>",
                status.as_u16(),
                escape(message)
            );
        }
    }
    html.push_str("</section>\n");
}

fn record_summary(id: &str, r: &RecordReport) -> String {
    let events = match r.events.len() {
        0 => "nothing changed".to_string(),
        1 => "1 event".to_string(),
        n => format!("{n} events"),
    };
    if r.found {
        format!(
            "Synchronized {} {id} as run {}: {events}.",
            r.type_name, r.run
        )
    } else {
        format!(
            "Salesforce has no {} record {id} that matches the type's criteria; \
             the missing step ran as run {}: {events}.",
            r.type_name, r.run
        )
    }
}

fn render_events(html: &mut String, events: &[&Event]) {
    if events.is_empty() {
        return;
    }
    html.push_str(
        "<table id=\"events\">\n<tr><th>Event</th><th>Type</th>\
         <th>Salesforce id</th><th>Path</th></tr>\n",
    );
    for e in events {
        let kind = serde_json::to_value(e.kind).unwrap_or_default();
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(kind.as_str().unwrap_or("?")),
            escape(&e.type_name),
            escape(&e.sf_object_id),
            escape(&e.path)
        );
    }
    html.push_str("</table>\n");
}

fn render_runs(html: &mut String, runs: &[RunRecord]) {
    html.push_str(
        "<h2>Last runs</h2>\n<table id=\"runs\">\n<tr><th>Run</th><th>Command</th>\
         <th>Started</th><th>Finished</th><th>Outcome</th><th>Counts</th></tr>\n",
    );
    for r in runs {
        let outcome = r.outcome.map(|o| o.as_str()).unwrap_or("running or died");
        let mut counts = r.counts.as_ref().map(describe_counts).unwrap_or_default();
        if let Some(error) = &r.error {
            counts.push_str(" — ");
            counts.push_str(error);
        }
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.id,
            escape(&r.command),
            escape(&r.started_at),
            escape(r.finished_at.as_deref().unwrap_or("")),
            escape(outcome),
            escape(&counts)
        );
    }
    html.push_str("</table>\n");
}

/// A run's counts in words: `Contact: 3 created, 1 updated`.
fn describe_counts(counts: &Value) -> String {
    let Some(map) = counts.as_object() else {
        return String::new();
    };
    let parts: Vec<String> = map
        .iter()
        .map(|(name, value)| match value {
            Value::Object(kinds) => {
                let nonzero: Vec<String> = kinds
                    .iter()
                    .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                    .map(|(kind, n)| format!("{n} {kind}"))
                    .collect();
                match nonzero.is_empty() {
                    true => format!("{name}: no changes"),
                    false => format!("{name}: {}", nonzero.join(", ")),
                }
            }
            other => format!("{name}: {other}"),
        })
        .collect();
    parts.join("; ")
}

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The document's head and the page's title.
const HEAD: &str = "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>sfsync control</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem; color: #222; }
main { max-width: 60rem; }
form { display: grid; grid-template-columns: 10rem 24rem; gap: .5rem 1rem; }
button { grid-column: 2; justify-self: start; padding: .4rem 1.2rem; }
section { margin: 1.5rem 0; padding: .5rem 1rem; border-left: 4px solid #888; }
section.ok { border-color: #2a7; background: #effaf3; }
section.warn { border-color: #d90; background: #fff8e6; }
section.error, p.error { border-color: #c33; background: #fdeeee; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; }
</style>
</head>
<body>
<main>
<h1>sfsync</h1>
<p>Synchronize a Salesforce record, or a whole type, into the catalog now.</p>
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("<a href='x'>\"&\u{7}</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp; &lt;/a&gt;"
        );
    }

    #[test]
    fn counts_read_as_words() {
        let counts = serde_json::json!({
            "Contact": {"created": 3, "updated": 0, "rejected": 1},
            "Account": {"created": 0},
            "events": 2,
        });
        assert_eq!(
            describe_counts(&counts),
            "Contact: 3 created, 1 rejected; Account: no changes; events: 2"
        );
    }
}
