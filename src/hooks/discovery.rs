//! The discovery document's wire shape (`GET /cds-services`, CDS Hooks 2.0 §Discovery). Which
//! services there are is the service's business (`crate::call::services`).

use serde::Serialize;

/// One service of the discovery document.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceDescription {
    pub hook: &'static str,
    pub id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub prefetch: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "usageRequirements")]
    pub usage_requirements: &'static str,
    pub version: String,
    /// The card options the service supports (CRD's `davinci-crd.configuration-options`).
    pub extension: serde_json::Value,
}

/// `{"services": [...]}`.
pub fn document(services: &[ServiceDescription]) -> serde_json::Value {
    serde_json::json!({ "services": services })
}
