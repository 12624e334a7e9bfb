//! Starting and stopping the HTTP server: load knowledge, build the shared state, serve until
//! SIGTERM or Ctrl-C, then drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::{error, info};

use crate::auth::Authenticator;
use crate::config::{FileConfig, ServeConfig};
use crate::fhir::fetch::Fetcher;
use crate::http::{AppState, router};
use crate::knowledge::{Knowledge, KnowledgeError};
use crate::store::{Location, Store};

/// Loads the configured knowledge (the profiles directory, or the embedded set).
pub fn load_knowledge(config: &ServeConfig) -> Result<Knowledge, Vec<KnowledgeError>> {
    let dir = config.profiles.as_deref();
    let (knowledge, census) = Knowledge::load_checked(dir)?;
    if dir.is_some() {
        // A site's set: what check-profiles would warn of is said at start too.
        for w in census.warnings {
            tracing::warn!(file = %w.file, path = %w.path, "profiles: {}", w.problem);
        }
        if knowledge.site_modified() {
            tracing::info!(version = %knowledge.version(), "profiles: a site-modified knowledge set");
        }
    }
    Ok(knowledge)
}

/// Builds the shared state, ready to serve: reads the JWKS of every issuer when authentication
/// is required (an unreachable JWKS URL is retried, not fatal).
pub async fn state(knowledge: Knowledge, config: &ServeConfig, file: &FileConfig) -> Result<Arc<AppState>, String> {
    crate::hooks::request::warm_up();
    let store = Arc::new(open_store(config, file, &knowledge)?);
    let background = crate::background::Background::start(&store);
    let auth = if file.auth_required() {
        let mut auth = Authenticator::new(&file.auth)?;
        if store.db().is_some_and(|db| db.is_shared()) {
            // Replicas on one PostgreSQL refuse a token any of them has seen.
            auth.share_replay(store.clone());
        }
        let auth = Arc::new(auth);
        auth.start().await;
        Some(auth)
    } else {
        None
    };
    Ok(Arc::new(AppState {
        metrics: crate::http::metrics::Metrics::new(knowledge.version(), &store.instruments),
        store,
        admin: file.admin.clone(),
        options: file.cards,
        playground: file.playground,
        links_allowed: file.links.allowed.clone().into(),
        rollout: file.rollout.clone(),
        feedback: file.feedback.clone(),
        knowledge,
        config: config.http(),
        auth,
        fetcher: Fetcher::new(file.fhir.clone())?,
        public_base_url: file.public_base_url.clone().unwrap_or_default(),
        ready: AtomicBool::new(true),
        body_budget: crate::http::budget::BodyBudget::new(config.max_inflight_body_bytes, config.max_body_bytes),
        background,
    }))
}

/// The store of `--store` (or `store.url`, or the SQLite default).
fn open_store(config: &ServeConfig, file: &FileConfig, knowledge: &Knowledge) -> Result<Store, String> {
    let url = config.store.as_deref().or(file.store.url.as_deref()).unwrap_or(crate::store::location::DEFAULT);
    let location = Location::parse(url)?;
    let store = Store::open(location, &file.store, knowledge)?;
    info!(store = %store.location().describe(), "store");
    Ok(store)
}

/// Ends what runs beside the calls once they are served: the background loops stop, then the
/// store writes what is queued (within `within`) and closes.
pub async fn close(state: &AppState, within: Duration) {
    state.background.stop(within).await;
    state.store.close(within).await;
}

/// Serves on an already bound listener until `shutdown` completes, then drains: `/ready`
/// answers 503 at once and new service calls get a 503 (new connections are still served for
/// that, so probes and load balancers see it), the connections open at the signal finish their
/// calls, all within the drain timeout.
///
/// Each connection is HTTP/1.1 with hyper's header-read timeout (a client trickling its headers,
/// or a kept-alive connection left idle, is closed when it passes), and at most
/// `max_connections` are served at once (one more is closed at once, so an attack on the
/// connection table cannot exhaust the process's file descriptors). axum's own `serve` has
/// neither, nor a bound on the drain.
pub async fn serve_on(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.connections;
    let app = router(state.clone());
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut open = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    // Until the signal, connections are served until they end; after it, those open at the
    // signal are asked to finish, and new ones are served (with 503s) until the drain is over.
    let mut drain: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let mut late = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown, if drain.is_none() => {
                state.ready.store(false, Ordering::Release);
                info!(connections = open.len(), "shutting down: finishing the calls in flight, refusing new ones");
                let _ = stop.send(true);
                if open.is_empty() {
                    break;
                }
                drain = Some(Box::pin(tokio::time::sleep(limits.drain_timeout)));
                continue;
            }
            Some(_) = open.join_next(), if drain.is_some() => {
                if open.is_empty() {
                    break;
                }
                continue;
            }
            () = async { drain.as_mut().expect("set").await }, if drain.is_some() => {
                tracing::warn!(left = open.len(), "drain timeout passed: closing the connections still open");
                break;
            }
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: pause a moment rather than spin.
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!("connection refused: max_connections reached");
            continue;
        };
        let service = TowerToHyperService::new(app.clone().map_request(|r: Request<Incoming>| r.map(Body::new)));
        let mut stopping = stopping.clone();
        let draining = drain.is_some();
        let connection = async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(!draining);
            let mut connection = std::pin::pin!(builder.serve_connection(TokioIo::new(stream), service));
            if draining {
                // One call, answered (a 503 for service calls), then the connection closes.
                let _ = connection.await;
                return;
            }
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopping.wait_for(|stop| *stop) => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        };
        if draining {
            late.spawn(connection);
        } else {
            // Reap finished connections as we go, so the set holds only live ones.
            while open.try_join_next().is_some() {}
            open.spawn(connection);
        }
    }
    if drain.is_none() {
        state.ready.store(false, Ordering::Release);
    }
    open.abort_all();
    late.abort_all();
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C. The signal handlers are installed now, before the future is
/// first polled: a SIGTERM that comes the moment the service is ready (an orchestrator's quick
/// stop) must find them, not the default action that kills the process mid-drain.
pub fn termination() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
        async move {
            match streams {
                (Ok(mut term), Ok(mut interrupt)) => {
                    tokio::select! { _ = term.recv() => {}, _ = interrupt.recv() => {} }
                }
                (term, interrupt) => {
                    let e = term.err().or(interrupt.err()).map(|e| e.to_string()).unwrap_or_default();
                    error!(error = %e, "cannot listen for SIGTERM or Ctrl-C");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}
