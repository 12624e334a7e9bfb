//! Configuration of `serve`: one typed struct, from flags or the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::http::HttpConfig;

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "KETAMINE_CDS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// A complete profiles directory to load instead of the embedded knowledge.
    #[arg(long, env = "KETAMINE_CDS_PROFILES", value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// Largest request body accepted, in bytes (larger gets 413).
    #[arg(long, env = "KETAMINE_CDS_MAX_BODY_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Longest a request may take, in milliseconds (longer gets 408).
    #[arg(long, env = "KETAMINE_CDS_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
}

impl ServeConfig {
    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
        }
    }
}
