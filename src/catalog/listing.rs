//! Comparing the ids a read saw with the items a type holds.
//!
//! After an id listing both sides are as long as the type: a million
//! ids is usual for a large one. Looking each id of one side up in the
//! other's index costs a B-tree search per id, twice over (once for the
//! unknown ids, once for the missing items). Both sides are kept sorted
//! by id anyway (the seen ids in `temp.seen` by its key and in the
//! listing's set once sealed, the items by `items_by_type_id`), so walking
//! them side by side, as a merge does, finds both differences in one pass
//! of each, with no search at all.

use std::cmp::Ordering;

use rusqlite::{Connection, Row};

use crate::ids::PackedIds;

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

/// Walks the items of `type_name` and the seen ids (those of `temp.seen`
/// and of `listed`, which must be sealed) together and calls `unmatched`
/// for each one found on only one side, in id order; gives the number of
/// items walked. Ids are compared as SQLite's BINARY collation compares
/// them, byte by byte, which is how `str` and the listing order too.
pub(super) fn compare(
    conn: &Connection,
    type_name: &str,
    listed: &PackedIds,
    mut unmatched: impl FnMut(Unmatched<'_>),
) -> rusqlite::Result<u64> {
    let mut held_stmt = conn.prepare_cached(HELD)?;
    let mut seen_stmt = conn.prepare_cached(SEEN)?;
    let mut held = held_stmt.query([type_name])?;
    let mut seen = seen_stmt.query([])?;
    let mut listing = listed.iter();
    let mut item = held.next()?;
    let mut noted = seen.next()?;
    let mut next_listed = listing.next();
    let mut items = 0;
    loop {
        // The seen side's next id is the lower of the table's and the
        // listing's; an id in both is taken from both at once.
        let (id, from_table, from_listing) = match (noted, &next_listed) {
            (None, None) => (None, false, false),
            (Some(row), None) => (Some(text(row)?), true, false),
            (None, Some(listed)) => (Some(listed.as_str()), false, true),
            (Some(row), Some(listed)) => {
                let table = text(row)?;
                match table.cmp(listed.as_str()) {
                    Ordering::Less => (Some(table), true, false),
                    Ordering::Greater => (Some(listed.as_str()), false, true),
                    Ordering::Equal => (Some(table), true, true),
                }
            }
        };
        let order = match (item, id) {
            (None, None) => return Ok(items),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(i), Some(id)) => text(i)?.cmp(id),
        };
        if order == Ordering::Less {
            if let Some(i) = item {
                unmatched(Unmatched::Item(i.get(1)?));
            }
            items += 1;
            item = held.next()?;
            continue;
        }
        if order == Ordering::Greater {
            if let Some(id) = id {
                unmatched(Unmatched::Seen(id));
            }
        } else {
            items += 1;
            item = held.next()?;
        }
        if from_table {
            noted = seen.next()?;
        }
        if from_listing {
            next_listed = listing.next();
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
    /// How many items the type had.
    pub(super) items: u64,
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
