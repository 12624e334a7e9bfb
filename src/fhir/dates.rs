//! FHIR dates as the rules and cards use them: the calendar part, `YYYY`, `YYYY-MM` or
//! `YYYY-MM-DD`, which compares correctly as text. The grammar is fhir-sdk's: a date fhir-sdk's
//! `DateTime` refuses makes its resource unreadable here too.

use std::fmt;
use std::str::FromStr;

use fhir_sdk::{Date, DateTime};
use serde::{Deserialize, Deserializer};

/// A FHIR `date` or `dateTime`, kept as its calendar part — `YYYY`, `YYYY-MM` or `YYYY-MM-DD`
/// (a dateTime's date in its own offset) — which compares correctly as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FhirDate(String);

impl FhirDate {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FhirDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for FhirDate {
    type Err = fhir_sdk::DateFormatError;

    /// Accepts exactly what fhir-sdk's `DateTime` accepts. The two everyday shapes, `YYYY-MM-DD`
    /// and `YYYY`, are checked here; every other is left to fhir-sdk.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
        if b.len() == 10 && b[4] == b'-' && b[7] == b'-' && digits(0..4) && digits(5..7) && digits(8..10) {
            let number = |range: std::ops::Range<usize>| s[range].parse::<u8>().ok();
            let year: Option<i32> = s[..4].parse().ok();
            let valid = match (year, number(5..7).and_then(|m| time::Month::try_from(m).ok()), number(8..10)) {
                (Some(y), Some(m), Some(d)) => time::Date::from_calendar_date(y, m, d).is_ok(),
                _ => false,
            };
            if valid {
                return Ok(Self(s.to_owned()));
            }
        } else if b.len() == 4 && digits(0..4) {
            return Ok(Self(s.to_owned()));
        }
        DateTime::from_str(s).map(|parsed| Self::from(&parsed))
    }
}

impl From<&DateTime> for FhirDate {
    fn from(value: &DateTime) -> Self {
        Self(date_text(value))
    }
}

impl<'de> Deserialize<'de> for FhirDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::datatypes::from_str_with(deserializer, "a FHIR date or dateTime", str::parse)
    }
}

fn date_text(value: &DateTime) -> String {
    match value {
        DateTime::Date(date) => match date {
            Date::Year(y) => format!("{y:04}"),
            Date::YearMonth(y, m) => format!("{y:04}-{:02}", u8::from(*m)),
            Date::Date(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        },
        DateTime::DateTime(instant) => {
            let d = instant.0.date();
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What fhir-sdk makes of a date, for comparison.
    fn sdk(s: &str) -> Option<String> {
        DateTime::from_str(s).ok().map(|d| date_text(&d))
    }

    #[test]
    fn dates_read_as_fhir_sdk_reads_them() {
        for s in [
            "2024",
            "0000",
            "2024-03",
            "2024-3",
            "2024-13",
            "2024-03-02",
            "2024-02-29",
            "2023-02-29",
            "2024-04-31",
            "2024-00-10",
            "2024-01-00",
            "0000-01-01",
            "9999-12-31",
            "2024-03-02T10:00:00+01:00",
            "2024-03-02T23:30:00-05:00",
            "2024-03-02T10:00:00Z",
            "2024-03-02T10:00Z",
            "2024-03-02 10:00:00",
            "20240302",
            "2024-03-02x",
            "24",
            "+2024",
            "12345",
            "-2024",
            "2024-03-02-01",
            "",
            "abcd",
            "２０２４",
        ] {
            let ours = s.parse::<FhirDate>().ok().map(|d| d.0);
            assert_eq!(ours, sdk(s), "{s:?}");
        }
    }

    #[test]
    fn precision_is_kept() {
        let parse = |s: &str| s.parse::<FhirDate>().unwrap().0;
        assert_eq!(parse("2024"), "2024");
        assert_eq!(parse("2024-03"), "2024-03");
        assert_eq!(parse("2024-03-02"), "2024-03-02");
        assert_eq!(parse("2024-03-02T10:00:00+01:00"), "2024-03-02");
        let json: FhirDate = serde_json::from_value(serde_json::json!("2024-03-02T23:30:00-05:00")).unwrap();
        assert_eq!(json.as_str(), "2024-03-02", "a dateTime's date is in its own offset");
    }
}
