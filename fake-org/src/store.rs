//! Compact record storage: one table per sobject, one typed column per
//! field, so a million contacts cost a few hundred bytes each instead of a
//! JSON object each. Columns nobody has written stay unallocated.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::{Days, Millis};
use crate::schema::{Computed, FieldType, Schema};

/// A value read from a column, borrowed where it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Text(Cow<'a, str>),
    Date(Days),
    DateTime(Millis),
}

impl Scalar<'_> {
    /// True for `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Scalar::Null)
    }
}

/// The life of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    Live,
    /// In the recycle bin: visible to queryAll and `deleted/`.
    SoftDeleted,
    /// Gone for good; the row slot is kept so indexes stay valid.
    Gone,
}

/// Strings of one column, written once into an arena. While the column has
/// few distinct values they are shared, which makes picklists and owner ids
/// cost four bytes a row.
#[derive(Debug, Default)]
struct Pool {
    arena: String,
    spans: Vec<(u32, u32)>,
    dedupe: Option<HashMap<Box<str>, u32>>,
}

/// Distinct values a pool shares before it stops looking for repeats.
const DEDUPE_LIMIT: usize = 4096;

impl Pool {
    fn new() -> Pool {
        Pool {
            dedupe: Some(HashMap::new()),
            ..Pool::default()
        }
    }

    fn intern(&mut self, text: &str) -> u32 {
        if let Some(code) = self.dedupe.as_ref().and_then(|m| m.get(text)) {
            return *code;
        }
        let code = self.spans.len() as u32;
        let start = self.arena.len() as u32;
        self.arena.push_str(text);
        self.spans.push((start, text.len() as u32));
        if let Some(map) = self.dedupe.as_mut() {
            map.insert(text.into(), code);
            if map.len() > DEDUPE_LIMIT {
                self.dedupe = None;
            }
        }
        code
    }

    fn get(&self, code: u32) -> &str {
        let (start, len) = self.spans[code as usize];
        &self.arena[start as usize..(start + len) as usize]
    }
}

const NULL_CODE: u32 = u32::MAX;
const NULL_DAYS: Days = Days::MIN;
const NULL_MILLIS: Millis = Millis::MIN;

/// The values of one field across all rows of a table.
#[derive(Debug)]
enum Data {
    Text { codes: Vec<u32>, pool: Pool },
    Bool(Vec<u8>),
    Num(Vec<f64>),
    Date(Vec<Days>),
    DateTime(Vec<Millis>),
}

impl Data {
    /// An all-null column of `len` rows for a field type.
    fn nulls(kind: FieldType, len: usize) -> Data {
        match kind {
            FieldType::Boolean => Data::Bool(vec![2; len]),
            k if k.is_number() => Data::Num(vec![f64::NAN; len]),
            FieldType::Date => Data::Date(vec![NULL_DAYS; len]),
            FieldType::Datetime => Data::DateTime(vec![NULL_MILLIS; len]),
            _ => Data::Text {
                codes: vec![NULL_CODE; len],
                pool: Pool::new(),
            },
        }
    }

    fn push_null(&mut self) {
        match self {
            Data::Text { codes, .. } => codes.push(NULL_CODE),
            Data::Bool(v) => v.push(2),
            Data::Num(v) => v.push(f64::NAN),
            Data::Date(v) => v.push(NULL_DAYS),
            Data::DateTime(v) => v.push(NULL_MILLIS),
        }
    }

    fn get(&self, row: usize) -> Scalar<'_> {
        match self {
            Data::Text { codes, pool } => match codes[row] {
                NULL_CODE => Scalar::Null,
                code => Scalar::Text(Cow::Borrowed(pool.get(code))),
            },
            Data::Bool(v) => match v[row] {
                2 => Scalar::Null,
                b => Scalar::Bool(b == 1),
            },
            Data::Num(v) if v[row].is_nan() => Scalar::Null,
            Data::Num(v) => Scalar::Num(v[row]),
            Data::Date(v) if v[row] == NULL_DAYS => Scalar::Null,
            Data::Date(v) => Scalar::Date(v[row]),
            Data::DateTime(v) if v[row] == NULL_MILLIS => Scalar::Null,
            Data::DateTime(v) => Scalar::DateTime(v[row]),
        }
    }

    /// Writes a value already checked against the field type.
    fn set(&mut self, row: usize, value: &Scalar<'_>) {
        match (self, value) {
            (Data::Text { codes, .. }, Scalar::Null) => codes[row] = NULL_CODE,
            (Data::Text { codes, pool }, Scalar::Text(t)) => codes[row] = pool.intern(t),
            (Data::Bool(v), Scalar::Bool(b)) => v[row] = u8::from(*b),
            (Data::Bool(v), _) => v[row] = 2,
            (Data::Num(v), Scalar::Num(n)) => v[row] = *n,
            (Data::Num(v), _) => v[row] = f64::NAN,
            (Data::Date(v), Scalar::Date(d)) => v[row] = *d,
            (Data::Date(v), _) => v[row] = NULL_DAYS,
            (Data::DateTime(v), Scalar::DateTime(t)) => v[row] = *t,
            (Data::DateTime(v), _) => v[row] = NULL_MILLIS,
            (Data::Text { codes, .. }, _) => codes[row] = NULL_CODE,
        }
    }
}

/// The records of one sobject.
#[derive(Debug)]
pub struct Table {
    pub schema: Arc<Schema>,
    columns: Vec<Option<Data>>,
    states: Vec<RowState>,
    index: HashMap<[u8; 18], u32>,
    deleted_at: HashMap<u32, Millis>,
    id_field: usize,
    stamp_fields: [Option<usize>; 3],
    /// `FirstName` and `LastName`, for computing Contact's `Name`.
    name_parts: [Option<usize>; 2],
}

impl Table {
    /// An empty table for a schema.
    pub fn new(schema: Arc<Schema>) -> Table {
        let stamp_fields = ["CreatedDate", "LastModifiedDate", "SystemModstamp"]
            .map(|name| schema.field_index(name));
        Table {
            columns: schema.fields.iter().map(|_| None).collect(),
            states: Vec::new(),
            index: HashMap::new(),
            deleted_at: HashMap::new(),
            id_field: schema.field_index("Id").unwrap_or(0),
            stamp_fields,
            name_parts: ["FirstName", "LastName"].map(|name| schema.field_index(name)),
            schema,
        }
    }

    /// Rows ever stored, gone ones included.
    pub fn row_count(&self) -> usize {
        self.states.len()
    }

    /// The state of a row.
    pub fn state(&self, row: usize) -> RowState {
        self.states[row]
    }

    /// The row holding an id (15 or 18 characters, any case for 18).
    pub fn find(&self, id: &str) -> Option<usize> {
        let exact = <[u8; 18]>::try_from(id.as_bytes()).ok();
        let row = match exact.and_then(|key| self.index.get(&key)) {
            Some(row) => *row as usize,
            None => {
                let id = crate::ids::normalize(id)?;
                let key: [u8; 18] = id.as_bytes().try_into().ok()?;
                *self.index.get(&key)? as usize
            }
        };
        (self.states[row] != RowState::Gone).then_some(row)
    }

    /// Appends a row with the given id and values (field index, value),
    /// which must already match their field types.
    pub fn push(&mut self, id: &str, values: &[(usize, Scalar<'_>)]) -> usize {
        let row = self.states.len();
        self.states.push(RowState::Live);
        for column in self.columns.iter_mut().flatten() {
            column.push_null();
        }
        self.set(row, self.id_field, &Scalar::Text(Cow::Borrowed(id)));
        for (field, value) in values {
            self.set(row, *field, value);
        }
        if let Ok(key) = <[u8; 18]>::try_from(id.as_bytes()) {
            self.index.insert(key, row as u32);
        }
        row
    }

    /// Reads a stored or computed field of a row.
    pub fn get(&self, row: usize, field: usize) -> Scalar<'_> {
        match self.schema.fields[field].computed {
            Computed::No => match &self.columns[field] {
                Some(data) => data.get(row),
                None => Scalar::Null,
            },
            Computed::IsDeleted => Scalar::Bool(self.states[row] != RowState::Live),
            Computed::PersonName => self.person_name(row),
            Computed::Address | Computed::Location => Scalar::Null,
        }
    }

    /// The 18-character id of a row.
    pub fn id(&self, row: usize) -> Cow<'_, str> {
        match self.get(row, self.id_field) {
            Scalar::Text(t) => t,
            _ => Cow::Borrowed(""),
        }
    }

    /// Writes a stored field; computed fields ignore writes.
    pub fn set(&mut self, row: usize, field: usize, value: &Scalar<'_>) {
        if self.schema.fields[field].computed != Computed::No {
            return;
        }
        if self.columns[field].is_none() {
            if value.is_null() {
                return;
            }
            let kind = self.schema.fields[field].kind;
            self.columns[field] = Some(Data::nulls(kind, self.states.len()));
        }
        if let Some(data) = self.columns[field].as_mut() {
            data.set(row, value);
        }
    }

    /// Sets the audit stamps a change moves: SystemModstamp always, and
    /// LastModifiedDate for a user change.
    pub fn stamp(&mut self, row: usize, at: Millis, user_change: bool) {
        let [_, last_modified, modstamp] = self.stamp_fields;
        if let (true, Some(field)) = (user_change, last_modified) {
            self.set(row, field, &Scalar::DateTime(at));
        }
        if let Some(field) = modstamp {
            self.set(row, field, &Scalar::DateTime(at));
        }
    }

    /// The SystemModstamp of a row, in epoch milliseconds.
    pub fn modstamp(&self, row: usize) -> Option<Millis> {
        match self.get(row, self.stamp_fields[2]?) {
            Scalar::DateTime(t) => Some(t),
            _ => None,
        }
    }

    /// Moves a row to the recycle bin.
    pub fn soft_delete(&mut self, row: usize, at: Millis) {
        self.states[row] = RowState::SoftDeleted;
        self.deleted_at.insert(row as u32, at);
        self.stamp(row, at, false);
    }

    /// Removes a row for good.
    pub fn hard_delete(&mut self, row: usize) {
        self.states[row] = RowState::Gone;
        self.deleted_at.remove(&(row as u32));
    }

    /// Soft-deleted rows and when they were deleted.
    pub fn deletions(&self) -> impl Iterator<Item = (usize, Millis)> + '_ {
        self.deleted_at.iter().map(|(row, at)| (*row as usize, *at))
    }

    /// Contact's `Name`: the first name (when any) and the last name.
    fn person_name(&self, row: usize) -> Scalar<'_> {
        let read = |field: Option<usize>| field.map_or(Scalar::Null, |f| self.get(row, f));
        let first = read(self.name_parts[0]);
        let last = read(self.name_parts[1]);
        match (first, last) {
            (Scalar::Text(f), Scalar::Text(l)) => Scalar::Text(Cow::Owned(format!("{f} {l}"))),
            (Scalar::Null, Scalar::Text(l)) => Scalar::Text(l),
            (Scalar::Text(f), Scalar::Null) => Scalar::Text(f),
            _ => Scalar::Null,
        }
    }
}

/// The data of an org: one table per sobject it serves.
#[derive(Debug)]
pub struct Store {
    tables: Vec<Table>,
    /// Two characters every id minted by this org carries.
    pub pod: String,
    /// Sequence number of the next minted id, shared by all sobjects.
    pub next_seq: u64,
}

impl Store {
    /// An org with no records.
    pub fn new(pod: &str) -> Store {
        let tables = crate::schema::all()
            .iter()
            .map(|s| Table::new(s.clone()))
            .collect();
        Store {
            tables,
            pod: pod.to_string(),
            next_seq: 1,
        }
    }

    /// The table of an sobject, by case-insensitive name.
    pub fn table(&self, sobject: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.schema.name.eq_ignore_ascii_case(sobject))
    }

    /// The table of an sobject, for writing.
    pub fn table_mut(&mut self, sobject: &str) -> Option<&mut Table> {
        self.tables
            .iter_mut()
            .find(|t| t.schema.name.eq_ignore_ascii_case(sobject))
    }

    /// Mints a new id for an sobject.
    pub fn mint_id(&mut self, key_prefix: &str) -> String {
        let id = crate::ids::make_id(key_prefix, &self.pod, self.next_seq);
        self.next_seq += 1;
        id
    }
}
