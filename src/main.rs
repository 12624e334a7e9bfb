//! The `ketamine-cds` command line: `serve` runs the CDS Hooks service.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ketamine_cds::config::ServeConfig;
use ketamine_cds::server;
use tracing::{error, info, warn};

#[derive(Debug, Parser)]
#[command(
    name = "ketamine-cds",
    version,
    about = "CDS Hooks service: ketamine orders for neuropathic pain need documented first-line failures",
    after_help = "Example:\n  ketamine-cds serve --listen 0.0.0.0:8080\n  curl http://127.0.0.1:8080/cds-services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the CDS Hooks service (embedded knowledge unless --profiles is given).
    #[command(after_help = "Example:\n  ketamine-cds serve --listen 127.0.0.1:8080 --profiles ./profiles")]
    Serve(ServeConfig),
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("KETAMINE_CDS_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().flatten_event(true).with_current_span(true).init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Serve(config) => serve(config),
    }
}

fn serve(config: ServeConfig) -> ExitCode {
    let knowledge = match server::load_knowledge(&config) {
        Ok(k) => k,
        Err(errors) => {
            for e in &errors {
                error!(problem = %e, "profiles rejected");
            }
            eprintln!("ketamine-cds: the profiles set is broken ({} problems):", errors.len());
            for e in errors {
                eprintln!("  {e}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ketamine-cds: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ketamine-cds: cannot listen on {}: {e}", config.listen);
                return ExitCode::FAILURE;
            }
        };
        warn!("authentication is off: any caller can use this service (fine for trying it out, not for production)");
        info!(listen = %config.listen, knowledge = knowledge.version(), "ketamine-cds ready");
        let state = server::state(knowledge, &config);
        match server::serve_on(listener, state, server::termination()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ketamine-cds: server error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
