//! The `ketamine-cds` command line: `serve` runs the CDS Hooks service (its background loops
//! stopped and its store drained on SIGTERM, `startup::close`), `evaluate` runs cases through the
//! same call (with `--store`, what a store remembers held back as the service would),
//! `check-profiles` checks a knowledge directory, `report` prints the override analytics of a
//! store, `snoozes` lists or lifts its snoozes, `replay` runs the rule over a FHIR Bulk Data
//! export and `package` writes the knowledge as a FHIR package.

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use ketamine_cds::cli::{self, evaluate::EvaluateArgs};
use ketamine_cds::config::{FileConfig, ServeConfig, TelemetryConfig};
use ketamine_cds::knowledge::Knowledge;
use ketamine_cds::{startup, telemetry};
use tracing::{error, info, warn};

#[derive(Debug, Parser)]
#[command(
    name = "ketamine-cds",
    version,
    about = "CDS Hooks service: ketamine orders for neuropathic pain need documented first-line failures",
    after_help = "Examples:\n  ketamine-cds serve --listen 0.0.0.0:8080\n  ketamine-cds evaluate --now 2026-11-21 examples/hooks/01-untreated-patient.json\n  ketamine-cds evaluate --check examples/\n  ketamine-cds check-profiles ./my-profiles"
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
    /// Evaluate hook requests or patient-record Bundles and print the cards, exactly as the
    /// server would answer them.
    #[command(
        after_help = "A FHIR Bundle becomes an order-sign call (or --hook order-select) whose draft orders are its \
ketamine MedicationRequests with status 'draft' (or the one named by --order); the rest of the Bundle is the \
patient record. Files named NAME.expected.json or NAME.response.json are expectations for NAME.json, used by \
--check: each expected card's fields (e.g. just indicator and summary) must match.\n\nExamples:\n  \
ketamine-cds evaluate --now 2026-11-21 examples/hooks/01-untreated-patient.json\n  \
ketamine-cds evaluate --format json --hook order-select examples/bundles/01-untreated-patient.json\n  \
ketamine-cds evaluate --check --now 2026-11-21 examples/\n  \
ketamine-cds evaluate --format markdown --profiles ./site-profiles cases/ > report.md"
    )]
    Evaluate(EvaluateArgs),
    /// Check a profiles directory (schema, cross-references, malformed codes); without DIR, the
    /// embedded profiles.
    #[command(
        after_help = "Example:\n  cp -r profiles site-profiles && $EDITOR site-profiles/ValueSet-agent-ketamine.json\n  \
ketamine-cds check-profiles site-profiles"
    )]
    CheckProfiles {
        /// The profiles directory to check.
        dir: Option<PathBuf>,
    },
    /// Override analytics from the store: firing rates per 100 ketamine orders, override rate
    /// and reasons, suggestions taken, time to outcome, the malfunction alarm.
    #[command(
        after_help = "Examples:\n  ketamine-cds report\n  ketamine-cds report --store sqlite:/var/lib/ketamine-cds/store.sqlite --since 2026-01-01 --format json\n  \
ketamine-cds report --store postgres://cds@db:5432/cds --format html -o analytics.html"
    )]
    Report(ketamine_cds::cli::report::ReportArgs),
    /// The snoozes in force (overridden step-therapy warnings held back for a patient), or lift
    /// one by its card uuid.
    #[command(
        after_help = "Examples:\n  ketamine-cds snoozes\n  ketamine-cds snoozes --store postgres://cds@db:5432/cds --lift 6ec54a4c-0975-5d09-a510-bb7dde3a9ea2"
    )]
    Snoozes(ketamine_cds::cli::snoozes::SnoozesArgs),
    /// Replay a FHIR Bulk Data export: for every ketamine order, what the service would have said
    /// when it was signed (the patient's records as they stood that day), tallied.
    #[command(
        after_help = "Examples:\n  ketamine-cds replay ./export\n  ketamine-cds replay --since 2026-01-01 --format json -o replay.json ./export/manifest.json\n  \
ketamine-cds replay --compare-profiles ./site-profiles --format html -o compare.html ./export\n  \
ketamine-cds replay --shard 3/8 --format json ./export"
    )]
    Replay(ketamine_cds::cli::replay::ReplayArgs),
    /// Write the knowledge (embedded, or a site's --profiles) as a FHIR package (.tgz) that a
    /// FHIR server or a CPG engine loads: package.json, .index.json, an ImplementationGuide, the
    /// artifacts and the example patients.
    #[command(
        after_help = "Examples:\n  ketamine-cds package\n  ketamine-cds package --profiles ./site-profiles -o site-knowledge.tgz"
    )]
    Package(ketamine_cds::cli::package::PackageArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` sets up its logs once its configuration (which may ask for trace export) is read.
    let _logs = match &cli.command {
        Command::Serve(_) => None,
        _ => match telemetry::init(&TelemetryConfig::default()) {
            Ok(guard) => Some(guard),
            Err(e) => {
                eprintln!("ketamine-cds: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match cli.command {
        Command::Serve(config) => serve(config),
        Command::Evaluate(args) => match Knowledge::load(args.profiles.as_deref()) {
            Ok(knowledge) => {
                ExitCode::from(cli::evaluate::run(&args, &knowledge, &mut std::io::stdout(), &mut std::io::stderr()))
            }
            Err(errors) => report_broken_profiles(errors),
        },
        Command::CheckProfiles { dir } => ExitCode::from(cli::check_profiles(dir.as_deref(), &mut std::io::stdout())),
        Command::Report(args) => ExitCode::from(cli::report::run(
            &args,
            time::OffsetDateTime::now_utc(),
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )),
        Command::Package(args) => {
            ExitCode::from(cli::package::run(&args, &mut std::io::stdout(), &mut std::io::stderr()))
        }
        Command::Replay(args) => {
            ExitCode::from(cli::replay::run(&args, &mut std::io::stdout(), &mut std::io::stderr()))
        }
        Command::Snoozes(args) => match Knowledge::load(args.profiles.as_deref()) {
            Ok(knowledge) => ExitCode::from(cli::snoozes::run(
                &args,
                &knowledge,
                time::OffsetDateTime::now_utc(),
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )),
            Err(errors) => report_broken_profiles(errors),
        },
    }
}

fn report_broken_profiles(errors: Vec<ketamine_cds::knowledge::KnowledgeError>) -> ExitCode {
    for e in &errors {
        error!(problem = %e, "profiles rejected");
    }
    eprintln!("ketamine-cds: the profiles set is broken ({} problems):", errors.len());
    for e in errors {
        eprintln!("  {e}");
    }
    ExitCode::from(2)
}

fn serve(config: ServeConfig) -> ExitCode {
    let file = match FileConfig::load(config.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ketamine-cds: {e}");
            return ExitCode::from(2);
        }
    };
    // Dropped last, after the runtime: flushes the spans not yet exported.
    let _telemetry = match telemetry::init(&file.telemetry) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("ketamine-cds: {e}");
            return ExitCode::from(2);
        }
    };
    if file.telemetry.otlp_endpoint.is_some() {
        info!(service_name = %file.telemetry.service_name, "exporting traces over OTLP");
    }
    let knowledge = match startup::load_knowledge(&config) {
        Ok(k) => k,
        Err(errors) => return report_broken_profiles(errors),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ketamine-cds: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(config.listen.as_str()).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ketamine-cds: cannot listen on {}: {e}", config.listen);
                return ExitCode::FAILURE;
            }
        };
        if file.auth_required() {
            info!(issuers = file.auth.issuers.len(), "authentication required");
        } else {
            warn!(
                "AUTHENTICATION IS OFF: any caller can use this service. Fine for trying it out; for production \
                 give --config with [auth] mode = \"required\" and the EHR's issuer"
            );
        }
        let version = knowledge.version().to_owned();
        let state = match startup::state(knowledge, &config, &file).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ketamine-cds: {e}");
                return ExitCode::from(2);
            }
        };
        // The address bound (with port 0, the port the system chose).
        let bound = listener.local_addr().map_or_else(|_| config.listen.clone(), |a| a.to_string());
        info!(listen = %bound, knowledge = %version, "ketamine-cds ready");
        let after = state.clone();
        let served = startup::serve_on(listener, state, startup::termination()).await;
        // The loops stop, and what the calls answered before the signal queued is written
        // before the process ends.
        startup::close(&after, std::time::Duration::from_secs(10)).await;
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ketamine-cds: server error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
