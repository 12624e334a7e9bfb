//! One hook call from request to cards, the same for the HTTP API and the command line. Each
//! step is a plain function; [`answer`] runs them in order:
//!
//! ```text
//! check the request → record of the drafts → [no draft is or may be a ketamine order: no cards,
//!   no data read] → record of the prefetch → fetch what is missing → 412 (prefetch.rs) or
//!   assess (the trigger decided with every Medication the call has) → cards (in the client's
//!   EHR shape) → which of them are shown (fatigue.rs: options, snoozes, no repeats)
//! ```
//!
//! The FHIR server is reached only through a [`Fetch`] passed in: the server's fallback reader
//! ([`crate::fhir::fetch::Fetcher`]) for HTTP, [`NoFetch`] for the command line and tests; what
//! the store remembers, through a [`fatigue::Remembers`] ([`fatigue::Nothing`] without a store).
//! "Now" is an argument. Recording the call is the caller's (the store writes what this returns).

pub mod apply;
pub mod bundle;
pub mod fatigue;
pub mod prefetch;
pub mod rollout;
pub mod services;

use std::future::Future;

use crate::cards::profile::{self, Client};
use crate::cards::{self, CallInfo};
use crate::fhir::fetch::{Fetcher, KeyResult, Search};
use crate::fhir::version::FhirVersion;
use crate::fhir::{Origin, PatientRecord};
use crate::guideline::{self, Hook, Today, trigger};
use crate::hooks::options::CardOptions;
use crate::hooks::{Card, HookError, HookRequest, Prefetched, Response};
use crate::knowledge::Knowledge;
pub use services::ServiceDef;

/// What a call that examined ketamine orders concluded (the firing rates' denominator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The guideline does not speak for the order (no neuropathic-pain indication, anaesthesia…).
    NotApplicable,
    /// It applies and the first-line failures are documented.
    Backed,
    /// It applies and the step-therapy warning was given.
    Warned,
}

impl CallOutcome {
    pub fn code(self) -> &'static str {
        match self {
            CallOutcome::NotApplicable => "not-applicable",
            CallOutcome::Backed => "backed",
            CallOutcome::Warned => "warned",
        }
    }
}

/// The ids of a call the store keys on (never logged: `Debug` shows none of them).
#[derive(Clone, PartialEq, Default)]
pub struct CallIds {
    pub hook_instance: String,
    pub patient_id: String,
    pub encounter_id: Option<String>,
    /// The clinician (`context.userId`): decides a pilot's arm; never stored or logged.
    pub user_id: Option<String>,
}

impl std::fmt::Debug for CallIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallIds(..)")
    }
}

/// The answer to a call and what went into it (for logs and metrics; no PHI but in `ids`,
/// which the store keys on and `Debug` hides).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The cards shown.
    pub response: Response,
    /// The cards computed and not shown, with what held each back.
    pub held_back: Vec<fatigue::HeldBack>,
    /// Ketamine orders examined.
    pub examined: usize,
    /// Prefetch keys the client sent and the rules used.
    pub prefetched: usize,
    /// Prefetch keys read from the FHIR server.
    pub fetched: usize,
    /// Resources read and skipped while building the patient record.
    pub resources_read: usize,
    pub resources_skipped: usize,
    /// History resources dropped because their subject is another patient than the call's.
    pub resources_other_patient: usize,
    /// What the guideline concluded, when the call examined a ketamine order.
    pub outcome: Option<CallOutcome>,
    /// The assessment of each examined order (what the cards were made from).
    pub assessments: Vec<guideline::OrderAssessment>,
    pub ids: CallIds,
    /// The card options in force (the site's defaults overlaid by the request's).
    pub options: CardOptions,
    /// What triggered the call, as the EHR said (Epic's `bpa-trigger-action`), at most 64
    /// characters: logged and stored for analytics, never used by the rules.
    pub trigger: Option<String>,
    /// The rollout arm ([`rollout::apply`]): live, or silent with the cards that would have
    /// been shown in `silenced` (the response then has none).
    pub arm: rollout::Arm,
    pub silenced: Vec<Card>,
}

impl Evaluation {
    /// The cards held back (without why).
    pub fn held_cards(&self) -> impl Iterator<Item = &Card> {
        self.held_back.iter().map(|h| &h.card)
    }

    /// Every card computed: shown, then held back (the rule's firings).
    pub fn computed_cards(&self) -> impl Iterator<Item = &Card> {
        self.response.cards.iter().chain(self.held_cards())
    }

    /// The answer with the cards held back too (the playground's and `evaluate --store`'s): the
    /// cards shown, and in the response extension [`fatigue::HELD_BACK`] each card held back
    /// with what held it (`heldBy`: `snooze`, `repeat`, `chart-open-interval`, `card-option`), a
    /// sentence saying so, and for a snooze the overridden card whose snooze may be lifted.
    pub fn body_with_held_back(&self) -> serde_json::Value {
        use serde_json::json;
        let mut body = json!({ "cards": self.response.cards });
        if !self.held_back.is_empty() {
            let held: Vec<serde_json::Value> = self
                .held_back
                .iter()
                .map(|h| {
                    let mut item = json!({ "card": h.card, "heldBy": h.by.code(), "why": h.by.describe() });
                    if let fatigue::HeldBy::Snooze(s) = &h.by {
                        item["overriddenCard"] = json!(s.overridden_card);
                        item["until"] = json!(crate::clock::instant(s.until));
                    }
                    item
                })
                .collect();
            body["extension"] = json!({ fatigue::HELD_BACK: held });
        }
        body
    }
}

/// Where a call's FHIR server is and the token to read it with (never logged).
#[derive(Clone, Copy)]
pub struct FhirServer<'a> {
    pub base: &'a str,
    pub token: Option<&'a str>,
}

/// Searches for the server's FHIR version (`None`: it did not say).
pub type SearchesFor<'a> = Box<dyn FnOnce(Option<FhirVersion>) -> Vec<Search> + Send + 'a>;

/// Reads prefetch keys the client did not send from its FHIR server: the searches written for
/// the server's version, which it returns too.
pub trait Fetch: Sync {
    fn fetch<'a>(
        &'a self,
        server: FhirServer<'a>,
        searches: SearchesFor<'a>,
    ) -> impl Future<Output = (Option<FhirVersion>, Vec<KeyResult>)> + Send + 'a;
}

/// The FHIR-server fallback.
impl Fetch for Fetcher {
    fn fetch<'a>(
        &'a self,
        server: FhirServer<'a>,
        searches: SearchesFor<'a>,
    ) -> impl Future<Output = (Option<FhirVersion>, Vec<KeyResult>)> + Send + 'a {
        Fetcher::fetch(self, server.base, server.token, searches)
    }
}

/// Reads nothing: the command line's and the tests' fetcher. A key it is asked for stays
/// missing (and the call gets its 412).
pub struct NoFetch;

impl Fetch for NoFetch {
    async fn fetch<'a>(
        &'a self,
        _: FhirServer<'a>,
        searches: SearchesFor<'a>,
    ) -> (Option<FhirVersion>, Vec<KeyResult>) {
        let why = "not prefetched (absent or an OperationOutcome); this caller reads no FHIR server";
        (None, searches(None).iter().map(|s| (s.key, Err(why.to_owned()))).collect())
    }
}

/// Answers one call with the default card options: every step, in order.
pub async fn answer(
    service: &ServiceDef,
    request: HookRequest,
    knowledge: &Knowledge,
    fetcher: &impl Fetch,
    now: time::OffsetDateTime,
) -> Result<Evaluation, HookError> {
    answer_with(service, request, knowledge, fetcher, &fatigue::Nothing, now, &Limits::default()).await
}

/// What a call may do: the site's card-option defaults (the request may overlay them) and the
/// moment by which it must be answered.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub options: CardOptions,
    /// Link prefixes cards may carry (`[links] allowed`); empty: every link.
    pub links_allowed: std::sync::Arc<[String]>,
    /// Checked between the steps (reading the prefetch, fetching, assessing), so that the
    /// request deadline covers the CPU a call takes, not only its waits; each step is bounded by
    /// the request limits, so a call ends at most one step past it.
    pub deadline: Option<std::time::Instant>,
}

impl Limits {
    fn in_time(&self) -> Result<(), HookError> {
        match self.deadline {
            Some(deadline) if std::time::Instant::now() > deadline => Err(HookError::DeadlinePassed),
            _ => Ok(()),
        }
    }
}

/// As [`answer`], with what the store remembers and within `limits`.
pub async fn answer_with(
    service: &ServiceDef,
    mut request: HookRequest,
    knowledge: &Knowledge,
    fetcher: &impl Fetch,
    remembered: &dyn fatigue::Remembers,
    now: time::OffsetDateTime,
    limits: &Limits,
) -> Result<Evaluation, HookError> {
    check(service, &request)?;
    limits.in_time()?;
    let defaults = &limits.options;
    let options = defaults.with_request(request.extension.as_ref())?;
    // The EHR's shape: configured (issuer, site), else told by the request, else generic.
    let client = options.client.or_else(|| Client::of_request(request.extension.as_ref())).unwrap_or_default();
    let shape = Shape { client, links_allowed: &limits.links_allowed, remembered };
    let hook = service.hook;
    let mut record = read_drafts(&mut request);
    if let Some((draft, named)) = record.foreign_drafts.first() {
        let patient = request.context.patient_id.chars().take(64).collect();
        return Err(HookError::OtherPatientDraft { draft: draft.clone(), named: named.clone(), patient });
    }
    // The drafts tell the client's version, else its server's /metadata, else the rest of the
    // call (see fhir::version).
    let drafts_version = record.seen_version;
    let mut server_version = None;
    let client_version = |record: &PatientRecord, server: Option<FhirVersion>| {
        drafts_version.or(server).or(record.seen_version).unwrap_or_default()
    };
    if !trigger::may_examine(hook, &request.context.selections, &record, knowledge) {
        // No ketamine order: no patient data is needed, and none is read.
        let version = client_version(&record, None);
        return Ok(finish(hook, &request, &record, knowledge, now, (0, 0), (options, version), shape));
    }
    // The prefetch is read before the trigger is decided: a draft's Medication may be in it.
    let mut missing = prefetch::missing(&request.prefetch);
    // The Patient (its age) is read with the other keys when the client did not send it; it
    // never causes a 412 of its own.
    let patient_missing = matches!(request.prefetch.get("patient"), None | Some(Prefetched::Failed(_)));
    let prefetched = read_prefetch(&mut request, &mut record);
    limits.in_time()?;
    let mut fetched = 0;
    if !missing.is_empty() && trigger::may_examine(hook, &request.context.selections, &record, knowledge) {
        let mut why = Vec::new();
        if let Some(server) = fhir_server(&request) {
            let mut keys = missing.clone();
            if patient_missing {
                keys.push("patient");
            }
            let patient_id = request.context.patient_id.as_str();
            let guess = client_version(&record, None);
            let searches: SearchesFor<'_> =
                Box::new(move |version| prefetch::searches(&keys, patient_id, version.unwrap_or(guess)));
            let (version, results) = fetcher.fetch(server, searches).await;
            server_version = version;
            for (key, result) in results {
                match result {
                    Ok(bundle) => {
                        record.add(bundle, Origin::History);
                        missing.retain(|k| *k != key);
                        fetched += 1;
                    }
                    Err(reason) => why.push((key, reason)),
                }
            }
        }
        if !missing.is_empty() && trigger::may_examine(hook, &request.context.selections, &record, knowledge) {
            return Err(prefetch::missing_data(&missing, &why));
        }
        limits.in_time()?;
    }
    let version = client_version(&record, server_version);
    let evaluation = finish(hook, &request, &record, knowledge, now, (prefetched, fetched), (options, version), shape);
    limits.in_time()?;
    Ok(evaluation)
}

/// The request is for this service's hook and its selections name draft orders.
fn check(service: &ServiceDef, request: &HookRequest) -> Result<(), HookError> {
    if Hook::from_name(&request.hook) != Some(service.hook) {
        return Err(HookError::HookMismatch { expected: service.hook.name().to_owned(), got: request.hook.clone() });
    }
    let drafts = request.draft_refs();
    match request.context.selections.iter().find(|s| !drafts.contains(*s)) {
        Some(unknown) => Err(HookError::UnknownSelection(unknown.clone())),
        None => Ok(()),
    }
}

/// The record of the call's draft orders (taken out of the request).
pub fn read_drafts(request: &mut HookRequest) -> PatientRecord {
    let mut record = PatientRecord::new(&request.context.patient_id);
    record.add(std::mem::take(&mut request.context.draft_orders), Origin::Draft);
    record
}

/// Adds every prefetched key's resources to the record (taken out of the request); the number
/// of keys with data.
pub fn read_prefetch(request: &mut HookRequest, record: &mut PatientRecord) -> usize {
    let mut keys = 0;
    for value in std::mem::take(&mut request.prefetch).into_values() {
        if let Prefetched::Data(data) = value {
            record.add(data.value, Origin::History);
            record.add_entries(data.entries, Origin::History);
            keys += 1;
        }
    }
    keys
}

fn fhir_server(request: &HookRequest) -> Option<FhirServer<'_>> {
    Some(FhirServer {
        base: request.fhir_server.as_deref()?,
        token: request.fhir_authorization.as_ref().map(|a| a.access_token.as_str()),
    })
}

/// The shape the cards take for the client (its EHR profile, the links it may get) and what
/// decides which are shown.
#[derive(Clone, Copy)]
struct Shape<'a> {
    client: Client,
    links_allowed: &'a [String],
    remembered: &'a dyn fatigue::Remembers,
}

/// Assesses the record and words the cards, their suggestions in the client's FHIR version and
/// in its EHR's shape, and sorts them into shown and held back; `(prefetched, fetched)` are the
/// key counts.
#[allow(clippy::too_many_arguments)]
fn finish(
    hook: Hook,
    request: &HookRequest,
    record: &PatientRecord,
    knowledge: &Knowledge,
    now: time::OffsetDateTime,
    (prefetched, fetched): (usize, usize),
    (options, version): (CardOptions, FhirVersion),
    shape: Shape<'_>,
) -> Evaluation {
    let assessments =
        guideline::assess(hook, &request.context.selections, record, knowledge, &Today::from_datetime(now));
    let call = CallInfo {
        hook,
        version,
        hook_instance: &request.hook_instance,
        patient_id: &request.context.patient_id,
        encounter_id: request.context.encounter_id.as_deref(),
    };
    let outcome = match assessments.iter().find(|o| o.applies()) {
        _ if assessments.is_empty() => None,
        None => Some(CallOutcome::NotApplicable),
        Some(o) if o.backed(knowledge) => Some(CallOutcome::Backed),
        Some(_) => Some(CallOutcome::Warned),
    };
    let ids = CallIds {
        hook_instance: request.hook_instance.clone(),
        patient_id: request.context.patient_id.clone(),
        encounter_id: request.context.encounter_id.clone(),
        user_id: request.context.user_id.clone(),
    };
    let computed = profile::apply(cards::cards(&call, &assessments, knowledge), shape.client, shape.links_allowed);
    let at = crate::clock::millis(now);
    let (shown, held_back) = fatigue::sort(computed, hook, &options, (&ids, knowledge.version()), shape.remembered, at);
    Evaluation {
        response: Response { cards: shown },
        held_back,
        examined: assessments.len(),
        outcome,
        assessments,
        ids,
        options,
        trigger: profile::epic_trigger(request.extension.as_ref()),
        prefetched,
        fetched,
        resources_read: record.stats.read,
        resources_skipped: record.stats.skipped,
        resources_other_patient: record.stats.other_patient,
        arm: rollout::Arm::Live,
        silenced: Vec::new(),
    }
}

/// [`answer`] for callers without a runtime (the command line, tests, benches): reads no FHIR
/// server, so it never waits.
pub fn answer_offline(
    service: &ServiceDef,
    request: HookRequest,
    knowledge: &Knowledge,
    now: time::OffsetDateTime,
) -> Result<Evaluation, HookError> {
    block_on(answer(service, request, knowledge, &NoFetch, now))
}

/// [`answer_offline`] with what a store remembers (`evaluate --store`).
pub fn answer_offline_remembering(
    service: &ServiceDef,
    request: HookRequest,
    knowledge: &Knowledge,
    remembered: &dyn fatigue::Remembers,
    now: time::OffsetDateTime,
) -> Result<Evaluation, HookError> {
    block_on(answer_with(service, request, knowledge, &NoFetch, remembered, now, &Limits::default()))
}

/// Runs a future to completion on this thread (parking it while the future waits).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}
