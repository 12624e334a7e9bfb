//! Starting and stopping the HTTP server: load knowledge, build the shared state, serve until
//! SIGTERM or Ctrl-C, then drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tracing::{error, info};

use crate::auth::Authenticator;
use crate::config::{FileConfig, ServeConfig};
use crate::fhir::fetch::Fetcher;
use crate::http::{AppState, router};
use crate::knowledge::{Knowledge, KnowledgeError};

/// Loads the configured knowledge (the profiles directory, or the embedded set).
pub fn load_knowledge(config: &ServeConfig) -> Result<Knowledge, Vec<KnowledgeError>> {
    Knowledge::load(config.profiles.as_deref())
}

/// Builds the shared state, ready to serve: reads the JWKS of every issuer when authentication
/// is required (an unreachable JWKS URL is retried, not fatal).
pub async fn state(knowledge: Knowledge, config: &ServeConfig, file: &FileConfig) -> Result<Arc<AppState>, String> {
    crate::hooks::request::warm_up();
    let auth = if file.auth_required() {
        let auth = Arc::new(Authenticator::new(&file.auth)?);
        auth.start().await;
        Some(auth)
    } else {
        None
    };
    Ok(Arc::new(AppState {
        metrics: crate::http::metrics::Metrics::new(knowledge.version()),
        knowledge,
        config: config.http(),
        auth,
        fetcher: Fetcher::new(file.fhir.clone())?,
        public_base_url: file.public_base_url.clone().unwrap_or_default(),
        ready: AtomicBool::new(true),
        body_budget: crate::http::budget::BodyBudget::new(config.max_inflight_body_bytes, config.max_body_bytes),
    }))
}

/// Serves on an already bound listener until `shutdown` completes; in-flight calls finish.
pub async fn serve_on(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let drain_state = state.clone();
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            drain_state.ready.store(false, Ordering::Release);
            info!("shutting down: no new connections, finishing calls in flight");
        })
        .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn termination() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
