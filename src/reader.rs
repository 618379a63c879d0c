//! Reading a type's records from Salesforce into a channel of pages.
//!
//! A read is a queue of SystemModstamp ranges. A small type is one open
//! range read page after page. A large one is cut into ranges read side by
//! side, so a link with high latency is not one page at a time. A range
//! that Salesforce answers with `QUERY_TIMEOUT` is halved and both halves
//! are read instead. Pages from all ranges go to the same channel; the
//! stage downstream does not care about order, and a record read twice is
//! staged once.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use log::{debug, info};
use serde_json::value::RawValue;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::config::TypeConfig;
use crate::ids::IdList;
use crate::mapping::parse_sf_datetime;
use crate::salesforce::{Client, PageWatch, QueryPage, RawQueryPage, SfError};
use crate::soql::{self, Filter, StampRange};

/// Below this many records a read is not worth cutting into ranges.
const SPLIT_ABOVE: u64 = 8_000;
/// The most ranges of records with child lists read at once. A range
/// following a long child list holds that list's cursor besides its own,
/// and Salesforce keeps 10 query cursors open per user.
const CHILD_LIST_RANGES: usize = 4;
/// How many times the ranges of one read may be read again from their
/// start after their query cursor was lost.
const MAX_LOST: u32 = 2;
/// How many times a range may be halved after `QUERY_TIMEOUT`.
const MAX_SPLITS: u32 = 8;

/// What a reader hands to the stage.
pub enum Page {
    /// Records as Salesforce sent them, still unparsed: a page waiting in
    /// the channel costs only its text.
    Records {
        records: Vec<Box<RawValue>>,
        /// Counts the page among those held (see [`PAGES_HELD`]) until it
        /// is dropped, once mapped.
        held: Option<OwnedSemaphorePermit>,
    },
    /// Checked 18-character ids, from an id listing.
    Ids(IdList),
}

impl Page {
    /// A page of `want`: records as they are, or just their ids.
    fn of(want: Want, page: RawQueryPage) -> Result<Page> {
        Ok(match want {
            Want::Records => Page::Records {
                records: page.records,
                held: page.held,
            },
            Want::Ids => Page::Ids(ids_of(&page.records)?),
        })
    }
}

/// How many pages of records one read may hold at once: read, or waiting
/// to be mapped, or being mapped. The ranges of a read share them, so the
/// memory a read takes does not grow with `parallel`: when the stage is
/// the slower side, a range's next page waits in its connection.
const PAGES_HELD: usize = 4;

/// Just the id of a record, borrowed from its raw text.
#[derive(serde::Deserialize)]
struct IdOnly<'a> {
    #[serde(rename = "Id", borrow)]
    id: Option<&'a str>,
}

/// The checked ids of raw records. A record without a usable id is an
/// error: left out, its item would look deleted.
fn ids_of(records: &[Box<RawValue>]) -> Result<IdList> {
    let mut ids = IdList::with_capacity(records.len());
    for (n, raw) in records.iter().enumerate() {
        let id = serde_json::from_str::<IdOnly<'_>>(raw.get())
            .ok()
            .and_then(|record| record.id)
            .ok_or_else(|| anyhow!("record {} of the page has no `Id`", n + 1))?;
        ids.push_raw(id)
            .with_context(|| format!("record {} of the page", n + 1))?;
    }
    Ok(ids)
}

/// What a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Whole records.
    Records,
    /// Ids alone, for the missing step of an incremental sync.
    Ids,
}

/// One read of one type.
#[derive(Clone)]
pub struct ReadJob {
    /// The type being read.
    pub t: Arc<TypeConfig>,
    /// Records or ids.
    pub want: Want,
    /// Only records stamped at or after this (a SOQL literal).
    pub since: Option<String>,
    /// How many records the read is expected to return, if known.
    pub expected: Option<u64>,
    /// What the survey before a full read found (`since` is then `None`):
    /// ranges are cut by it without querying the org again.
    pub survey: Option<Arc<Survey>>,
}

/// How one range ended.
enum RangeEnd {
    Done,
    TimedOut(StampRange, u32),
    /// Salesforce no longer knows the range's query cursor
    /// (`INVALID_QUERY_LOCATOR`): it expired, or more cursors were opened
    /// for the user than Salesforce keeps.
    Lost(StampRange, u32),
}

/// Reads `job` into `tx`; the first error is sent on and ends the read.
pub async fn read(client: Arc<Client>, job: ReadJob, tx: mpsc::Sender<Result<Page>>) {
    if let Err(e) = read_ranges(&client, &job, &tx).await {
        let _ = tx.send(Err(e)).await;
    }
}

async fn read_ranges(
    client: &Arc<Client>,
    job: &ReadJob,
    tx: &mpsc::Sender<Result<Page>>,
) -> Result<()> {
    let start = StampRange {
        from: job.since.clone(),
        to: None,
    };
    let parallel = match job.want {
        Want::Records if soql::has_child_lists(&job.t) => {
            job.t.read.parallel.min(CHILD_LIST_RANGES)
        }
        _ => job.t.read.parallel,
    };
    let mut queue: VecDeque<(StampRange, u32)> = VecDeque::new();
    let large = job.expected.is_some_and(|n| n > SPLIT_ABOVE);
    // The newest stamp the org held when the ranges were cut: see `catch_up`.
    let mut newest = None;
    if large && parallel > 1 && soql::can_split(&job.t) {
        let surveyed = job.survey.as_deref().filter(|_| job.since.is_none());
        let (ranges, top) = match surveyed {
            Some(survey) => match survey.ranges(parallel) {
                Some(cut) => cut,
                None => cut(client, &job.t, &start, parallel, false).await?,
            },
            None => cut(client, &job.t, &start, parallel, true).await?,
        };
        newest = top;
        for range in ranges {
            queue.push_back((range, 0));
        }
        debug!(
            "{}: reading {} ranges, {parallel} at a time",
            job.t.name,
            queue.len()
        );
    } else {
        queue.push_back((start, 0));
    }
    let out = Outlet {
        tx: tx.clone(),
        gate: Arc::new(Semaphore::new(PAGES_HELD)),
    };
    let mut running = JoinSet::new();
    let mut lost = 0;
    loop {
        while running.len() < parallel {
            let Some((range, splits)) = queue.pop_front() else {
                break;
            };
            running.spawn(read_range(
                Arc::clone(client),
                job.clone(),
                range,
                splits,
                out.clone(),
            ));
        }
        let Some(joined) = running.join_next().await else {
            return catch_up(client, job, newest, &out).await;
        };
        match joined.map_err(|e| anyhow!("a read task failed: {e}"))?? {
            RangeEnd::Done => {}
            RangeEnd::Lost(range, splits) => {
                lost += 1;
                if lost > MAX_LOST {
                    return Err(anyhow!(cursor_lost(lost)));
                }
                // Records read twice are staged once.
                info!(
                    "{}: Salesforce lost a query cursor (INVALID_QUERY_LOCATOR); reading its range again",
                    job.t.name
                );
                queue.push_back((range, splits));
            }
            RangeEnd::TimedOut(range, splits) => {
                if splits >= MAX_SPLITS || !soql::can_split(&job.t) {
                    return Err(anyhow!(SfError::Api {
                        status: 400,
                        code: "QUERY_TIMEOUT".into(),
                        message: format!(
                            "the query still timed out after {splits} halvings of its range"
                        ),
                    }));
                }
                let (halves, top) = cut(client, &job.t, &range, 2, false).await?;
                newest = newest.max(top);
                info!(
                    "{}: QUERY_TIMEOUT; reading the range in {} parts",
                    job.t.name,
                    halves.len()
                );
                if halves.len() < 2 {
                    return Err(anyhow!(
                        "`QUERY_TIMEOUT` on a range of one second; it cannot be cut further"
                    ));
                }
                queue.extend(halves.into_iter().map(|h| (h, splits + 1)));
            }
        }
    }
}

/// Ranges run at different moments. A record changed after the open-ended
/// last range was queried, but before its own older range was, moves out of
/// the older range into the newer one, and neither query returns it: the
/// missing step would then take it for gone. Every such change is stamped
/// at or after the newest stamp seen when the ranges were cut, so one more
/// query from that stamp, after every range is done, finds them all.
async fn catch_up(
    client: &Arc<Client>,
    job: &ReadJob,
    newest: Option<OffsetDateTime>,
    out: &Outlet,
) -> Result<()> {
    let Some(newest) = newest else { return Ok(()) };
    let range = StampRange {
        from: Some(literal(newest)),
        to: None,
    };
    debug!(
        "{}: reading what changed during the read, from {}",
        job.t.name,
        literal(newest)
    );
    let mut lost = 0;
    loop {
        let read = read_range(
            Arc::clone(client),
            job.clone(),
            range.clone(),
            0,
            out.clone(),
        );
        match read.await? {
            RangeEnd::Done => return Ok(()),
            RangeEnd::Lost(..) if lost < MAX_LOST => lost += 1,
            RangeEnd::Lost(..) => return Err(anyhow!(cursor_lost(lost + 1))),
            RangeEnd::TimedOut(..) => {
                return Err(anyhow!(SfError::Api {
                    status: 400,
                    code: "QUERY_TIMEOUT".into(),
                    message: "the query for records changed during the read timed out".into(),
                }))
            }
        }
    }
}

/// The error of a read whose query cursors were lost `times` times.
fn cursor_lost(times: u32) -> SfError {
    SfError::Api {
        status: 400,
        code: "INVALID_QUERY_LOCATOR".into(),
        message: format!(
            "Salesforce lost the read's query cursor {times} times (expired, or more \
             than 10 cursors open for the user)"
        ),
    }
}

/// Where the ranges of a read send their pages.
#[derive(Clone)]
struct Outlet {
    tx: mpsc::Sender<Result<Page>>,
    /// The read's [`PAGES_HELD`] permits.
    gate: Arc<Semaphore>,
}

/// Reads one range page by page into `out`.
///
/// The next page is asked for as soon as a page has arrived, before it is
/// parsed and handed on, so the round trip for the next page overlaps
/// that work and any wait for the stage; not sooner, since a page that
/// had to be asked for again after its next page was would be out of
/// order for Salesforce. Its body is read once one of the read's permits
/// is free. Not for records with child lists: asking for the next page
/// would close the lists of this one before they are read to the end.
async fn read_range(
    client: Arc<Client>,
    job: ReadJob,
    range: StampRange,
    splits: u32,
    out: Outlet,
) -> Result<RangeEnd> {
    let soql = match job.want {
        Want::Records if range.is_open() => soql::select(&job.t, &Filter::All),
        Want::Records => soql::select(&job.t, &Filter::Stamps(&range)),
        Want::Ids => soql::ids(&job.t, &range),
    };
    debug!("{}: {soql}", job.t.name);
    let mut number = 1;
    let early = job.want == Want::Ids || !soql::has_child_lists(&job.t);
    let mut fetch = Fetch::start(&client, &out, Ask::Query(soql), early);
    loop {
        let ahead = match (&mut fetch.next).await {
            Ok(url) => Some((
                url.clone(),
                Fetch::start(&client, &out, Ask::More(url), early),
            )),
            Err(_) => None,
        };
        let page = match fetch.page().await {
            Ok(page) => page,
            Err(e) if e.code() == Some("QUERY_TIMEOUT") => {
                return Ok(RangeEnd::TimedOut(range, splits))
            }
            Err(e) if e.code() == Some("INVALID_QUERY_LOCATOR") => {
                return Ok(RangeEnd::Lost(range, splits))
            }
            Err(e) => return Err(anyhow!(e).context(format!("page {number}"))),
        };
        let next = page.next_records_url.clone().filter(|_| !page.done);
        let page_of = Page::of(job.want, page).with_context(|| format!("page {number}"))?;
        if out.tx.send(Ok(page_of)).await.is_err() {
            return Ok(RangeEnd::Done);
        }
        let Some(next) = next else {
            return Ok(RangeEnd::Done);
        };
        number += 1;
        fetch = match ahead {
            Some((url, asked)) if url == next => asked,
            _ => Fetch::start(&client, &out, Ask::More(next), early),
        };
    }
}

/// What a [`Fetch`] asks for.
enum Ask {
    /// The first page of a query.
    Query(String),
    /// The page at a `nextRecordsUrl`.
    More(String),
}

/// One page on its way, read by a task of its own: with `early`, its
/// `nextRecordsUrl` comes on `next` as soon as the page is in, before it
/// is parsed (the sender is dropped when there is none, or at once
/// without `early`), the page itself after. Dropping a fetch stops its
/// task.
struct Fetch {
    next: tokio::sync::oneshot::Receiver<String>,
    task: tokio_util::task::AbortOnDropHandle<Result<RawQueryPage, SfError>>,
}

impl Fetch {
    fn start(client: &Arc<Client>, out: &Outlet, ask: Ask, early: bool) -> Fetch {
        let (sender, next) = tokio::sync::oneshot::channel();
        let watch = PageWatch {
            early: early.then_some(sender),
            gate: Some(Arc::clone(&out.gate)),
        };
        let client = Arc::clone(client);
        let task = tokio::spawn(async move {
            match ask {
                Ask::Query(soql) => client.query_raw_watched(&soql, false, watch).await,
                Ask::More(url) => client.query_more_raw_watched(&url, watch).await,
            }
        });
        Fetch {
            next,
            task: tokio_util::task::AbortOnDropHandle::new(task),
        }
    }

    /// The whole page.
    async fn page(&mut self) -> Result<RawQueryPage, SfError> {
        (&mut self.task)
            .await
            .map_err(|e| SfError::BadResponse(format!("the task reading a page stopped: {e}")))?
    }
}

/// Cuts `range` into up to `parts` ranges, closing open ends with the
/// lowest and highest stamps the org holds in it. Also gives the highest
/// stamp when it was asked for (an open end), for `catch_up`.
///
/// With `balanced`, the ranges hold about as many records each, by the
/// org's count of records per month; otherwise, or when the org does not
/// give that count, they span equal time. Equal time alone can be far
/// from equal work: a few records touched today stretch the span, and the
/// bulk of a type then lands in the first range.
async fn cut(
    client: &Client,
    t: &TypeConfig,
    range: &StampRange,
    parts: usize,
    balanced: bool,
) -> Result<(Vec<StampRange>, Option<OffsetDateTime>)> {
    let whole = || Ok((vec![range.clone()], None));
    let low = async {
        match &range.from {
            Some(f) => parse_literal(f).map(Some),
            None => edge(client, t, range, false).await,
        }
    };
    // The upper bound, and whether it is the newest stamp of an open end.
    let high = async {
        match &range.to {
            Some(to) => parse_literal(to).map(|stamp| Some((stamp, false))),
            None => Ok(edge(client, t, range, true)
                .await?
                .map(|stamp| (stamp, true))),
        }
    };
    let spread = async {
        if balanced {
            months(client, t, range).await
        } else {
            None
        }
    };
    // The edges and the spread are asked at once: on a slow link that is
    // one round trip before the read instead of three. The spread only
    // balances the ranges, so it is not waited for long after the edges.
    let edges = async { tokio::try_join!(low, high) };
    let (edges, spread) = after_at_most(edges, spread, SPREAD_GRACE).await;
    let spread = spread.unwrap_or_else(|| {
        debug!(
            "{}: no count per month within {}s of the stamp edges; cutting evenly in time",
            t.name,
            SPREAD_GRACE.as_secs()
        );
        None
    });
    let (Some(from), Some((top, open))) = edges? else {
        return whole();
    };
    Ok(split(range, from, top, open, spread.as_deref(), parts))
}

/// Cuts `range`, whose records are stamped from `from` to `top`, into up
/// to `parts` ranges: of about as many records each by `spread`, the
/// records per month, or else of equal time. With `open`, `range` has no
/// upper end and `top` is the newest stamp there, given back for
/// `catch_up`.
fn split(
    range: &StampRange,
    from: OffsetDateTime,
    top: OffsetDateTime,
    open: bool,
    spread: Option<&[Month]>,
    parts: usize,
) -> (Vec<StampRange>, Option<OffsetDateTime>) {
    // The last part keeps the open end; the second only sets the span, and
    // cannot be added past the last stamp `time` represents.
    let (to, newest) = if open {
        (top.checked_add(Duration::SECOND).unwrap_or(top), Some(top))
    } else {
        (top, None)
    };
    let mut bounds = vec![from];
    match spread {
        Some(months) if months.iter().any(|m| m.count > 0) => {
            bounds.extend(even_bounds(from, to, months, parts));
        }
        _ => {
            let span = (to - from).whole_seconds();
            let parts = (parts as i64).min(span).max(1);
            let step = span / parts;
            bounds.extend((1..parts).map(|i| from + Duration::seconds(step * i)));
        }
    }
    bounds.push(to);
    let ranges = bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| StampRange {
            // The first range keeps an open start so nothing older is lost
            // to a clock skew between the edge query and the reads.
            from: if i == 0 {
                range.from.clone()
            } else {
                Some(literal(w[0]))
            },
            to: if i + 2 == bounds.len() {
                range.to.clone()
            } else {
                Some(literal(w[1]))
            },
        })
        .collect();
    (ranges, newest)
}

/// How much longer than the stamp edges the count per month is waited for.
/// On an org where grouping by month is slow, ranges of equal time are
/// read sooner than balanced ones would be.
const SPREAD_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `first` and `second` together and gives both outcomes, but waits
/// for `second` no more than `grace` after `first` is done: `None` then.
async fn after_at_most<A, B>(
    first: impl Future<Output = A>,
    second: impl Future<Output = B>,
    grace: std::time::Duration,
) -> (A, Option<B>) {
    let mut first = std::pin::pin!(first);
    let mut second = std::pin::pin!(second);
    let mut early = None;
    let a = loop {
        tokio::select! {
            a = &mut first => break a,
            b = &mut second, if early.is_none() => early = Some(b),
        }
    };
    match early {
        Some(b) => (a, Some(b)),
        None => (a, tokio::time::timeout(grace, second).await.ok()),
    }
}

/// The records of one calendar month of SystemModstamp.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Month {
    start: OffsetDateTime,
    end: OffsetDateTime,
    count: u64,
}

impl Month {
    /// `count` records in `month` of `year`, from its first midnight (UTC)
    /// to the next month's.
    fn of(year: i32, month: time::Month, count: u64) -> Option<Month> {
        let start = time::Date::from_calendar_date(year, month, 1).ok()?;
        let next = match month {
            time::Month::December => time::Date::from_calendar_date(year + 1, month.next(), 1),
            _ => time::Date::from_calendar_date(year, month.next(), 1),
        }
        .ok()?;
        Some(Month {
            start: start.midnight().assume_utc(),
            end: next.midnight().assume_utc(),
            count,
        })
    }
}

/// What a type holds before a full read: how many records match its
/// criteria and, when the org would group them, how they spread over the
/// months of SystemModstamp with the first and last stamp. One query tells
/// all three, where a count, both edges and a count per month would take
/// four, two round trips apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    /// How many records the criteria match.
    pub total: u64,
    /// The oldest and newest stamp, when known and there are records.
    edges: Option<(OffsetDateTime, OffsetDateTime)>,
    /// The records per month, oldest first.
    months: Vec<Month>,
}

/// How long the survey is waited for before a plain `count()` is asked as
/// well: on an org slow to group by month, the read may start sooner.
const SURVEY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Survey {
    /// A survey from the groups of [`soql::survey`]; `None` if any group
    /// cannot be read, since a wrong total could hide records.
    fn of_groups(records: &[Value]) -> Option<Survey> {
        let mut survey = Survey {
            total: 0,
            edges: None,
            months: Vec::with_capacity(records.len()),
        };
        for r in records {
            let year = i32::try_from(r.get("expr0")?.as_i64()?).ok()?;
            let month =
                time::Month::try_from(u8::try_from(r.get("expr1")?.as_i64()?).ok()?).ok()?;
            let count = r.get("expr2")?.as_u64()?;
            let stamp = |key: &str| {
                r.get(key)
                    .and_then(Value::as_str)
                    .and_then(parse_sf_datetime)
            };
            let (first, last) = (stamp("expr3")?, stamp("expr4")?);
            survey.total += count;
            survey.months.push(Month::of(year, month, count)?);
            survey.edges = Some(match survey.edges {
                Some((low, high)) => (low.min(first), high.max(last)),
                None => (first, last),
            });
        }
        survey.months.sort_by_key(|m| m.start);
        Some(survey)
    }

    /// The whole type in up to `parts` ranges of about as many records
    /// each, and its newest stamp; `None` when the survey has no edges
    /// (the org only counted).
    fn ranges(&self, parts: usize) -> Option<(Vec<StampRange>, Option<OffsetDateTime>)> {
        let (from, top) = self.edges?;
        let whole = StampRange::default();
        Some(split(&whole, from, top, true, Some(&self.months), parts))
    }
}

/// Surveys `t` before a full read (see [`Survey`]). When the org refuses
/// the grouped query, a `count()` stands in, and ranges are later cut
/// evenly in time without asking it to group again. When it is slow to
/// answer, a `count()` is asked as well and the first answer is taken: an
/// org slow to group may be as slow to count.
pub async fn survey(client: &Client, t: &TypeConfig) -> Result<Survey> {
    let query = soql::survey(t);
    let grouped = client.query(&query, false);
    tokio::pin!(grouped);
    if let Ok(answer) = tokio::time::timeout(SURVEY_WAIT, &mut grouped).await {
        return match surveyed(t, answer)? {
            Some(survey) => Ok(survey),
            None => counted(client, t).await,
        };
    }
    debug!(
        "{}: no count per month within {}s; counting as well, and taking the first answer",
        t.name,
        SURVEY_WAIT.as_secs()
    );
    let count = counted(client, t);
    tokio::pin!(count);
    tokio::select! {
        answer = &mut grouped => match surveyed(t, answer)? {
            Some(survey) => Ok(survey),
            None => count.await,
        },
        survey = &mut count => survey,
    }
}

/// The survey in the answer to the grouped query; `None` when the org
/// refused the query or an answer's group cannot be read, so that a count
/// must stand in.
fn surveyed(t: &TypeConfig, answer: Result<QueryPage, SfError>) -> Result<Option<Survey>> {
    let why = match answer {
        Ok(page) => match Survey::of_groups(&page.records) {
            Some(survey) => return Ok(Some(survey)),
            None => "a group of its answer could not be read".to_string(),
        },
        Err(e) if e.stops_the_run() => return Err(anyhow!(e).context("surveying the type")),
        Err(e) => e.to_string(),
    };
    debug!(
        "{}: no count per month ({why}); counting instead and cutting evenly in time",
        t.name
    );
    Ok(None)
}

/// A survey of the count alone: ranges are then cut evenly in time.
async fn counted(client: &Client, t: &TypeConfig) -> Result<Survey> {
    let page = client
        .query(&soql::count(t), false)
        .await
        .context("counting the type's records")?;
    Ok(Survey {
        total: page.total_size,
        edges: None,
        months: Vec::new(),
    })
}

/// How many records `range` holds in each month, oldest first. `None` when
/// the org does not answer (an aggregate query refused, or timed out on a
/// huge type): the caller then cuts evenly in time. Salesforce may count
/// months in its user's time zone rather than UTC; hours either way make
/// no difference to how even the ranges come out.
async fn months(client: &Client, t: &TypeConfig, range: &StampRange) -> Option<Vec<Month>> {
    let page = match client.query(&soql::stamp_months(t, range), false).await {
        Ok(page) => page,
        Err(e) => {
            debug!(
                "{}: no count per month ({e}); cutting evenly in time",
                t.name
            );
            return None;
        }
    };
    let mut months: Vec<Month> = page
        .records
        .iter()
        .filter_map(|r| {
            let year = i32::try_from(r.get("expr0")?.as_i64()?).ok()?;
            let month =
                time::Month::try_from(u8::try_from(r.get("expr1")?.as_i64()?).ok()?).ok()?;
            Month::of(year, month, r.get("expr2")?.as_u64()?)
        })
        .collect();
    months.sort_by_key(|m| m.start);
    Some(months)
}

/// The inner bounds that cut `from..to` into up to `parts` ranges of about
/// the same number of records, taking each month's records as spread
/// evenly over it. Whole seconds, rising, strictly inside `from..to`.
fn even_bounds(
    from: OffsetDateTime,
    to: OffsetDateTime,
    months: &[Month],
    parts: usize,
) -> Vec<OffsetDateTime> {
    let clipped: Vec<Month> = months
        .iter()
        .map(|m| Month {
            start: m.start.max(from),
            end: m.end.min(to),
            count: m.count,
        })
        .filter(|m| m.start < m.end && m.count > 0)
        .collect();
    let total: u64 = clipped.iter().map(|m| m.count).sum();
    let mut bounds: Vec<OffsetDateTime> = Vec::new();
    let mut before = 0u64;
    let mut next = 1;
    for m in &clipped {
        while next < parts {
            let target = total as f64 * next as f64 / parts as f64;
            if target > (before + m.count) as f64 {
                break;
            }
            let share = (target - before as f64) / m.count as f64;
            let offset = ((m.end - m.start).as_seconds_f64() * share) as i64;
            let bound = m.start + Duration::seconds(offset);
            let bound = bound.replace_nanosecond(0).unwrap_or(bound);
            if bound > from && bound < to && bounds.last().is_none_or(|&last| bound > last) {
                bounds.push(bound);
            }
            next += 1;
        }
        before += m.count;
    }
    bounds
}

/// The lowest or highest SystemModstamp in `range`, if any record is there.
async fn edge(
    client: &Client,
    t: &TypeConfig,
    range: &StampRange,
    last: bool,
) -> Result<Option<OffsetDateTime>> {
    let page = client
        .query(&soql::stamp_edge(t, range, last), false)
        .await
        .context("finding the range of SystemModstamp")?;
    Ok(page
        .records
        .first()
        .and_then(|r| r.get("SystemModstamp"))
        .and_then(Value::as_str)
        .and_then(parse_sf_datetime))
}

/// A SOQL datetime literal, such as `2024-01-31T12:34:56Z`.
pub fn literal(t: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

fn parse_literal(text: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| anyhow!("`{text}` is not a SOQL datetime literal: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[tokio::test]
    async fn the_second_outcome_is_kept_when_it_comes_first_or_within_the_grace() {
        let grace = std::time::Duration::from_millis(200);
        let sleep = |ms| tokio::time::sleep(std::time::Duration::from_millis(ms));
        let early = after_at_most(
            async {
                sleep(50).await;
                1
            },
            async { 2 },
            grace,
        )
        .await;
        assert_eq!(early, (1, Some(2)));
        let within = after_at_most(
            async { 1 },
            async {
                sleep(50).await;
                2
            },
            grace,
        )
        .await;
        assert_eq!(within, (1, Some(2)));
        let started = std::time::Instant::now();
        let late = after_at_most(
            async { 1 },
            async {
                sleep(60_000).await;
                2
            },
            grace,
        )
        .await;
        assert_eq!(late, (1, None));
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }

    #[test]
    fn literals_are_utc_seconds() {
        assert_eq!(
            literal(datetime!(2024-01-31 12:34:56.789 +01:00)),
            "2024-01-31T11:34:56Z"
        );
        assert_eq!(
            parse_literal("2024-01-31T11:34:56Z").unwrap(),
            datetime!(2024-01-31 11:34:56 UTC)
        );
    }

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).unwrap()
    }

    #[test]
    fn a_rest_id_page_without_a_usable_id_is_refused() {
        let good = raw(r#"{"Id":"003000000000001"}"#);
        let ids = ids_of(std::slice::from_ref(&good)).unwrap();
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["003000000000001AAA"]);
        for bad in [r#"{"Name":"x"}"#, r#"{"Id":"003000000000001AAB"}"#] {
            let e = ids_of(&[good.clone(), raw(bad)]).unwrap_err();
            assert!(format!("{e:#}").contains("record 2"), "{e:#}");
        }
    }

    #[test]
    fn a_survey_sums_the_months_and_keeps_the_outer_stamps() {
        let groups = serde_json::json!([
            {"expr0": 2024, "expr1": 3, "expr2": 5,
             "expr3": "2024-03-02T10:00:00.000+0000", "expr4": "2024-03-30T08:00:00.000+0000"},
            {"expr0": 2023, "expr1": 11, "expr2": 7,
             "expr3": "2023-11-05T00:00:01.000+0000", "expr4": "2023-11-20T00:00:00.000+0000"},
        ]);
        let survey = Survey::of_groups(groups.as_array().unwrap()).unwrap();
        assert_eq!(survey.total, 12);
        assert_eq!(
            survey.edges,
            Some((
                datetime!(2023-11-05 00:00:01 UTC),
                datetime!(2024-03-30 08:00:00 UTC)
            ))
        );
        assert_eq!(survey.months, vec![month(2023, 11, 7), month(2024, 3, 5)]);

        let (ranges, newest) = survey.ranges(3).unwrap();
        assert_eq!(newest, Some(datetime!(2024-03-30 08:00:00 UTC)));
        assert_eq!(ranges.first().unwrap().from, None, "the start stays open");
        assert_eq!(ranges.last().unwrap().to, None, "the end stays open");
        assert!(ranges.len() >= 2);
    }

    #[test]
    fn a_survey_with_an_unreadable_group_is_refused() {
        let good = serde_json::json!({"expr0": 2024, "expr1": 3, "expr2": 5,
            "expr3": "2024-03-02T10:00:00.000+0000", "expr4": "2024-03-30T08:00:00.000+0000"});
        for (key, bad) in [
            ("expr1", serde_json::json!(13)),
            ("expr2", serde_json::json!(-1)),
            ("expr3", serde_json::Value::Null),
            ("expr4", serde_json::json!("yesterday")),
        ] {
            let mut group = good.clone();
            group[key] = bad;
            assert_eq!(Survey::of_groups(&[good.clone(), group]), None, "{key}");
        }
        let empty = Survey::of_groups(&[]).unwrap();
        assert_eq!((empty.total, empty.edges), (0, None));
        assert_eq!(empty.ranges(4), None);
    }

    fn month(year: i32, month: u8, count: u64) -> Month {
        Month::of(year, time::Month::try_from(month).unwrap(), count).unwrap()
    }

    #[test]
    fn bounds_follow_the_records_not_the_calendar() {
        // Nearly everything was last touched in 2020; a few records today.
        let months = [
            month(2020, 1, 4_000),
            month(2020, 2, 4_000),
            month(2026, 12, 8),
        ];
        let from = datetime!(2020-01-01 00:00:00 UTC);
        let to = datetime!(2026-12-04 10:00:00 UTC);
        let bounds = even_bounds(from, to, &months, 4);
        // A quarter of the records each: mid-January, the turn of the
        // month, mid-February (to within the few records of today).
        let near =
            |bound: OffsetDateTime, at: OffsetDateTime| (bound - at).abs() < Duration::hours(2);
        assert_eq!(bounds.len(), 3, "{bounds:?}");
        assert!(
            near(bounds[0], datetime!(2020-01-16 12:00:00 UTC)),
            "{bounds:?}"
        );
        assert!(
            near(bounds[1], datetime!(2020-02-01 00:00:00 UTC)),
            "{bounds:?}"
        );
        assert!(
            near(bounds[2], datetime!(2020-02-15 12:00:00 UTC)),
            "{bounds:?}"
        );
        // Cut evenly in time instead, the first range would hold them all.
    }

    #[test]
    fn bounds_stay_inside_the_span_and_rise() {
        let from = datetime!(2024-03-10 08:00:00.250 UTC);
        let to = datetime!(2024-03-10 08:00:03 UTC);
        // Everything in one month and in three seconds: at most two cuts.
        let bounds = even_bounds(from, to, &[month(2024, 3, 1_000_000)], 8);
        assert!(bounds.len() <= 2, "{bounds:?}");
        assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        assert!(bounds.iter().all(|&b| b > from && b < to));
        // No counts, or none inside the span: no cuts.
        assert!(even_bounds(from, to, &[], 4).is_empty());
        assert!(even_bounds(from, to, &[month(2023, 1, 10)], 4).is_empty());
    }
}
