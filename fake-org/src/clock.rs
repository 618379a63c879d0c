//! Time as the org sees it: the org clock tests can freeze and move, and the
//! text forms Salesforce uses for datetimes and dates.

use std::sync::Mutex;
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

/// Milliseconds since the Unix epoch, the org's internal datetime unit.
pub type Millis = i64;

/// Days since the Unix epoch, the org's internal date unit.
pub type Days = i32;

/// The org clock: follows the wall clock (plus an offset) until a test sets
/// it, and then stays frozen, moving only when advanced.
#[derive(Debug)]
pub struct Clock {
    state: Mutex<ClockState>,
}

#[derive(Debug, Clone, Copy)]
enum ClockState {
    Wall { offset_ms: i64 },
    Frozen { now: Millis },
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            state: Mutex::new(ClockState::Wall { offset_ms: 0 }),
        }
    }
}

impl Clock {
    /// The current org time, truncated to whole seconds as Salesforce stores
    /// its audit stamps.
    pub fn now(&self) -> Millis {
        let state = *self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ms = match state {
            ClockState::Wall { offset_ms } => wall_millis() + offset_ms,
            ClockState::Frozen { now } => now,
        };
        ms - ms.rem_euclid(1000)
    }

    /// Freezes the clock at `now`.
    pub fn set(&self, now: OffsetDateTime) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = ClockState::Frozen {
            now: to_millis(now),
        };
    }

    /// Moves the clock forward, frozen or not.
    pub fn advance(&self, d: Duration) {
        let step = d.as_millis() as i64;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = match *state {
            ClockState::Wall { offset_ms } => ClockState::Wall {
                offset_ms: offset_ms + step,
            },
            ClockState::Frozen { now } => ClockState::Frozen { now: now + step },
        };
    }
}

/// The wall clock in milliseconds since the epoch.
pub fn wall_millis() -> Millis {
    to_millis(OffsetDateTime::now_utc())
}

/// Converts a `time` datetime to epoch milliseconds.
pub fn to_millis(t: OffsetDateTime) -> Millis {
    (t.unix_timestamp_nanos() / 1_000_000) as Millis
}

/// Converts epoch milliseconds to a UTC `time` datetime.
pub fn from_millis(ms: Millis) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Formats a datetime the way the REST API sends it:
/// `2024-01-31T12:34:56.000+0000`.
pub fn format_rest(ms: Millis) -> String {
    let mut out = String::with_capacity(28);
    push_rest(&mut out, ms);
    out
}

/// Appends a datetime in the REST form without going through `format!`,
/// since large query pages carry several per record.
pub fn push_rest(out: &mut String, ms: Millis) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    push_digits(out, year, 4);
    out.push('-');
    push_digits(out, month, 2);
    out.push('-');
    push_digits(out, day, 2);
    out.push('T');
    push_digits(out, in_day / 3_600_000, 2);
    out.push(':');
    push_digits(out, in_day / 60_000 % 60, 2);
    out.push(':');
    push_digits(out, in_day / 1000 % 60, 2);
    out.push('.');
    push_digits(out, in_day % 1000, 3);
    out.push_str("+0000");
}

fn push_digits(out: &mut String, n: i64, width: u32) {
    let mut divisor = 10i64.pow(width - 1);
    while divisor > 0 {
        out.push(char::from(b'0' + (n / divisor % 10) as u8));
        divisor /= 10;
    }
}

/// Year, month and day of a day count since the epoch (Howard Hinnant's
/// civil-from-days algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats a datetime the way Bulk API 2.0 CSV results send it:
/// `2024-01-31T12:34:56.000Z`.
pub fn format_bulk(ms: Millis) -> String {
    let rest = format_rest(ms);
    format!("{}Z", &rest[..23])
}

/// Formats a date as `1999-01-31`.
pub fn format_date(days: Days) -> String {
    let (year, month, day) = civil_from_days(days as i64);
    let mut out = String::with_capacity(10);
    push_digits(&mut out, year, 4);
    out.push('-');
    push_digits(&mut out, month, 2);
    out.push('-');
    push_digits(&mut out, day, 2);
    out
}

/// Parses `YYYY-MM-DD` into days since the epoch.
pub fn parse_date(text: &str) -> Option<Days> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(text, fmt).ok()?;
    let midnight = date.midnight().assume_utc();
    Some((midnight.unix_timestamp() / 86_400) as Days)
}

/// Parses a datetime in any of the forms clients and records use: RFC 3339
/// (`Z` or `+hh:mm`), or Salesforce's `+0000` form.
pub fn parse_datetime(text: &str) -> Option<Millis> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(to_millis(t));
    }
    parse_compact_offset(text)
}

/// Parses `2024-01-31T12:34:56.000+0000`, the offset without a colon.
fn parse_compact_offset(text: &str) -> Option<Millis> {
    let (head, sign, tail) = split_offset(text)?;
    if tail.len() != 4 || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fixed = format!("{head}{sign}{}:{}", &tail[..2], &tail[2..]);
    let t = OffsetDateTime::parse(&fixed, &Rfc3339).ok()?;
    Some(to_millis(t.to_offset(UtcOffset::UTC)))
}

/// Splits a datetime at the sign of its offset, after the `T`.
fn split_offset(text: &str) -> Option<(&str, char, &str)> {
    let t_at = text.find('T')?;
    let rel = text[t_at..].rfind(['+', '-'])?;
    let at = t_at + rel;
    let sign = text[at..].chars().next()?;
    Some((&text[..at], sign, &text[at + 1..]))
}

/// Parses an unquoted SOQL datetime literal: `2024-01-31T12:34:56Z`,
/// optionally with fractional seconds, or with a `+hh:mm`/`-hh:mm` offset.
pub fn parse_soql_datetime(text: &str) -> Option<Millis> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(to_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_form_round_trips() {
        let ms = parse_datetime("2024-01-31T12:34:56.000+0000").unwrap();
        assert_eq!(format_rest(ms), "2024-01-31T12:34:56.000+0000");
        assert_eq!(format_bulk(ms), "2024-01-31T12:34:56.000Z");
        assert_eq!(parse_datetime("2024-01-31T13:34:56+01:00"), Some(ms));
    }

    #[test]
    fn dates_round_trip() {
        let d = parse_date("1999-01-31").unwrap();
        assert_eq!(format_date(d), "1999-01-31");
        assert_eq!(format_date(parse_date("1969-12-31").unwrap()), "1969-12-31");
        assert_eq!(format_date(parse_date("2000-02-29").unwrap()), "2000-02-29");
        let ms = parse_datetime("1999-12-31T23:59:59.999+0000").unwrap();
        assert_eq!(format_rest(ms), "1999-12-31T23:59:59.999+0000");
    }

    #[test]
    fn frozen_clock_only_moves_when_advanced() {
        let clock = Clock::default();
        clock.set(from_millis(1_700_000_000_500));
        assert_eq!(clock.now(), 1_700_000_000_000);
        clock.advance(Duration::from_secs(5));
        assert_eq!(clock.now(), 1_700_000_005_000);
    }
}
