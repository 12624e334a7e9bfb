//! The discovery document (`GET /cds-services`): the two services and their prefetch templates.

use serde::Serialize;

/// Prefetch keys and the FHIR query each stands for. The patient record is built from these;
/// the FHIR-server fallback runs the same queries.
pub const PREFETCH: &[(&str, &str)] = &[
    ("patient", "Patient/{{context.patientId}}"),
    ("conditions", "Condition?patient={{context.patientId}}"),
    ("medicationRequests", "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication"),
    (
        "medicationStatements",
        "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication",
    ),
    ("allergyIntolerances", "AllergyIntolerance?patient={{context.patientId}}"),
];

/// Prefetch keys without which a ketamine order cannot be assessed.
pub const REQUIRED_PREFETCH: &[&str] =
    &["conditions", "medicationRequests", "medicationStatements", "allergyIntolerances"];

/// One service this process offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceDef {
    pub id: &'static str,
    pub hook: &'static str,
    pub title: &'static str,
    pub description: &'static str,
}

pub const SERVICES: &[ServiceDef] = &[
    ServiceDef {
        id: "ketamine-order-select",
        hook: "order-select",
        title: "Ketamine for neuropathic pain: first-line agents first",
        description: "When a ketamine or esketamine order for neuropathic pain is selected, checks \
                      that documented failures of the first-line classes (SNRI, gabapentinoid, TCA) \
                      back it, and suggests the first-line alternative when they do not.",
    },
    ServiceDef {
        id: "ketamine-order-sign",
        hook: "order-sign",
        title: "Ketamine for neuropathic pain: step-therapy check at signing",
        description: "Before ketamine or esketamine orders for neuropathic pain are signed, warns when \
                      first-line classes (SNRI, gabapentinoid, TCA) have no documented failure and \
                      when a relative contraindication is on record.",
    },
];

pub fn service(id: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().find(|s| s.id == id)
}

#[derive(Serialize)]
struct Service {
    hook: &'static str,
    id: &'static str,
    title: &'static str,
    description: &'static str,
    prefetch: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "usageRequirements")]
    usage_requirements: &'static str,
    version: String,
}

/// The discovery document; `knowledge_version` tells operators which profiles are loaded.
pub fn document(knowledge_version: &str) -> serde_json::Value {
    let prefetch: serde_json::Map<_, _> =
        PREFETCH.iter().map(|(k, q)| ((*k).to_owned(), serde_json::Value::from(*q))).collect();
    let services: Vec<Service> = SERVICES
        .iter()
        .map(|s| Service {
            hook: s.hook,
            id: s.id,
            title: s.title,
            description: s.description,
            prefetch: prefetch.clone(),
            usage_requirements: "Send the prefetch keys, or fhirServer with fhirAuthorization so the \
                                 service can read them; the draft ketamine order must be in draftOrders.",
            version: format!("{} (knowledge {knowledge_version})", env!("CARGO_PKG_VERSION")),
        })
        .collect();
    serde_json::json!({ "services": services })
}
