//! Deterministic order-sign requests for the benchmarks: a ketamine draft for painful diabetic
//! neuropathy and `n` history resources — Conditions, MedicationRequests with dosage, dispense
//! and narrative, MedicationStatements, in a fixed mix — with one failed duloxetine trial, so
//! the answer is a warning card. About 1 KiB per history resource. Each resource starts with its
//! `resourceType`, as EHRs write them (13,373 of the 13,418 resources of the public conformance
//! corpus and the 24 Synthea patients of `tests/data/SOURCES.md` do; `serde_json`'s own maps would sort it among the other keys).

use serde_json::{Value, json};

/// `{"resource": {"resourceType": kind, …fields}}` as JSON text, `resourceType` first.
fn entry(kind: &str, fields: Value) -> String {
    let fields = fields.to_string();
    let rest = fields.strip_prefix('{').expect("an object");
    let sep = if rest == "}" { "" } else { "," };
    format!(r#"{{"resource":{{"resourceType":"{kind}"{sep}{rest}}}"#)
}

/// A searchset Bundle of entries given as text.
fn bundle(entries: &[String]) -> String {
    format!(r#"{{"resourceType":"Bundle","type":"searchset","entry":[{}]}}"#, entries.join(","))
}

const RX: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

/// `body` with an em dash at the end of every narrative, written as the character itself or, as
/// Python's and several Java serialisers write non-ASCII, as the escape `\u2014` (the load bench's).
#[allow(dead_code)]
pub fn with_narrative_dash(body: &[u8], escaped: bool) -> Vec<u8> {
    let text = std::str::from_utf8(body).expect("UTF-8");
    let dash = if escaped { "\\u2014</div>" } else { "\u{2014}</div>" };
    text.replace("</div>", dash).into_bytes()
}

/// The request body with `n` history resources.
pub fn order_sign_request(n: usize) -> Vec<u8> {
    let subject = json!({ "reference": "Patient/p1" });
    let narrative = json!({ "status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", "history ".repeat(72)) });
    let (mut conditions, mut requests, mut statements) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        match i % 4 {
            0 => conditions.push(entry("Condition", json!({ "id": format!("c{i}"), "subject": subject, "text": narrative,
                "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": if i == 0 { "active" } else { "resolved" } }] },
                "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": if i == 0 { "E11.42" } else { "J06.9" } }] } }))),
            1 | 2 => requests.push(entry("MedicationRequest", json!({ "id": format!("m{i}"), "status": if i == 1 { "stopped" } else { "completed" }, "intent": "order",
                "subject": subject, "text": narrative, "authoredOn": "2024-05-01",
                "statusReason": { "coding": [{ "system": "http://snomed.info/sct", "code": "266721009" }] },
                "medicationCodeableConcept": { "coding": [{ "system": RX, "code": if i == 1 { "596926" } else { "197361" }, "display": "some product 10 MG Oral Tablet" }] },
                "dosageInstruction": [{ "text": "one daily", "timing": { "repeat": { "frequency": 1, "period": 1, "periodUnit": "d" } },
                                        "doseAndRate": [{ "doseQuantity": { "value": 60, "unit": "mg" } }] }],
                "dispenseRequest": { "numberOfRepeatsAllowed": 3, "quantity": { "value": 30 } } }))),
            _ => statements.push(entry("MedicationStatement", json!({ "id": format!("s{i}"), "status": "completed", "subject": subject,
                "effectiveDateTime": "2023-02-01", "medicationCodeableConcept": { "text": "Omeprazole 20 mg capsule" },
                "dosage": [{ "timing": { "repeat": { "frequency": 1, "period": 1, "periodUnit": "d" } }, "doseAndRate": [{ "doseQuantity": { "value": 20, "unit": "mg" } }] }] }))),
        }
    }
    let draft = entry(
        "MedicationRequest",
        json!({ "id": "k1", "status": "draft", "intent": "order", "subject": subject,
        "medicationCodeableConcept": { "coding": [{ "system": RX, "code": "238084" }] } }),
    );
    let body = format!(
        r#"{{"hook":"order-sign","hookInstance":"7b1a4f4e-bench","context":{{"userId":"Practitioner/1","patientId":"p1","draftOrders":{{"resourceType":"Bundle","entry":[{draft}]}}}},"prefetch":{{"conditions":{},"medicationRequests":{},"medicationStatements":{},"allergyIntolerances":null}}}}"#,
        bundle(&conditions),
        bundle(&requests),
        bundle(&statements)
    );
    debug_assert!(serde_json::from_str::<Value>(&body).is_ok());
    body.into_bytes()
}
