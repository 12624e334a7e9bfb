//! ketamine-cds: a CDS Hooks 2.0 service that flags ketamine orders for neuropathic pain not
//! backed by documented failures of the first-line agents (SNRIs, gabapentinoids, TCAs). The
//! clinical rules it implements are written down in `docs/clinical-rules.md`.
//!
//! One hook call flows one way, each step a plain function ([`call::answer`]):
//!
//! ```text
//! HTTP body → hooks::HookRequest → fhir::PatientRecord (drafts, prefetch, FHIR server)
//!           → guideline::assess → cards::cards (the client's EHR shape)
//!           → call::fatigue (shown / held back: options, snoozes, no repeats) → HTTP response
//!           → the store records both (never awaited)
//! ```
//!
//! Modules, lowest first; each uses only those above it in this list:
//!
//! - [`clock`]: instants as Unix milliseconds (read from the clock only at the edges).
//! - [`config`]: one typed configuration (`serve` flags, the TOML file, the environment).
//! - [`fhir`]: reading EHR JSON into the per-call patient record: element pruning while
//!   parsing, Bundle entries kept as text, the fast and the lenient reader (one result), lean
//!   structs of the elements the rules read, and the FHIR-server client of the fallback.
//! - [`hooks`]: CDS Hooks wire types: the request envelope and its JSON Schema, cards,
//!   feedback, the discovery document's shape. Knows nothing of ketamine.
//! - [`knowledge`]: `profiles/` (FHIR ValueSets, CodeSystems, ConceptMap, PlanDefinition,
//!   ActivityDefinitions) loaded and checked; medication recognition; the typed policy; the
//!   knowledge as a FHIR package; the shipped examples.
//! - [`guideline`]: the rules: trigger, indication, class status, daily dose,
//!   contraindications. No I/O, no clock.
//! - [`cards`]: assessment → CDS Hooks cards (texts, suggestions, override reasons, links).
//! - [`call`]: one hook call end to end, the same for HTTP and the command line; the prefetch
//!   templates and where a 412 comes from; the services offered; a Bundle made into a request;
//!   the rollout arm (live, silent); `PlanDefinition/$apply`'s Parameters in and RequestGroup out.
//! - [`auth`]: CDS Hooks JWT verification (issuers, JWKS, replay cache).
//! - [`store`]: the card and outcome store (SQLite, PostgreSQL), the snoozes the hook path reads.
//!   [`report`]: override analytics from it. [`replay`]: a FHIR Bulk Data export replayed
//!   through the call, order by order, as of each order's day.
//! - [`background`]: the loops beside the calls (retention, the snapshot of what the hook path
//!   remembers, the replay-cache purge, the firing-rate alarm), started and stopped in one place.
//! - [`http`]: router, handlers, body limits, errors → OperationOutcome, metrics, the analytics
//!   and playground pages, `$apply` and `/metadata`.
//! - [`startup`]: the server's start-up and shutdown. [`telemetry`]: logs and trace export.
//! - [`cli`]: `evaluate`, `check-profiles`, `report`, `snoozes`, `replay` and `package`.

pub mod auth;
pub mod background;
pub mod call;
pub mod cards;
pub mod cli;
pub mod clock;
pub mod config;
pub mod fhir;
pub mod guideline;
pub mod hooks;
pub mod http;
pub mod knowledge;
pub mod replay;
pub mod report;
pub mod startup;
pub mod store;
pub mod telemetry;

/// The crate map above holds: no module names one listed below it (comments aside).
#[cfg(test)]
mod layering {
    const ORDER: [&str; 17] = [
        "clock",
        "config",
        "fhir",
        "hooks",
        "knowledge",
        "guideline",
        "cards",
        "call",
        "auth",
        "store",
        "report",
        "replay",
        "background",
        "http",
        "startup",
        "telemetry",
        "cli",
    ];

    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_module_uses_one_below_it_in_the_crate_map() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let mut upward = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).unwrap_or(&file).to_string_lossy().into_owned();
            let top = relative.split('/').next().unwrap_or_default().trim_end_matches(".rs");
            let Some(rank) = ORDER.iter().position(|m| *m == top) else { continue };
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (i, module) in ORDER.iter().enumerate().skip(rank + 1) {
                    if line.contains(&format!("crate::{module}::")) || line.contains(&format!("crate::{module};")) {
                        upward.push(format!("{relative} uses {module} (listed {} below it)", i - rank));
                    }
                }
            }
        }
        assert!(upward.is_empty(), "{upward:#?}");
        assert!(files_exist(&src), "the modules are where the map says");
    }

    fn files_exist(src: &std::path::Path) -> bool {
        ORDER.iter().all(|m| src.join(format!("{m}.rs")).is_file() || src.join(m).join("mod.rs").is_file())
    }
}
