//! Reading a large type through a Bulk API 2.0 query job.
//!
//! The job's CSV results are fetched page by page (`Sforce-Locator`) and
//! each row is turned back into the JSON shape a REST query gives, typed by
//! the sobjects' describes, so a record read either way maps to the same
//! fields and digest. Bulk 2.0 has no child subqueries and no compound
//! fields: a type that maps either is read through REST.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use log::debug;
use serde_json::value::RawValue;
use serde_json::{json, Map, Number, Value};

use crate::config::{FieldSource, TypeConfig, ValueKind};
use crate::describe::Describes;
use crate::ids::IdList;
use crate::reader::Page;
use crate::salesforce::{Client, Request};
use crate::soql::{self, StampRange};
use tokio::sync::mpsc;

/// Rows per results page.
const ROWS_PER_PAGE: u32 = 5_000;
/// Records handed on at once from a results page: about what a REST page
/// brings.
const RECORDS_PER_BATCH: usize = 2_000;
/// Ids per results page of an id listing: short rows, so many to a page.
const IDS_PER_PAGE: u32 = 100_000;
/// The longest pause between two polls of a job.
const MAX_POLL_PAUSE: Duration = Duration::from_secs(5);
/// How long a job may take before the read gives up on it.
const MAX_JOB_WAIT: Duration = Duration::from_secs(3600);

/// A column of the results and how to type its text.
struct Column {
    path: Vec<String>,
    kind: SoapKind,
}

/// The value kinds CSV text is typed back into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SoapKind {
    Text,
    Boolean,
    Integer,
    Decimal,
    Datetime,
}

/// Whether a type can be read through Bulk API 2.0 at all.
pub fn supports(t: &TypeConfig) -> bool {
    t.fields.iter().all(|f| match &f.source {
        FieldSource::Children { .. } => false,
        FieldSource::Value { kind, .. } => *kind != ValueKind::Address,
    })
}

/// Reads every record of `t` through a query job into `tx`. An error is
/// returned, not sent, so the caller can fall back to REST.
pub async fn read(
    client: Arc<Client>,
    t: Arc<TypeConfig>,
    tx: mpsc::Sender<Result<Page>>,
) -> Result<()> {
    let query = soql::bulk(&t, &StampRange::default());
    let columns = columns(&client, &t, &query).await?;
    run_job(&client, &t, &query, &columns, ROWS_PER_PAGE, &tx).await
}

/// Lists the ids of every record the criteria of `t` select, through a
/// query job: as CSV, an id costs about 21 bytes, a seventh of its JSON.
pub async fn read_ids(
    client: Arc<Client>,
    t: Arc<TypeConfig>,
    tx: mpsc::Sender<Result<Page>>,
) -> Result<()> {
    let query = soql::ids(&t, &StampRange::default());
    let columns = [Column {
        path: vec!["Id".to_string()],
        kind: SoapKind::Text,
    }];
    run_job(&client, &t, &query, &columns, IDS_PER_PAGE, &tx).await
}

/// Creates a query job for `query`, waits for it, and sends its result
/// pages, typed by `columns`, into `tx`.
async fn run_job(
    client: &Client,
    t: &TypeConfig,
    query: &str,
    columns: &[Column],
    rows_per_page: u32,
    tx: &mpsc::Sender<Result<Page>>,
) -> Result<()> {
    let base = format!("{}/jobs/query", client.version_path());
    let job = client
        .send(&Request::post_json(
            &base,
            json!({"operation": "query", "query": query}),
        ))
        .await
        .context("creating the Bulk API query job")?;
    let job: Value = job.json()?;
    let id = job
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the Bulk API job has no `id`"))?;
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        bail!("the Bulk API job id `{id}` is not an id");
    }
    debug!("{}: Bulk API job {id}", t.name);
    let expected = wait_for(client, &format!("{base}/{id}")).await?;
    let mut received = 0u64;
    let mut locator: Option<String> = None;
    loop {
        let mut request = Request::get(format!("{base}/{id}/results"))
            .param("maxRecords", rows_per_page.to_string());
        if let Some(l) = &locator {
            request = request.param("locator", l.clone());
        }
        let answer = client
            .send(&request)
            .await
            .context("reading the Bulk API results")?;
        let next = answer.header("Sforce-Locator").map(str::to_string);
        let pages = match columns {
            [only] if only.path == ["Id"] => {
                let (ids, rows) = parse_ids(&answer.body)?;
                received += rows;
                vec![Page::Ids(ids)]
            }
            _ => {
                let records = parse_csv(&answer.body, columns, &t.sobject)?;
                received += records.len() as u64;
                in_batches(records)
            }
        };
        drop(answer);
        for page in pages {
            if tx.send(Ok(page)).await.is_err() {
                return Ok(());
            }
        }
        match next.as_deref() {
            None | Some("null") | Some("") => return check_count(expected, received),
            Some(next) => locator = Some(next.to_string()),
        }
    }
}

/// Cuts a results page's records into batches of [`RECORDS_PER_BATCH`].
/// A few batches wait between the reader and the catalog; whole results
/// pages there would hold several times the memory.
fn in_batches(records: Vec<Box<RawValue>>) -> Vec<Page> {
    let mut records = records.into_iter();
    let mut batches = Vec::new();
    loop {
        let batch: Vec<_> = records.by_ref().take(RECORDS_PER_BATCH).collect();
        if batch.is_empty() {
            return batches;
        }
        batches.push(Page::Records {
            records: batch,
            held: None,
        });
    }
}

/// A result that ends short of what the job reported (a lost locator, a
/// proxy that cut a page) would make records look deleted: refuse it.
fn check_count(expected: Option<u64>, received: u64) -> Result<()> {
    match expected {
        Some(n) if n != received => {
            bail!("the Bulk API job reported {n} records but its results held {received}")
        }
        _ => Ok(()),
    }
}

/// Polls a job until it is complete, and gives the number of records it
/// reported; a failed or aborted job is an error.
async fn wait_for(client: &Client, path: &str) -> Result<Option<u64>> {
    let mut pause = Duration::from_millis(50);
    let started = std::time::Instant::now();
    loop {
        let status: Value = client.send(&Request::get(path)).await?.json()?;
        match status.get("state").and_then(Value::as_str).unwrap_or("") {
            "JobComplete" => {
                return Ok(status.get("numberRecordsProcessed").and_then(Value::as_u64))
            }
            "Failed" | "Aborted" => {
                let why = status
                    .get("errorMessage")
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given");
                bail!("the Bulk API job failed: {why}");
            }
            _ if started.elapsed() > MAX_JOB_WAIT => {
                bail!("the Bulk API job did not finish within an hour")
            }
            _ => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_POLL_PAUSE);
            }
        }
    }
}

/// The query's columns, typed by the describes of the sobjects they lead to.
async fn columns(client: &Arc<Client>, t: &TypeConfig, query: &str) -> Result<Vec<Column>> {
    let list = query
        .strip_prefix("SELECT ")
        .and_then(|rest| rest.split(" FROM ").next())
        .ok_or_else(|| anyhow!("cannot read the column list of `{query}`"))?;
    let mut describes = Describes::new(Arc::clone(client));
    let mut columns = Vec::new();
    for path in list.split(", ") {
        let field = describes
            .resolve(&t.sobject, path)
            .await?
            .map_err(|problem| anyhow!("column `{path}`: {problem}"))?;
        let kind = match field
            .field
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string")
        {
            "boolean" => SoapKind::Boolean,
            "int" => SoapKind::Integer,
            "double" | "currency" | "percent" => SoapKind::Decimal,
            "datetime" => SoapKind::Datetime,
            "address" | "location" => {
                bail!("column `{path}` is a compound field, which Bulk API 2.0 cannot read")
            }
            _ => SoapKind::Text,
        };
        columns.push(Column {
            path: path.split('.').map(str::to_string).collect(),
            kind,
        });
    }
    Ok(columns)
}

/// Turns a CSV page into records shaped like a REST query's.
fn parse_csv(body: &[u8], columns: &[Column], sobject: &str) -> Result<Vec<Box<RawValue>>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body);
    let header = reader.headers().context("reading the CSV header")?.clone();
    if header.len() != columns.len() {
        bail!(
            "the Bulk API results have {} columns, the query {}",
            header.len(),
            columns.len()
        );
    }
    let mut records = Vec::new();
    for (line, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("reading CSV row {}", line + 2))?;
        let mut record = Map::new();
        record.insert("attributes".into(), json!({ "type": sobject }));
        for (column, text) in columns.iter().zip(row.iter()) {
            let value = typed(column.kind, text).with_context(|| {
                format!("CSV row {}, column `{}`", line + 2, column.path.join("."))
            })?;
            insert_path(&mut record, &column.path, value);
        }
        records.push(serde_json::value::to_raw_value(&record).context("encoding a CSV row")?);
    }
    Ok(records)
}

/// The checked ids of a one-column CSV page, and how many rows it held.
fn parse_ids(body: &[u8]) -> Result<(IdList, u64)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body);
    // About 20 bytes a row: an id, maybe quoted, and a line break.
    let mut ids = IdList::with_capacity(body.len() / 20);
    let mut rows = 0;
    for (line, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("reading CSV row {}", line + 2))?;
        rows += 1;
        // An id left out would make its item look deleted: refuse the page.
        ids.push_raw(row.get(0).unwrap_or(""))
            .with_context(|| format!("CSV row {}", line + 2))?;
    }
    Ok((ids, rows))
}

/// CSV text back to the JSON REST would send; an empty field is null.
fn typed(kind: SoapKind, text: &str) -> Result<Value> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    Ok(match kind {
        SoapKind::Text => Value::String(text.to_string()),
        SoapKind::Boolean => Value::Bool(text.eq_ignore_ascii_case("true")),
        SoapKind::Integer => Value::Number(
            text.parse::<i64>()
                .map(Number::from)
                .map_err(|_| anyhow!("`{text}` is not an integer"))?,
        ),
        SoapKind::Decimal => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| anyhow!("`{text}` is not a number"))?,
        // Bulk writes `2024-01-31T12:34:56.000Z`; REST `...000+0000`.
        SoapKind::Datetime => Value::String(match text.strip_suffix('Z') {
            Some(head) => format!("{head}+0000"),
            None => text.to_string(),
        }),
    })
}

/// Sets `Account.Name` as `{"Account": {"Name": value}}`.
fn insert_path(record: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            record.insert(last.clone(), value);
        }
        [head, rest @ ..] => {
            let child = record
                .entry(head.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = child {
                insert_path(map, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_rest_shaped_records() {
        let columns = vec![
            Column {
                path: vec!["Id".into()],
                kind: SoapKind::Text,
            },
            Column {
                path: vec!["SystemModstamp".into()],
                kind: SoapKind::Datetime,
            },
            Column {
                path: vec!["Account".into(), "Name".into()],
                kind: SoapKind::Text,
            },
            Column {
                path: vec!["Newsletter__c".into()],
                kind: SoapKind::Boolean,
            },
            Column {
                path: vec!["Score__c".into()],
                kind: SoapKind::Decimal,
            },
            Column {
                path: vec!["NumberOfEmployees".into()],
                kind: SoapKind::Integer,
            },
        ];
        let body = b"\"Id\",\"SystemModstamp\",\"Account.Name\",\"Newsletter__c\",\"Score__c\",\"NumberOfEmployees\"\n\
\"003000000000001AAA\",\"2024-01-31T12:34:56.000Z\",\"Acme \"\"Ltd\"\"\",\"true\",\"12.5\",\"\"\n";
        let records = parse_csv(body, &columns, "Contact").unwrap();
        let first: Value = serde_json::from_str(records[0].get()).unwrap();
        assert_eq!(
            first,
            json!({
                "attributes": {"type": "Contact"},
                "Id": "003000000000001AAA",
                "SystemModstamp": "2024-01-31T12:34:56.000+0000",
                "Account": {"Name": "Acme \"Ltd\""},
                "Newsletter__c": true,
                "Score__c": 12.5,
                "NumberOfEmployees": null
            })
        );
    }

    #[test]
    fn a_short_row_is_an_error_not_a_panic() {
        let columns = vec![Column {
            path: vec!["Id".into()],
            kind: SoapKind::Integer,
        }];
        assert!(parse_csv(b"\"Id\"\n\"abc\"\n", &columns, "Contact").is_err());
        assert!(parse_csv(b"\"Id\",\"X\"\n\"1\",\"2\"\n", &columns, "Contact").is_err());
    }

    #[test]
    fn an_id_listing_is_checked_and_normalised() {
        let body = b"\"Id\"\n\"003000000000001AAA\"\n\"003000000000002\"\n";
        let (ids, rows) = parse_ids(body).unwrap();
        assert_eq!(rows, 2);
        let ids: Vec<&str> = ids.iter().collect();
        assert_eq!(ids, ["003000000000001AAA", "003000000000002AAA"]);
    }

    #[test]
    fn an_id_listing_with_a_bad_id_is_refused_not_shortened() {
        let body = b"\"Id\"\n\"003000000000001AAA\"\n\"003000000000002AAB\"\n";
        let e = parse_ids(body).unwrap_err();
        let message = format!("{e:#}");
        assert!(message.contains("CSV row 3"), "{message}");
        assert!(message.contains("003000000000002AAB"), "{message}");
    }
}
