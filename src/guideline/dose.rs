//! Doses (clinical rules §3): the daily dose of a trial — dose × frequency / period, summed over
//! dosage lines; a dose in mg counts as given, one counted in tablets or capsules as count × the
//! product's strength in mg, anything else leaves the daily dose undocumented — and the minimum
//! daily dose of an adequate trial (TCA ≥ 75 mg/day), applied here.

use super::trials::{ClassStatus, FailureKind, Trial};
use crate::fhir::datatypes::Quantity;
use crate::fhir::resources::Dosage;
use crate::knowledge::DrugClass;

/// Applies the class's dose threshold: a "no response" failure below it (or without a
/// documented dose) is an inadequate trial. Intolerance at any dose is a real failure.
pub fn judge(mut trial: Trial, class: &DrugClass) -> Trial {
    if let (ClassStatus::Failed, Some((FailureKind::NoResponse, _)), Some(min)) =
        (trial.outcome, &trial.failure, class.min_daily_mg)
    {
        if trial.daily_dose_mg.is_none_or(|d| d < min) {
            trial.outcome = ClassStatus::InadequateTrial;
        }
    }
    trial
}

/// The daily dose in mg, or `None` when any line cannot be computed (or there is no line).
pub fn daily_dose_mg(dosages: &[Dosage], strength_mg: Option<f64>) -> Option<f64> {
    let lines: Vec<&Dosage> = dosages.iter().collect();
    if lines.is_empty() {
        return None;
    }
    lines.into_iter().map(|d| line_mg_per_day(d, strength_mg)).sum()
}

fn line_mg_per_day(dosage: &Dosage, strength_mg: Option<f64>) -> Option<f64> {
    // A range is not a documented dose.
    let dose = dosage.dose_and_rate.iter().flatten().find_map(|dr| dr.dose_quantity.as_ref())?;
    let mg = dose_mg(dose, strength_mg)?;
    let repeat = dosage.timing.as_ref()?.repeat.as_ref()?;
    let frequency = repeat.frequency.map_or(1.0, |f| f64::from(f.get()));
    let period = repeat.period.filter(|p| *p > 0.0)?;
    let days = match repeat.period_unit.as_deref()? {
        "h" => period / 24.0,
        "d" => period,
        "wk" => period * 7.0,
        _ => return None,
    };
    Some(mg * frequency / days)
}

fn dose_mg(dose: &Quantity, strength_mg: Option<f64>) -> Option<f64> {
    let value = dose.value?;
    let unit = dose.code.as_deref().or(dose.unit.as_deref())?.trim().to_ascii_lowercase();
    match unit.as_str() {
        "mg" => Some(value),
        "{tbl}" | "tablet" | "tablets" | "{cap}" | "capsule" | "capsules" => Some(value * strength_mg?),
        _ => None,
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
        assert_eq!(daily_dose_mg(&d, None), Some(50.0));
    }

    #[test]
    fn lines_are_summed_and_hours_and_weeks_convert() {
        let d = dosages(json!([
            {"timing": {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}, "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg"}}]},
            {"timing": {"repeat": {"frequency": 7, "period": 1, "periodUnit": "wk"}}, "doseAndRate": [{"doseQuantity": {"value": 5, "code": "mg"}}]}
        ]));
        assert_eq!(daily_dose_mg(&d, None), Some(25.0));
    }

    #[test]
    fn tablets_use_the_product_strength() {
        let d = dosages(json!([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet", "code": "{tbl}"}}]}]));
        assert_eq!(daily_dose_mg(&d, Some(25.0)), Some(50.0));
        assert_eq!(daily_dose_mg(&d, None), None);
    }

    #[test]
    fn other_units_or_missing_timing_are_not_documented() {
        let ml = dosages(json!([{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mL"}}]}]));
        assert_eq!(daily_dose_mg(&ml, None), None);
        let untimed = dosages(json!([{"doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg"}}]}]));
        assert_eq!(daily_dose_mg(&untimed, None), None);
        assert_eq!(daily_dose_mg(&[], None), None);
    }
}
