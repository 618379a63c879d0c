//! Reading items and sync state: what the commands, the server and the
//! sync itself ask of the catalog.

use rusqlite::{params_from_iter, OptionalExtension, Row};

use super::model::{ItemRecord, TypeState};
use super::{Catalog, Result};

/// How many ids or paths go into one `IN (...)` list.
const LOOKUP_CHUNK: usize = 500;

/// The columns [`item_record`] reads, in its order.
const ITEM_COLUMNS: &str = "type, sf_object_id, path, state, fields, digest, \
     created_at, updated_at, synced_at";

impl Catalog {
    /// Where the sync of `type_name` stands, if it ever finished once.
    pub fn type_state(&self, type_name: &str) -> Result<Option<TypeState>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT watermark, last_full_read_at, last_ok_at \
                 FROM type_state WHERE type = ?1",
            )
            .map_err(|e| self.error(e))?;
        let state = stmt.query_row([type_name], |row| {
            Ok(TypeState {
                watermark: row.get(0)?,
                last_full_read_at: row.get(1)?,
                last_ok_at: row.get(2)?,
            })
        });
        state.optional().map_err(|e| self.error(e))
    }

    /// The item of a Salesforce id, in `type_name` or, without a type, in
    /// the first type (by name) that has it.
    pub fn find_item(
        &self,
        type_name: Option<&str>,
        sf_object_id: &str,
    ) -> Result<Option<ItemRecord>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE sf_object_id = ?1 \
             AND (?2 IS NULL OR type = ?2) ORDER BY type LIMIT 1"
        );
        let found = self.conn.prepare_cached(&sql).and_then(|mut stmt| {
            stmt.query_row((sf_object_id, type_name), item_record)
                .optional()
        });
        found.map_err(|e| self.error(e))
    }

    /// The items of these Salesforce ids, in `type_name` or in any type,
    /// in no particular order; ids without an item are skipped.
    pub fn find_items_by_ids(
        &self,
        ids: &[String],
        type_name: Option<&str>,
    ) -> Result<Vec<ItemRecord>> {
        let filter = match type_name {
            Some(_) => "AND type = ?",
            None => "",
        };
        let mut items = Vec::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let values = chunk.iter().map(String::as_str).chain(type_name);
            self.select_items("sf_object_id", chunk.len(), filter, values, &mut items)
                .map_err(|e| self.error(e))?;
        }
        Ok(items)
    }

    /// The items at these paths, in no particular order; paths without an
    /// item are skipped.
    pub fn find_items_by_paths(&self, paths: &[String]) -> Result<Vec<ItemRecord>> {
        let mut items = Vec::new();
        for chunk in paths.chunks(LOOKUP_CHUNK) {
            let values = chunk.iter().map(String::as_str);
            self.select_items("path", chunk.len(), "", values, &mut items)
                .map_err(|e| self.error(e))?;
        }
        Ok(items)
    }

    /// How many items `type_name` has.
    pub fn count_items(&self, type_name: &str) -> Result<u64> {
        let counted = self.conn.query_row(
            "SELECT count(*) FROM items WHERE type = ?1",
            [type_name],
            |row| row.get(0),
        );
        counted.map_err(|e| self.error(e))
    }

    /// Whether `type_name` has more than `n` items: unlike a count, it
    /// stops after `n + 1`, which matters for a type of a million.
    pub fn has_more_items_than(&self, type_name: &str, n: u64) -> Result<bool> {
        let offset = i64::try_from(n).unwrap_or(i64::MAX);
        let more = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM items WHERE type = ?1 LIMIT 1 OFFSET ?2)",
            (type_name, offset),
            |row| row.get(0),
        );
        more.map_err(|e| self.error(e))
    }

    /// How many items each type has in each state, by type then state.
    pub fn count_by_state(&self) -> Result<Vec<(String, String, u64)>> {
        let counted = self
            .conn
            .prepare_cached(
                "SELECT type, state, count(*) FROM items \
                 GROUP BY type, state ORDER BY type, state",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect()
            });
        counted.map_err(|e| self.error(e))
    }

    /// Appends the items whose `column` is one of `count` values to
    /// `items`; `values` holds those values, then any for `filter`.
    fn select_items<'v>(
        &self,
        column: &str,
        count: usize,
        filter: &str,
        values: impl Iterator<Item = &'v str>,
        items: &mut Vec<ItemRecord>,
    ) -> rusqlite::Result<()> {
        let marks = vec!["?"; count].join(", ");
        let sql = format!("SELECT {ITEM_COLUMNS} FROM items WHERE {column} IN ({marks}) {filter}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(values), item_record)?;
        for row in rows {
            items.push(row?);
        }
        Ok(())
    }
}

/// Reads a row of [`ITEM_COLUMNS`].
fn item_record(row: &Row<'_>) -> rusqlite::Result<ItemRecord> {
    let fields: String = row.get(4)?;
    Ok(ItemRecord {
        type_name: row.get(0)?,
        sf_object_id: row.get(1)?,
        path: row.get(2)?,
        state: row.get(3)?,
        fields: parse_fields(&fields),
        digest: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        synced_at: row.get(8)?,
    })
}

/// Parses the stored fields of an item; text that is not JSON (written by
/// hand) is passed on as a string rather than lost.
pub(super) fn parse_fields(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}
