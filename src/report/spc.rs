//! Statistical process control of the weekly firing rate: a u-chart (cards per examined order,
//! a count per unit that may pass 1), whose limits for a week come from the weeks before it.
//! A week outside them is what informatics teams look for when a rule breaks (a value set
//! edited, an EHR sending a new code).

/// Weeks before a week that set its limits, at most; fewer than [`MIN_BASELINE`] set none.
pub const BASELINE_WEEKS: usize = 12;
pub const MIN_BASELINE: usize = 4;

/// Control limits of a rate per 100 orders.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Control {
    pub center: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The limits for a week of `orders` examined orders from the baseline weeks before it
/// (`(firings, orders)` each, weeks without orders left out): the baseline's pooled rate ± 3σ,
/// σ = √(rate / orders).
pub fn limits(baseline: &[(i64, i64)], orders: i64) -> Option<Control> {
    let weeks: Vec<&(i64, i64)> = baseline.iter().filter(|(_, n)| *n > 0).collect();
    if weeks.len() < MIN_BASELINE || orders <= 0 {
        return None;
    }
    let weeks = &weeks[weeks.len().saturating_sub(BASELINE_WEEKS)..];
    let firings: i64 = weeks.iter().map(|(x, _)| x).sum();
    let units: i64 = weeks.iter().map(|(_, n)| n).sum();
    let center = firings as f64 / units as f64;
    let sigma = (center / orders as f64).sqrt();
    Some(Control {
        center: center * 100.0,
        lower: (center - 3.0 * sigma).max(0.0) * 100.0,
        upper: (center + 3.0 * sigma) * 100.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stable_rule_is_in_control_and_a_jump_is_not() {
        let baseline = [(50, 100), (48, 100), (52, 100), (50, 100)];
        let control = limits(&baseline, 100).unwrap();
        assert!((control.center - 50.0).abs() < 1e-9);
        // √(0.5/100) = 0.0707 → ±21.2 per 100
        assert!((control.upper - 71.21).abs() < 0.01, "{control:?}");
        assert!((control.lower - 28.79).abs() < 0.01, "{control:?}");
        assert!(95.0 > control.upper);
        assert!(limits(&baseline[..3], 100).is_none(), "too little history sets no limits");
        assert!(limits(&[(0, 0); 8], 100).is_none(), "weeks without orders are no baseline");
    }
}
