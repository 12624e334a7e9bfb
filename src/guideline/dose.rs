//! Doses (clinical rules §3): the daily dose of a trial — dose × frequency / period, summed over
//! dosage lines, the dose from `doseQuantity` or the low end of `doseRange`, a missing frequency
//! once per period, no `timing.repeat` no daily dose; a dose in mg counts as given, one counted
//! in tablets or capsules as count × the product's strength in mg, one in mL as volume × its
//! concentration in mg/mL, anything else leaves the daily dose undocumented — and the minimum
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
    // A range documents at least its low end.
    let dose = dosage
        .dose_and_rate
        .iter()
        .flatten()
        .find_map(|dr| dr.dose_quantity.as_ref().or_else(|| dr.dose_range.as_ref()?.low.as_ref()))?;
    let mg = dose_mg(dose, strength)?;
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

fn dose_mg(dose: &Quantity, strength: &impl Fn(Unit) -> Option<f64>) -> Option<f64> {
    let value = dose.value?;
    let unit = dose.code.as_deref().or(dose.unit.as_deref())?.trim().to_ascii_lowercase();
    match unit.as_str() {
        "mg" => Some(value),
        "{tbl}" | "tablet" | "tablets" | "{cap}" | "capsule" | "capsules" => Some(value * strength(Unit::Unit)?),
        "ml" => Some(value * strength(Unit::Millilitre)?),
        _ => None,
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
}
