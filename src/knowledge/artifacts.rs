//! Reading a profiles set: the embedded files or a directory, each checked against the shipped
//! schema for the subset of FHIR this service reads, indexed by canonical URL.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use serde_json::Value;

use super::KnowledgeError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_profiles.rs"));
}

static SCHEMA: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(include_str!("profiles.schema.json")).map_err(|e| e.to_string())?;
    jsonschema::validator_for(&schema).map_err(|e| e.to_string())
});

/// One artifact and the file it came from.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub file: String,
    pub resource: Value,
}

/// Every artifact of a profiles set, by canonical URL.
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    pub by_url: HashMap<String, Artifact>,
}

impl Artifacts {
    /// A directory's set when one is given, else the embedded one.
    pub fn load(dir: Option<&Path>) -> Result<Self, Vec<KnowledgeError>> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::embedded(),
        }
    }

    pub fn embedded() -> Result<Self, Vec<KnowledgeError>> {
        Self::from_files(embedded::EMBEDDED.iter().map(|(name, text)| ((*name).to_owned(), Ok((*text).to_owned()))))
    }

    pub fn from_dir(dir: &Path) -> Result<Self, Vec<KnowledgeError>> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            vec![KnowledgeError::new(dir.display().to_string(), "", format!("cannot read the directory: {e}"))]
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        Self::from_files(paths.into_iter().map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|e| e.to_string());
            (p.display().to_string(), text)
        }))
    }

    fn from_files(files: impl Iterator<Item = (String, Result<String, String>)>) -> Result<Self, Vec<KnowledgeError>> {
        let schema = SCHEMA.as_ref().map_err(|e| vec![KnowledgeError::new("profiles.schema.json", "", e.clone())])?;
        let mut artifacts = Artifacts::default();
        let mut errors = Vec::new();
        for (file, text) in files {
            let text = match text {
                Ok(text) => text,
                Err(e) => {
                    errors.push(KnowledgeError::new(&file, "", format!("cannot read: {e}")));
                    continue;
                }
            };
            let resource: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(KnowledgeError::new(&file, "", format!("not valid JSON: {e}")));
                    continue;
                }
            };
            let findings: Vec<_> = schema
                .iter_errors(&resource)
                .map(|e| KnowledgeError::new(&file, e.instance_path().to_string(), e.to_string()))
                .take(10)
                .collect();
            if !findings.is_empty() {
                errors.extend(findings);
                continue;
            }
            let url = resource["url"].as_str().unwrap_or_default().to_owned();
            if let Some(previous) = artifacts.by_url.get(&url) {
                errors.push(KnowledgeError::new(&file, "/url", format!("{url} is also defined in {}", previous.file)));
                continue;
            }
            artifacts.by_url.insert(url, Artifact { file, resource });
        }
        if errors.is_empty() { Ok(artifacts) } else { Err(errors) }
    }

    pub fn get(&self, url: &str) -> Option<&Artifact> {
        self.by_url.get(url)
    }

    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Artifact> + 'a {
        self.by_url.values().filter(move |a| a.resource["resourceType"] == kind)
    }
}
