//! The three CDS services this process offers and the discovery document (`GET /cds-services`)
//! that describes them, with the prefetch templates of [`super::prefetch`].

use crate::guideline::Hook;
use crate::hooks::discovery::{self, ServiceDescription};
use crate::hooks::options::CardOptions;

use super::prefetch::TEMPLATES;

/// One service this process offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceDef {
    pub id: &'static str,
    pub hook: Hook,
    pub title: &'static str,
    pub description: &'static str,
    /// What the client must send (discovery's `usageRequirements`).
    pub usage: &'static str,
}

const ORDER_USAGE: &str = "Send the prefetch keys, or fhirServer with fhirAuthorization so the service can read \
                           them; the draft ketamine order must be in draftOrders.";

pub const SERVICES: &[ServiceDef] = &[
    ServiceDef {
        id: "ketamine-order-select",
        hook: Hook::OrderSelect,
        title: "Ketamine for neuropathic pain: first-line agents first",
        description: "When a ketamine or esketamine order for neuropathic pain is selected, checks \
                      that documented failures of the first-line classes (SNRI, gabapentinoid, TCA) \
                      back it, and suggests the first-line alternative when they do not.",
        usage: ORDER_USAGE,
    },
    ServiceDef {
        id: "ketamine-order-sign",
        hook: Hook::OrderSign,
        title: "Ketamine for neuropathic pain: step-therapy check at signing",
        description: "Before ketamine or esketamine orders for neuropathic pain are signed, warns when \
                      first-line classes (SNRI, gabapentinoid, TCA) have no documented failure and \
                      when a relative contraindication is on record.",
        usage: ORDER_USAGE,
    },
    ServiceDef {
        id: "ketamine-patient-view",
        hook: Hook::PatientView,
        title: "Ketamine for neuropathic pain: running orders reviewed on chart open",
        description: "When a chart is opened, reviews the patient's active and on-hold ketamine or \
                      esketamine orders for neuropathic pain: warns when first-line classes (SNRI, \
                      gabapentinoid, TCA) have no documented failure, suggesting the first-line \
                      order, and when a relative contraindication is on record; silent otherwise.",
        usage: "Send the prefetch keys (the medicationRequests key holds the running orders and \
                their Medications), or fhirServer with fhirAuthorization so the service can read them.",
    },
];

/// The service with this id.
pub fn service(id: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().find(|s| s.id == id)
}

/// The service that answers `hook`.
pub fn for_hook(hook: Hook) -> &'static ServiceDef {
    SERVICES.iter().find(|s| s.hook == hook).unwrap_or(&SERVICES[0])
}

/// The discovery document; `knowledge_version` tells operators which profiles are loaded, and
/// `options` are the site's card-option defaults, advertised with every option.
pub fn document(knowledge_version: &str, options: &CardOptions) -> serde_json::Value {
    let prefetch: serde_json::Map<_, _> =
        TEMPLATES.iter().map(|(k, q)| ((*k).to_owned(), serde_json::Value::from(*q))).collect();
    let services: Vec<ServiceDescription> = SERVICES
        .iter()
        .map(|s| ServiceDescription {
            hook: s.hook.name(),
            id: s.id,
            title: s.title,
            description: s.description,
            prefetch: prefetch.clone(),
            usage_requirements: s.usage,
            version: format!("{} (knowledge {knowledge_version})", env!("CARGO_PKG_VERSION")),
            extension: options.discovery(),
        })
        .collect();
    discovery::document(&services)
}
