//! Instants as the store, the reports and the fatigue step count them: Unix milliseconds, read
//! from the clock at the edges only (the rules take "now" as an argument).

/// Unix milliseconds of an instant.
pub fn millis(at: time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The clock, in Unix milliseconds.
pub fn now_millis() -> i64 {
    millis(time::OffsetDateTime::now_utc())
}

/// Unix milliseconds of an RFC 3339 instant (`outcomeTimestamp`); none when it is not one.
pub fn millis_of(instant: &str) -> Option<i64> {
    let at = time::OffsetDateTime::parse(instant, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A Unix-millisecond instant as RFC 3339 (UTC, to the second).
pub fn instant(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
