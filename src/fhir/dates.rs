//! FHIR dates as the rules and cards use them: the calendar part, `YYYY`, `YYYY-MM` or
//! `YYYY-MM-DD`, which compares correctly as text.

use fhir_sdk::{Date, DateTime};

pub fn date_text(value: &DateTime) -> String {
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

    #[test]
    fn precision_is_kept() {
        let parse = |s: &str| -> DateTime { serde_json::from_value(serde_json::json!(s)).unwrap() };
        assert_eq!(date_text(&parse("2024")), "2024");
        assert_eq!(date_text(&parse("2024-03")), "2024-03");
        assert_eq!(date_text(&parse("2024-03-02")), "2024-03-02");
        assert_eq!(date_text(&parse("2024-03-02T10:00:00+01:00")), "2024-03-02");
    }
}
