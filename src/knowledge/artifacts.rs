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

/// The files of a profiles set as they are, `(file name, text)`: the embedded ones, or the
/// `*.json` files of `dir` (the FHIR package carries them unchanged).
pub fn texts(dir: Option<&Path>) -> Result<Vec<(String, String)>, String> {
    let Some(dir) = dir else {
        return Ok(embedded::EMBEDDED.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect());
    };
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut texts = Vec::new();
    for path in entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json"))
    {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        texts.push((name, std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?));
    }
    texts.sort();
    Ok(texts)
}

impl Artifacts {
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
                .map(|e| KnowledgeError::new(&file, e.instance_path().to_string(), in_words(&e.to_string())))
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

    /// The shipped file names a directory's set lacks (a site set must be a complete copy).
    pub fn missing_from(dir: &Path) -> Vec<&'static str> {
        embedded::EMBEDDED.iter().map(|(name, _)| *name).filter(|name| !dir.join(name).is_file()).collect()
    }

    /// Whether every file of this set is the shipped file of that name, as JSON (formatting
    /// aside), and there are no others.
    pub fn is_shipped(&self) -> bool {
        self.by_url.len() == embedded::EMBEDDED.len()
            && self.by_url.values().all(|a| {
                let name = Path::new(&a.file).file_name().and_then(|n| n.to_str()).unwrap_or_default();
                embedded::EMBEDDED.iter().any(|(shipped, text)| {
                    *shipped == name && serde_json::from_str::<Value>(text).is_ok_and(|v| v == a.resource)
                })
            })
    }

    /// A digest of the set's content (its artifacts by url, as JSON): what tells one site edit
    /// from another.
    pub fn digest(&self) -> String {
        let mut urls: Vec<&String> = self.by_url.keys().collect();
        urls.sort();
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for url in urls {
            context.update(url.as_bytes());
            context.update(self.by_url[url].resource.to_string().as_bytes());
        }
        context.finish().as_ref().iter().take(4).map(|b| format!("{b:02x}")).collect()
    }

    pub fn get(&self, url: &str) -> Option<&Artifact> {
        self.by_url.get(url)
    }

    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Artifact> + 'a {
        self.by_url.values().filter(move |a| a.resource["resourceType"] == kind)
    }
}

/// A schema finding in the words of someone editing a file (the schema's patterns are regular
/// expressions, which say little to them).
fn in_words(finding: &str) -> String {
    const NO_STRAY_SPACE: &str = r#"does not match "^[^\s]+(\s[^\s]+)*$""#;
    const CANONICAL: &str = r#"does not match "^(https?|urn):""#;
    if let Some(value) = finding.strip_suffix(NO_STRAY_SPACE) {
        return format!(
            "{}has a space at its start or end, or two in a row: codes and systems are compared exactly",
            value.trim_end().to_owned() + " "
        );
    }
    if let Some(value) = finding.strip_suffix(CANONICAL) {
        return format!("{} is not a URL (http://, https:// or urn:)", value.trim_end());
    }
    if finding.contains(r#"does not match "^[A-Za-z0-9\-\.]{1,64}$""#) {
        return finding.replace(
            r#"does not match "^[A-Za-z0-9\-\.]{1,64}$""#,
            "is not an id (letters, digits, '-' and '.', at most 64)",
        );
    }
    finding.to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pattern_finding_is_said_in_words() {
        let said = super::in_words(r#""72625 " does not match "^[^\s]+(\s[^\s]+)*$""#);
        assert_eq!(
            said,
            r#""72625 " has a space at its start or end, or two in a row: codes and systems are compared exactly"#
        );
        assert!(!said.contains('^'));
        assert_eq!(super::in_words("something else"), "something else");
    }
}
