//! Doses (clinical rules §3): the daily dose of a trial — dose × frequency / period, summed over
//! dosage lines (the minimum daily dose of an adequate trial, TCA ≥ 75 mg/day, is applied to it
//! by `trials::judge`). A line's dose is the first `doseAndRate` entry in mg, else the first in tablets or
//! capsules (× the product's strength in mg), else the first in mL (× its concentration in
//! mg/mL), the low end of a `doseRange` counting as its dose; a dose per kilogram or square metre
//! alone, or any other unit, documents no dose. Its frequency is `frequency`, else the number of
//! `timeOfDay` / `when` entries, else once per period (a period of one day when only those
//! times are given). A line taken as needed (PRN), or without `timing.repeat`, documents no daily
//! dose; so does any trial with such a line.

use crate::fhir::datatypes::Quantity;
use crate::fhir::resources::Dosage;

/// What a dose is counted in, when not in mg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Tablets or capsules: the product's strength, mg per unit.
    Unit,
    /// Millilitres: the product's concentration, mg per mL.
    Millilitre,
}

/// The daily dose in mg, or `None` when any line cannot be computed (or there is no line).
/// `strength` gives the product's mg per tablet or per mL; it is asked only for a dose counted
/// so (reading it from product names costs more than the dose rule itself).
pub fn daily_dose_mg(dosages: &[Dosage], strength: impl Fn(Unit) -> Option<f64>) -> Option<f64> {
    if dosages.is_empty() {
        return None;
    }
    dosages.iter().map(|d| line_mg_per_day(d, &strength)).sum()
}

fn line_mg_per_day(dosage: &Dosage, strength: &impl Fn(Unit) -> Option<f64>) -> Option<f64> {
    if dosage.is_as_needed() {
        return None;
    }
    let mg = line_dose_mg(dosage, strength)?;
    let repeat = dosage.timing.as_ref()?.repeat.as_ref()?;
    let times = repeat.time_of_day.len() + repeat.when.len();
    let frequency = match repeat.frequency {
        Some(f) => f64::from(f.get()),
        None if times > 0 => times as f64,
        None => 1.0,
    };
    // Times of day without a period are times of every day.
    let (period, unit) = match (repeat.period, repeat.period_unit.as_deref()) {
        (None, None) if repeat.frequency.is_none() && times > 0 => (1.0, "d"),
        (period, unit) => (period?, unit?),
    };
    if period <= 0.0 {
        return None;
    }
    let days = match unit {
        "h" => period / 24.0,
        "d" => period,
        "wk" => period * 7.0,
        _ => return None,
    };
    Some(mg * frequency / days)
}

/// What a dose is counted in, in the order a line's `doseAndRate` entries are chosen by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DoseUnit {
    Mg,
    Unit,
    Millilitre,
}

fn dose_unit(dose: &Quantity) -> Option<DoseUnit> {
    let unit = dose.code.as_deref().or(dose.unit.as_deref())?.trim().to_ascii_lowercase();
    match unit.as_str() {
        "mg" => Some(DoseUnit::Mg),
        "{tbl}" | "tablet" | "tablets" | "{cap}" | "capsule" | "capsules" => Some(DoseUnit::Unit),
        "ml" => Some(DoseUnit::Millilitre),
        _ => None,
    }
}

/// The line's dose in mg: of its `doseAndRate` entries (some EHRs send the calculated,
/// administered and ordered amounts side by side) the first in mg, else the first in tablets
/// or capsules, else the first in mL. A range documents at least its low end.
fn line_dose_mg(dosage: &Dosage, strength: &impl Fn(Unit) -> Option<f64>) -> Option<f64> {
    let doses = dosage
        .dose_and_rate
        .iter()
        .flatten()
        .filter_map(|dr| dr.dose_quantity.as_ref().or_else(|| dr.dose_range.as_ref()?.low.as_ref()));
    let (unit, dose) = doses.filter_map(|d| Some((dose_unit(d)?, d))).min_by_key(|(unit, _)| *unit)?;
    let value = dose.value?;
    match unit {
        DoseUnit::Mg => Some(value),
        DoseUnit::Unit => Some(value * strength(Unit::Unit)?),
        DoseUnit::Millilitre => Some(value * strength(Unit::Millilitre)?),
    }
}

#[cfg(test)]
fn fixed(per_unit: Option<f64>, per_ml: Option<f64>) -> impl Fn(Unit) -> Option<f64> {
    move |unit| match unit {
        Unit::Unit => per_unit,
        Unit::Millilitre => per_ml,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dosages(v: serde_json::Value) -> Vec<Dosage> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn mg_times_frequency_over_period() {
        let d = dosages(json!([{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 25, "unit": "mg"}}]}]));
        assert_eq!(daily_dose_mg(&d, fixed(None, None)), Some(50.0));
    }

    #[test]
    fn lines_are_summed_and_hours_and_weeks_convert() {
        let d = dosages(json!([
            {"timing": {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}, "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg"}}]},
            {"timing": {"repeat": {"frequency": 7, "period": 1, "periodUnit": "wk"}}, "doseAndRate": [{"doseQuantity": {"value": 5, "code": "mg"}}]}
        ]));
        assert_eq!(daily_dose_mg(&d, fixed(None, None)), Some(25.0));
    }

    #[test]
    fn tablets_use_the_product_strength() {
        let d = dosages(json!([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet", "code": "{tbl}"}}]}]));
        assert_eq!(daily_dose_mg(&d, fixed(Some(25.0), None)), Some(50.0));
        assert_eq!(daily_dose_mg(&d, fixed(None, None)), None);
    }

    #[test]
    fn a_range_counts_its_low_end_millilitres_their_concentration_and_a_missing_frequency_once() {
        let range = dosages(json!([{"timing": {"repeat": {"period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseRange": {"low": {"value": 25, "unit": "mg"}, "high": {"value": 50, "unit": "mg"}}}]}]));
        assert_eq!(daily_dose_mg(&range, fixed(None, None)), Some(25.0));
        let ml = dosages(json!([{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mL", "code": "mL"}}]}]));
        assert_eq!(daily_dose_mg(&ml, fixed(None, Some(2.0))), Some(20.0));
        assert_eq!(daily_dose_mg(&ml, fixed(Some(25.0), None)), None, "tablet strength is no concentration");
        let no_repeat = dosages(
            json!([{"timing": {"code": {"text": "at night"}}, "doseAndRate": [{"doseQuantity": {"value": 25, "unit": "mg"}}]}]),
        );
        assert_eq!(daily_dose_mg(&no_repeat, fixed(None, None)), None);
    }

    #[test]
    fn other_units_or_missing_timing_are_not_documented() {
        let ml = dosages(json!([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mL"}}]}]));
        assert_eq!(daily_dose_mg(&ml, fixed(None, None)), None);
        let untimed = dosages(json!([{"doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg"}}]}]));
        assert_eq!(daily_dose_mg(&untimed, fixed(None, None)), None);
        assert_eq!(daily_dose_mg(&[], fixed(None, None)), None);
    }
    #[test]
    fn as_needed_lines_document_no_daily_dose() {
        for prn in [
            json!({"asNeededBoolean": true}),
            json!({"asNeededCodeableConcept": {"text": "pain"}}),
            json!({"asNeeded": true}),
            json!({"asNeededFor": [{"text": "pain"}]}),
        ] {
            let mut line = json!({"timing": {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}},
                "doseAndRate": [{"doseQuantity": {"value": 25, "unit": "mg"}}]});
            for (k, v) in prn.as_object().unwrap() {
                line[k] = v.clone();
            }
            assert_eq!(daily_dose_mg(&dosages(json!([line])), fixed(None, None)), None, "{prn}");
        }
        let scheduled = dosages(
            json!([{"asNeededBoolean": false, "timing": {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}},
            "doseAndRate": [{"doseQuantity": {"value": 25, "unit": "mg"}}]}]),
        );
        assert_eq!(daily_dose_mg(&scheduled, fixed(None, None)), Some(75.0));
    }

    #[test]
    fn times_of_day_and_when_are_the_frequency_when_it_is_missing() {
        let at_two_times = dosages(json!([{"timing": {"repeat": {"timeOfDay": ["08:00:00", "20:00:00"]}},
            "doseAndRate": [{"doseQuantity": {"value": 37.5, "unit": "mg"}}]}]));
        assert_eq!(daily_dose_mg(&at_two_times, fixed(None, None)), Some(75.0));
        let when = dosages(json!([{"timing": {"repeat": {"when": ["MORN", "HS"], "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 25, "unit": "mg"}}]}]));
        assert_eq!(daily_dose_mg(&when, fixed(None, None)), Some(50.0));
        let frequency_wins = dosages(
            json!([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS", "MORN"]}},
            "doseAndRate": [{"doseQuantity": {"value": 25, "unit": "mg"}}]}]),
        );
        assert_eq!(daily_dose_mg(&frequency_wins, fixed(None, None)), Some(25.0));
    }

    #[test]
    fn of_several_dose_entries_mg_comes_first_then_tablets_then_millilitres() {
        let line = |entries: serde_json::Value| {
            dosages(
                json!([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}, "doseAndRate": entries}]),
            )
        };
        let q = |value: f64, unit: &str| json!({"doseQuantity": {"value": value, "unit": unit, "code": unit}});
        let mixed = line(json!([q(2.0, "mL"), q(1.0, "{tbl}"), q(25.0, "mg"), q(50.0, "mg")]));
        assert_eq!(daily_dose_mg(&mixed, fixed(Some(10.0), Some(5.0))), Some(25.0));
        let no_mg = line(json!([q(2.0, "mL"), q(3.0, "{tbl}")]));
        assert_eq!(daily_dose_mg(&no_mg, fixed(Some(10.0), Some(5.0))), Some(30.0));
        let per_kg = line(json!([q(0.5, "mg/kg")]));
        assert_eq!(daily_dose_mg(&per_kg, fixed(Some(10.0), Some(5.0))), None, "a dose per kg alone documents nothing");
        let per_kg_and_mg = line(json!([q(0.5, "mg/kg"), q(35.0, "mg")]));
        assert_eq!(daily_dose_mg(&per_kg_and_mg, fixed(None, None)), Some(35.0));
    }
}
