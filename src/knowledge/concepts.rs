//! Value sets as the rules use them: sets of (system, code) plus the ICD-10-CM filters
//! (`is-a` a category, `regex` over a checked range) that FHIR `compose.include.filter` allows,
//! the value sets they include, and what `compose.exclude` takes out again.

use std::collections::{HashMap, HashSet};

use regex_lite::Regex;

pub const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";

#[derive(Debug, Clone)]
pub enum Filter {
    /// The code itself and every code below it (ICD-10-CM: the code is a prefix).
    IsA(String),
    /// The whole code matches the pattern.
    Regex(Regex),
}

impl Filter {
    fn matches(&self, code: &str) -> bool {
        match self {
            Filter::IsA(parent) => code == parent || code.starts_with(parent.as_str()),
            Filter::Regex(re) => re.find(code).is_some_and(|m| m.start() == 0 && m.end() == code.len()),
        }
    }
}

/// An expanded value set: explicit codes and filters, keyed by system; the value sets it
/// includes; and what it excludes (FHIR: the union of the includes less the union of the
/// excludes).
#[derive(Debug, Clone, Default)]
pub struct ConceptSet {
    codes: HashSet<(String, String)>,
    filters: HashMap<String, Vec<Filter>>,
    included: Vec<ConceptSet>,
    excluded: Option<Box<ConceptSet>>,
}

impl ConceptSet {
    pub fn insert(&mut self, system: &str, code: &str) {
        self.codes.insert((system.to_owned(), canonical_code(system, code)));
    }

    pub fn add_filter(&mut self, system: &str, filter: Filter) {
        self.filters.entry(system.to_owned()).or_default().push(filter);
    }

    /// Includes another value set (with its own excludes).
    pub fn extend(&mut self, other: &ConceptSet) {
        self.included.push(other.clone());
    }

    /// Takes the codes of `excluded` out of this set, whatever included them.
    pub fn exclude(&mut self, excluded: ConceptSet) {
        self.excluded = Some(Box::new(excluded));
    }

    pub fn contains(&self, system: &str, code: &str) -> bool {
        self.contains_key(&(system.to_owned(), canonical_code(system, code)))
    }

    /// [`Self::contains`] for a code already in canonical form: the included and excluded sets
    /// are asked without canonicalising it again.
    fn contains_key(&self, key: &(String, String)) -> bool {
        let (system, code) = key;
        let own =
            self.codes.contains(key) || self.filters.get(system).is_some_and(|fs| fs.iter().any(|f| f.matches(code)));
        (own || self.included.iter().any(|set| set.contains_key(key)))
            && !self.excluded.as_ref().is_some_and(|set| set.contains_key(key))
    }
}

/// ICD-10-CM codes arrive as `M54.16`, `m54.16` or `M5416`: compare them in the dotted,
/// upper-case form of the CMS tabular.
pub fn canonical_code(system: &str, code: &str) -> String {
    let code = code.trim();
    if system != ICD10CM {
        return code.to_owned();
    }
    let mut upper = code.to_ascii_uppercase();
    if !upper.contains('.') && upper.len() > 3 {
        upper.insert(3, '.');
    }
    upper
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd_codes_match_with_or_without_dot_and_through_filters() {
        let mut set = ConceptSet::default();
        set.insert(ICD10CM, "G50.0");
        set.add_filter(ICD10CM, Filter::IsA("I21".into()));
        set.add_filter(ICD10CM, Filter::Regex(Regex::new(r"M54\.1[0-8]").unwrap()));
        assert!(set.contains(ICD10CM, "g500"));
        assert!(set.contains(ICD10CM, "I21.4"));
        assert!(set.contains(ICD10CM, "I21"));
        assert!(!set.contains(ICD10CM, "I210X") || set.contains(ICD10CM, "I21.0X"));
        assert!(set.contains(ICD10CM, "M54.16"));
        assert!(!set.contains(ICD10CM, "M54.19"));
        assert!(!set.contains(ICD10CM, "M54.160"));
        assert!(!set.contains("http://snomed.info/sct", "G50.0"));
    }

    #[test]
    fn excluded_codes_leave_the_set_whatever_included_them() {
        let mut inner = ConceptSet::default();
        inner.add_filter(ICD10CM, Filter::Regex(Regex::new(r"F1[0-9]\.[12].*").unwrap()));
        let mut set = ConceptSet::default();
        set.extend(&inner);
        let mut out = ConceptSet::default();
        out.add_filter(ICD10CM, Filter::IsA("F17".into()));
        out.add_filter(ICD10CM, Filter::Regex(Regex::new(r"F1[0-9]\.(11|21)").unwrap()));
        set.exclude(out);
        assert!(set.contains(ICD10CM, "F11.20"));
        assert!(set.contains(ICD10CM, "F1120"));
        assert!(!set.contains(ICD10CM, "F17.210"), "nicotine dependence");
        assert!(!set.contains(ICD10CM, "F11.21"), "in remission");
        assert!(!set.contains(ICD10CM, "F10.11"), "in remission");
        assert!(set.contains(ICD10CM, "F10.10"));
    }
}
