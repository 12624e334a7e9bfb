//! Where the store is: `--store URL` (`KETAMINE_CDS_STORE`, config `store.url`) read into one of
//! three places, with the form of each documented in the README.

use std::path::PathBuf;

/// The embedded default: a SQLite file in the working directory, created on first start.
pub const DEFAULT: &str = "sqlite:ketamine-cds.sqlite";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `none`: nothing is stored (feedback is only logged).
    None,
    /// `sqlite:PATH` (or `sqlite://PATH`): one process.
    Sqlite(PathBuf),
    /// `postgres://user:password@host:port/db` (or `postgresql://`): several replicas.
    Postgres(String),
}

impl Location {
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url == "none" {
            return Ok(Location::None);
        }
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(format!("store {url}: give the SQLite file's path (sqlite:PATH); memory is not a store"));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_owned()));
        }
        Err(format!("store {}: expected sqlite:PATH, postgres://user@host:port/db or none", Self::redact(url)))
    }

    /// The URL sqlx connects to (SQLite: the file is created when missing).
    pub fn connect_url(&self) -> Option<String> {
        match self {
            Location::None => None,
            Location::Sqlite(path) => Some(format!("sqlite://{}?mode=rwc", path.display())),
            Location::Postgres(url) => Some(url.clone()),
        }
    }

    /// The location as it may be logged: a PostgreSQL password is replaced by `***`.
    pub fn describe(&self) -> String {
        match self {
            Location::None => "none".to_owned(),
            Location::Sqlite(path) => format!("sqlite:{}", path.display()),
            Location::Postgres(url) => Self::redact(url),
        }
    }

    fn redact(url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        match authority.rsplit_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split(':').next().unwrap_or_default();
                let hidden = if credentials.contains(':') { ":***" } else { "" };
                format!("{scheme}://{user}{hidden}@{host}/{path}")
            }
            None => url.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_read() {
        assert_eq!(Location::parse("none"), Ok(Location::None));
        assert_eq!(Location::parse("sqlite:data/store.sqlite"), Ok(Location::Sqlite("data/store.sqlite".into())));
        assert_eq!(
            Location::parse("sqlite:///var/lib/k/store.sqlite"),
            Ok(Location::Sqlite("/var/lib/k/store.sqlite".into()))
        );
        assert!(matches!(Location::parse("postgres://cds@db:5432/cds"), Ok(Location::Postgres(_))));
        assert!(Location::parse("sqlite::memory:").is_err());
        assert!(Location::parse("mysql://x").unwrap_err().contains("expected sqlite:PATH"));
    }

    #[test]
    fn passwords_are_never_described() {
        let at = Location::parse("postgres://cds:s3cret@db:5432/cds").unwrap();
        assert_eq!(at.describe(), "postgres://cds:***@db:5432/cds");
        assert!(!Location::parse("mysql://u:s3cret@h/d").unwrap_err().contains("s3cret"));
    }
}
