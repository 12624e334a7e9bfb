//! The patient's age at "now" (clinical rules §4): a patient under the plan's adult age (18) is
//! offered no adult-dosed first-line order. An unknown age is adult: without a Patient, or a
//! birth date the rules can read, nothing changes.

use super::Today;

/// Whether a patient born on `birth_date` (a FHIR date: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`) may
/// be under `adult_age` years at `today`. A partial date is read as its latest possible day
/// (a patient born "2008" may be 17 until the last day of 2026): the rule errs towards not
/// offering adult doses to a child.
pub fn under(birth_date: &str, adult_age: u32, today: &Today) -> Option<bool> {
    let (year, month_day) = parts(birth_date)?;
    let (today_year, today_month_day) = parts(&today.0)?;
    let mut age = today_year.checked_sub(year)?;
    if today_month_day < month_day {
        age = age.checked_sub(1)?;
    }
    Some(age < adult_age)
}

/// Year and `(month, day)` of a date, a missing month or day the latest possible.
fn parts(date: &str) -> Option<(u32, (u32, u32))> {
    let mut fields = date.get(..10.min(date.len()))?.split('-');
    let year: u32 = fields.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let month: u32 = match fields.next() {
        Some(m) => m.parse().ok().filter(|m| (1..=12).contains(m))?,
        None => 12,
    };
    let day: u32 = match fields.next() {
        Some(d) => d.parse().ok().filter(|d| (1..=31).contains(d))?,
        None => 31,
    };
    Some((year, (month, day)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_eighteen_at_today_partial_dates_at_their_latest() {
        let today = Today("2026-12-03".into());
        assert_eq!(under("2008-12-03", 18, &today), Some(false), "18 today");
        assert_eq!(under("2008-12-04", 18, &today), Some(true), "18 tomorrow");
        assert_eq!(under("1970-01-01", 18, &today), Some(false));
        assert_eq!(under("2012", 18, &today), Some(true));
        assert_eq!(under("2008", 18, &today), Some(true), "may still be 17 until 2008-12-31's birthday");
        assert_eq!(under("2008-11", 18, &today), Some(false));
        assert_eq!(under("2008-12", 18, &today), Some(true));
        assert_eq!(under("not a date", 18, &today), None);
        assert_eq!(under("2030-01-01", 18, &today), None, "born after today: unreadable, not a child");
    }
}
