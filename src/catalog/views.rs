//! One view per type, with a column per mapped field, so that people can
//! run `sqlite3 catalog.db 'select name, email from contact'`.
//!
//! Views are checked whenever a sync opens the catalog, since the mapping
//! in sync.toml may have changed, and replaced only when it has: a change
//! of schema makes every other connection prepare its statements again.
//! Views cannot take parameters, so names and fields are quoted into the
//! SQL here.
//!
//! A type named like one of the catalog's tables would collide with it;
//! the configuration refuses such names before a sync starts.

use super::model::TypeView;
use super::slug::view_name;
use super::{Catalog, Result};

/// Marks the views sfsync made, so that stale ones (a type removed from
/// the configuration) are dropped and views made by people are not.
const MARKER: &str = "/* sfsync type view */";

impl Catalog {
    /// Replaces the per-type views with one for each of `views`.
    pub fn define_views(&self, views: &[TypeView]) -> Result<()> {
        self.replace_views(views).map_err(|e| self.error(e))
    }

    /// The body of [`Catalog::define_views`], in one transaction when
    /// anything is to change. SQLite keeps a view's statement as it was
    /// given (these start with `CREATE VIEW` and one space), so the same
    /// mapping gives the same text.
    fn replace_views(&self, views: &[TypeView]) -> rusqlite::Result<()> {
        let mut wanted: Vec<(String, String)> = views
            .iter()
            .map(|view| (view_name(&view.name), view_sql(view)))
            .collect();
        wanted.sort();
        if sfsync_views(&self.conn)? == wanted {
            return Ok(());
        }
        let tx = self.conn.unchecked_transaction()?;
        for (name, _) in sfsync_views(&tx)? {
            tx.execute_batch(&format!("DROP VIEW {}", quote_name(&name)))?;
        }
        for (_, sql) in &wanted {
            tx.execute_batch(sql)?;
        }
        tx.commit()
    }
}

/// The names and statements of the views sfsync made earlier, by name.
fn sfsync_views(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT name, sql FROM main.sqlite_schema \
         WHERE type = 'view' AND instr(sql, ?1) > 0 ORDER BY name",
    )?;
    let views = stmt.query_map([MARKER], |row| Ok((row.get(0)?, row.get(1)?)))?;
    views.collect()
}

/// The statement creating one type's view.
fn view_sql(view: &TypeView) -> String {
    let mut columns = vec!["sf_object_id".to_string(), "path".into(), "state".into()];
    for field in &view.fields {
        columns.push(format!(
            "json_extract(fields, {}) AS {}",
            quote_text(&json_path(field)),
            quote_name(field)
        ));
    }
    columns.push("synced_at".into());
    format!(
        "CREATE VIEW {} AS {MARKER} SELECT {} FROM items WHERE type = {}",
        quote_name(&view_name(&view.name)),
        columns.join(", "),
        quote_text(&view.name)
    )
}

/// The JSON path of a top-level key, quoted so that dots in field names
/// (relationship fields such as `Account.Name`) are not taken as steps.
fn json_path(field: &str) -> String {
    format!("$.\"{}\"", field.replace('"', "\\\""))
}

/// Quotes an identifier.
fn quote_name(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal.
fn quote_text(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
