//! A FHIR Bulk Data export on disk: a directory of `.ndjson` / `.ndjson.gz` files, or a Bulk
//! manifest (`{"output": [{"type", "url"}, …]}`) naming them. Each file holds one resource type
//! (the manifest's `type`, else its first line's `resourceType`), so a type the replay does not
//! read is skipped whole, never parsed. Lines are read one at a time, each bounded in length.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Longest line read (a resource); a longer one is reported malformed and skipped.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// One file of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    pub path: PathBuf,
    pub resource_type: String,
    pub bytes: u64,
}

/// The files of an export, by resource type.
#[derive(Debug, Clone, Default)]
pub struct Export {
    pub files: Vec<ExportFile>,
}

#[derive(Deserialize)]
struct Manifest {
    output: Vec<ManifestEntry>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    #[serde(rename = "type")]
    resource_type: String,
    url: String,
}

impl Export {
    /// Finds the export's files. Every problem that would stop the work — a path that is not
    /// there, a manifest naming a missing or unreadable file — is said now, before any work.
    pub fn open(path: &Path) -> Result<Self, String> {
        if path.is_dir() {
            return Self::directory(path);
        }
        if path.is_file() {
            return Self::manifest(path);
        }
        Err(format!("{}: no such directory or manifest", path.display()))
    }

    fn directory(dir: &Path) -> Result<Self, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut paths: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && is_ndjson(p)).collect();
        paths.sort();
        if paths.is_empty() {
            return Err(format!("{}: no .ndjson or .ndjson.gz file", dir.display()));
        }
        let files = paths
            .into_iter()
            .map(|path| {
                let resource_type = first_type(&path)?;
                Ok(ExportFile { bytes: size(&path)?, path, resource_type })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { files })
    }

    fn manifest(file: &Path) -> Result<Self, String> {
        let text = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
            format!("{}: not a Bulk Data manifest ({e}); give it or the directory of its files", file.display())
        })?;
        let dir = file.parent().unwrap_or(Path::new("."));
        let mut files = Vec::new();
        for entry in manifest.output {
            // A URL of the server it was exported from names the file downloaded beside the
            // manifest; a relative one is relative to the manifest.
            let name = if entry.url.contains("://") {
                entry.url.rsplit('/').next().unwrap_or_default().to_owned()
            } else {
                entry.url.trim_start_matches("file://").to_owned()
            };
            let path = dir.join(&name);
            if !path.is_file() {
                return Err(format!(
                    "{}: the manifest names {} ({}), which is not beside it",
                    file.display(),
                    name,
                    entry.resource_type
                ));
            }
            File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push(ExportFile { bytes: size(&path)?, path, resource_type: entry.resource_type });
        }
        Ok(Self { files })
    }

    /// The files of these resource types, in the export's order.
    pub fn of_types<'a>(&'a self, types: &'a [&str]) -> impl Iterator<Item = &'a ExportFile> + 'a {
        self.files.iter().filter(move |f| types.contains(&f.resource_type.as_str()))
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

fn is_ndjson(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.ends_with(".ndjson") || name.ends_with(".ndjson.gz")
}

fn size(path: &Path) -> Result<u64, String> {
    std::fs::metadata(path).map(|m| m.len()).map_err(|e| format!("{}: {e}", path.display()))
}

/// The file's reader, decompressed when its name ends in `.gz`.
pub fn reader(path: &Path) -> Result<Box<dyn BufRead>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    Ok(if gz {
        Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(BufReader::new(file))))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, file))
    })
}

/// The `resourceType` of a file's first readable resource (among its first 100 lines; a
/// malformed line is reported later, with the others), else the type its name starts with
/// (`Condition.ndjson`, `Condition.002.ndjson.gz`).
fn first_type(path: &Path) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Typed {
        #[serde(rename = "resourceType")]
        resource_type: String,
    }
    let mut lines = Lines::new(reader(path)?);
    for _ in 0..100 {
        match lines.next_line() {
            Some((_, Ok(line))) => {
                if let Ok(typed) = serde_json::from_slice::<Typed>(line) {
                    return Ok(typed.resource_type);
                }
            }
            Some((_, Err(LineError::TooLong))) => {}
            Some((_, Err(e))) => return Err(format!("{}: {e}", path.display())),
            None => break,
        }
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let stem = name.split(['.', '_', '-']).next().unwrap_or_default();
    if stem.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && stem.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(stem.to_owned());
    }
    Ok(String::new())
}

/// A file's lines, each at most [`MAX_LINE_BYTES`], numbered from 1.
pub struct Lines {
    reader: Box<dyn BufRead>,
    buffer: Vec<u8>,
    /// The number of the line last returned.
    pub number: u64,
    /// Bytes read so far (decompressed).
    pub bytes: u64,
}

/// Why a line could not be read as a whole.
#[derive(Debug)]
pub enum LineError {
    TooLong,
    Io(String),
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::TooLong => write!(f, "longer than {MAX_LINE_BYTES} bytes"),
            LineError::Io(e) => f.write_str(e),
        }
    }
}

impl Lines {
    pub fn new(reader: Box<dyn BufRead>) -> Self {
        Self { reader, buffer: Vec::with_capacity(1 << 12), number: 0, bytes: 0 }
    }

    /// The next line (without its newline) and its number, or `None` at the end.
    pub fn next_line(&mut self) -> Option<(u64, Result<&[u8], LineError>)> {
        match self.fill()? {
            Ok(()) => Some((self.number, Ok(&self.buffer))),
            Err(e) => Some((self.number, Err(e))),
        }
    }

    /// Reads the next line into the buffer.
    fn fill(&mut self) -> Option<Result<(), LineError>> {
        self.buffer.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let read = match (&mut self.reader).take(limit).read_until(b'\n', &mut self.buffer) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) => return Some(Err(LineError::Io(e.to_string()))),
        };
        self.number += 1;
        self.bytes += read as u64;
        if self.buffer.last() == Some(&b'\n') {
            self.buffer.pop();
        } else if self.buffer.len() > MAX_LINE_BYTES {
            // The rest of the line is skipped, unread into memory.
            let mut sink = Vec::new();
            loop {
                sink.clear();
                match (&mut self.reader).take(1 << 20).read_until(b'\n', &mut sink) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.bytes += n as u64;
                        if sink.last() == Some(&b'\n') {
                            break;
                        }
                    }
                    Err(e) => return Some(Err(LineError::Io(e.to_string()))),
                }
            }
            return Some(Err(LineError::TooLong));
        }
        if self.buffer.last() == Some(&b'\r') {
            self.buffer.pop();
        }
        Some(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_and_crlf_and_a_missing_last_newline_are_read() {
        let text = b"{\"a\":1}\r\n\n{\"b\":2}".to_vec();
        let mut lines = Lines::new(Box::new(std::io::Cursor::new(text)));
        assert_eq!(lines.next_line().unwrap().1.unwrap(), b"{\"a\":1}");
        assert_eq!(lines.next_line().unwrap().1.unwrap(), b"");
        let (number, last) = lines.next_line().unwrap();
        assert_eq!((number, last.unwrap()), (3, &b"{\"b\":2}"[..]));
        assert!(lines.next_line().is_none());
    }
}
