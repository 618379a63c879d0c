//! Comparing the ids a read saw with the items a type holds.
//!
//! After an id listing both sides are as long as the type: a million
//! ids is usual for a large one. Looking each id of one side up in the
//! other's index costs a B-tree search per id, twice over (once for the
//! unknown ids, once for the missing items). Both sides are kept sorted
//! by id anyway (`temp.seen` by its key, the items by `items_by_type_id`),
//! so walking them side by side, as a merge does, finds both differences
//! in one pass of each, with no search at all.

use std::cmp::Ordering;

use rusqlite::{Connection, Row};

/// The items of a type in id order, from the covering index. Both orders
/// name BINARY, the collation `compare` relies on: the columns have it, so
/// the index and the key serve them without a sort.
const HELD: &str = "SELECT sf_object_id, id FROM items INDEXED BY items_by_type_id \
     WHERE type = ?1 ORDER BY sf_object_id COLLATE BINARY";

/// The ids seen so far in id order, from the table's key.
const SEEN: &str = "SELECT sf_object_id FROM temp.seen ORDER BY sf_object_id COLLATE BINARY";

/// What one side of the comparison holds that the other does not.
pub(super) enum Unmatched<'r> {
    /// An item whose id was not seen: its row id.
    Item(i64),
    /// A seen id with no item of the type.
    Seen(&'r str),
}

/// Walks the items of `type_name` and the seen ids together and calls
/// `unmatched` for each one found on only one side, in id order. Both
/// sides are compared as SQLite's BINARY collation compares them, byte by
/// byte, which is how `str` orders too.
pub(super) fn compare(
    conn: &Connection,
    type_name: &str,
    mut unmatched: impl FnMut(Unmatched<'_>),
) -> rusqlite::Result<()> {
    let mut held_stmt = conn.prepare_cached(HELD)?;
    let mut seen_stmt = conn.prepare_cached(SEEN)?;
    let mut held = held_stmt.query([type_name])?;
    let mut seen = seen_stmt.query([])?;
    let mut item = held.next()?;
    let mut id = seen.next()?;
    loop {
        let order = match (item, id) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(i), Some(s)) => text(i)?.cmp(text(s)?),
        };
        match order {
            Ordering::Less => {
                if let Some(i) = item {
                    unmatched(Unmatched::Item(i.get(1)?));
                }
                item = held.next()?;
            }
            Ordering::Greater => {
                if let Some(s) = id {
                    unmatched(Unmatched::Seen(text(s)?));
                }
                id = seen.next()?;
            }
            Ordering::Equal => {
                item = held.next()?;
                id = seen.next()?;
            }
        }
    }
}

/// What a comparison found missing, kept so that apply need not walk
/// again: the walk is as long as the type, and between the fetch of the
/// unknown ids and apply nothing in it changes unless another connection
/// commits or more ids are seen.
pub(super) struct Walked {
    /// The catalog's `data_version` before the walk: another connection's
    /// commit since changes it.
    pub(super) data_version: i64,
    /// The row ids of the items whose ids were not seen, in id order.
    pub(super) missing: Vec<i64>,
}

/// The connection's `data_version` of the main database: it changes when
/// another connection commits to it, and only then.
pub(super) fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "data_version", |row| row.get(0))
}

/// The id in a row's first column, borrowed.
fn text<'r>(row: &'r Row<'_>) -> rusqlite::Result<&'r str> {
    Ok(row.get_ref(0)?.as_str()?)
}
