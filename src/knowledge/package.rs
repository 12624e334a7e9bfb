//! The knowledge as a FHIR package (the NPM-style layout the FHIR package specification gives,
//! which a HAPI FHIR server or a CPG engine loads): `package/package.json`, `package/.index.json`
//! (index version 2), an ImplementationGuide naming every artifact, the artifacts as they are in
//! `profiles/`, and `package/example/` with the shipped example patients as Bundles. Pure: the
//! files and their bytes, in a fixed order; `cli::package` writes them as a reproducible `.tgz`.

use serde_json::{Map, Value, json};

/// The package's name, canonical and the ImplementationGuide's id.
pub const NAME: &str = "ketamine-cds.knowledge";
pub const CANONICAL: &str = "https://fhir.ketamine-cds.example";
pub const IG_ID: &str = "ketamine-cds";

/// One file of the package: its path in the archive (`package/…`) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The `.index.json` entry of a resource.
fn index_entry(filename: &str, resource: &Value) -> Value {
    let mut entry = Map::new();
    entry.insert("filename".into(), Value::from(filename));
    // `kind` and `type` are a StructureDefinition's (an ActivityDefinition's `kind` is another).
    let keys: &[&str] = if resource["resourceType"] == "StructureDefinition" {
        &["resourceType", "id", "url", "version", "kind", "type"]
    } else {
        &["resourceType", "id", "url", "version"]
    };
    for key in keys {
        if let Some(v) = resource.get(*key).filter(|v| v.is_string()) {
            entry.insert((*key).into(), v.clone());
        }
    }
    Value::Object(entry)
}

fn json_bytes(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The package of a profiles set: `artifacts` are its files (name, text) as in `profiles/`,
/// `version` the knowledge version (a site's edit: `SHIPPED+site.DIGEST`), `examples` the
/// example Bundles (name without `.json`, text). A file that is not JSON is left out.
pub fn files(version: &str, artifacts: &[(String, String)], examples: &[(String, String)]) -> Vec<PackageFile> {
    // Read for the index and the guide; carried as their files have them.
    let mut artifacts: Vec<(&String, &String, Value)> =
        artifacts.iter().filter_map(|(name, text)| Some((name, text, serde_json::from_str(text).ok()?))).collect();
    artifacts.sort_by(|a, b| a.0.cmp(b.0));
    let mut examples: Vec<(String, Value)> = examples
        .iter()
        .filter_map(|(name, text)| {
            let mut bundle: Value = serde_json::from_str(text).ok()?;
            // An example is named by its file: the Bundle's id.
            if bundle.get("id").is_none() {
                bundle["id"] = Value::from(name.as_str());
            }
            Some((format!("Bundle-{name}.json"), bundle))
        })
        .collect();
    examples.sort_by(|a, b| a.0.cmp(&b.0));

    let reference = |r: &Value| {
        format!("{}/{}", r["resourceType"].as_str().unwrap_or_default(), r["id"].as_str().unwrap_or_default())
    };
    let mut resources: Vec<Value> = artifacts
        .iter()
        .map(|(_, _, r)| {
            json!({ "reference": { "reference": reference(r) }, "name": r.get("title").or(r.get("name")).cloned().unwrap_or(Value::from(reference(r))), "exampleBoolean": false })
        })
        .collect();
    resources.extend(examples.iter().map(|(_, b)| {
        json!({ "reference": { "reference": reference(b) }, "name": format!("Example patient {}", b["id"].as_str().unwrap_or_default()), "exampleBoolean": true })
    }));
    let ig = json!({
        "resourceType": "ImplementationGuide",
        "id": IG_ID,
        "url": format!("{CANONICAL}/ImplementationGuide/{IG_ID}"),
        "version": version,
        "name": "KetamineCdsKnowledge",
        "title": "Ketamine for refractory neuropathic pain: first-line agents first (ketamine-cds knowledge)",
        "status": "active",
        "publisher": "ketamine-cds",
        "description": "The computable knowledge of the ketamine-cds service: the PlanDefinition, ActivityDefinitions, value sets, code systems and profiles that say when a ketamine order for neuropathic pain needs documented failures of the first-line classes (SNRI, gabapentinoid, TCA), with the guideline's evidence grades.",
        "packageId": NAME,
        "license": "MIT",
        "fhirVersion": ["4.0.1"],
        "definition": { "resource": resources },
    });
    let ig_file = format!("ImplementationGuide-{IG_ID}.json");

    let mut index: Vec<Value> = vec![index_entry(&ig_file, &ig)];
    index.extend(artifacts.iter().map(|(name, _, r)| index_entry(name, r)));
    let package_json = json!({
        "name": NAME,
        "version": version,
        "description": "ketamine-cds: ketamine for neuropathic pain needs documented failures of the first-line agents — the knowledge as FHIR R4 artifacts",
        "author": "ketamine-cds",
        "license": "MIT",
        "fhirVersions": ["4.0.1"],
        "type": "fhir.ig",
        "canonical": CANONICAL,
        "url": format!("{CANONICAL}/ImplementationGuide/{IG_ID}"),
        "title": "ketamine-cds knowledge",
        "dependencies": { "hl7.fhir.r4.core": "4.0.1" },
        "keywords": ["CDS", "ketamine", "neuropathic pain", "PlanDefinition", "CPG"],
    });

    let mut files = vec![
        PackageFile { path: "package/package.json".into(), bytes: json_bytes(&package_json) },
        PackageFile {
            path: "package/.index.json".into(),
            bytes: json_bytes(&json!({ "index-version": 2, "files": index })),
        },
        PackageFile { path: format!("package/{ig_file}"), bytes: json_bytes(&ig) },
    ];
    files.extend(
        artifacts
            .iter()
            .map(|(name, text, _)| PackageFile { path: format!("package/{name}"), bytes: text.as_bytes().to_vec() }),
    );
    let example_index: Vec<Value> = examples.iter().map(|(name, b)| index_entry(name, b)).collect();
    files.push(PackageFile {
        path: "package/example/.index.json".into(),
        bytes: json_bytes(&json!({ "index-version": 2, "files": example_index })),
    });
    files.extend(
        examples.iter().map(|(name, b)| PackageFile { path: format!("package/example/{name}"), bytes: json_bytes(b) }),
    );
    files
}

/// The shipped example Bundles, by name (`01-untreated-patient`, …).
pub fn shipped_examples() -> Vec<(String, String)> {
    super::examples::EXAMPLES
        .iter()
        .filter_map(|(path, text)| {
            let name = path.strip_prefix("bundles/")?.strip_suffix(".json")?;
            Some((name.to_owned(), (*text).to_owned()))
        })
        .collect()
}
