//! Prometheus metrics (`GET /metrics`): calls by service and outcome, cards by indicator,
//! refusals by reason, latency, prefetched versus fetched data, the knowledge version, the
//! store's queue and writes, suppressed cards, silent cards (rollout) and the firing-rate alarm. One
//! registry per server (no globals), so tests and replicas count on their own.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Call {
    service: String,
    /// `cards`, `no-card` or `refused`.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Card {
    service: String,
    indicator: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refusal {
    status: u16,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Service {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Source {
    /// `prefetch` or `fhir-server`.
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Knowledge {
    version: String,
}

pub struct Metrics {
    registry: Registry,
    calls: Family<Call, Counter>,
    cards: Family<Card, Counter>,
    refusals: Family<Refusal, Counter>,
    latency: Family<Service, Histogram>,
    data: Family<Source, Counter>,
    other_patient: Counter,
    silenced: Family<Service, Counter>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~4 s: EHRs abandon calls long before the top bucket.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 14))
}

impl Metrics {
    pub fn new(knowledge_version: &str, store: &crate::store::writer::Instruments) -> Self {
        let mut registry = Registry::with_prefix("ketamine_cds");
        let calls = Family::<Call, Counter>::default();
        let cards = Family::<Card, Counter>::default();
        let refusals = Family::<Refusal, Counter>::default();
        let latency = Family::<Service, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let data = Family::<Source, Counter>::default();
        let knowledge = Family::<Knowledge, Gauge>::default();
        knowledge.get_or_create(&Knowledge { version: knowledge_version.to_owned() }).set(1);
        registry.register("calls", "Hook calls by service and outcome", calls.clone());
        registry.register("cards", "Cards returned by service and indicator", cards.clone());
        registry.register("refusals", "Refused requests by status and reason", refusals.clone());
        registry.register("call_duration_seconds", "Hook call latency", latency.clone());
        registry.register("patient_data_keys", "Prefetch keys used, by where they came from", data.clone());
        registry.register("knowledge", "The loaded knowledge version (value 1)", knowledge);
        let other_patient = Counter::default();
        registry.register(
            "resources_other_patient",
            "Resources of calls dropped because their subject is another patient than the call's",
            other_patient.clone(),
        );
        registry.register("store_queue_depth", "Rows waiting to be written to the store", store.queue_depth.clone());
        registry.register("store_written_rows", "Rows of the hook path written to the store", store.written.clone());
        registry.register(
            "store_dropped_rows",
            "Rows of the hook path not written (queue full, or unwritten at shutdown)",
            store.dropped.clone(),
        );
        registry.register("store_write_failures", "Store writes that failed (retried)", store.failures.clone());
        registry.register(
            "store_failing",
            "1 while the store is failing (hook calls go on)",
            store.health.failing.clone(),
        );
        registry.register(
            "store_failing_since_seconds",
            "Unix time the current store fault started (0: none)",
            store.health.failing_since.clone(),
        );
        registry.register(
            "store_write_duration_seconds",
            "Latency of one batched store write",
            store.write_seconds.clone(),
        );
        registry.register(
            "cards_suppressed",
            "Cards computed and held back (a snooze, a repeat, the chart-open interval, a card option)",
            store.suppressed.clone(),
        );
        registry.register(
            "firing_rate_alarm",
            "1 while the latest week's firing rate is outside its control limits",
            store.firing_alarm.clone(),
        );
        let silenced = Family::<Service, Counter>::default();
        registry.register(
            "cards_silent",
            "Cards computed for a call in the silent arm of the rollout and not shown (recorded as what would have been)",
            silenced.clone(),
        );
        Self { registry, calls, cards, refusals, latency, data, other_patient, silenced }
    }

    /// A call answered with these card indicators.
    pub fn answered(&self, service: &str, indicators: &[&str], seconds: f64, prefetched: usize, fetched: usize) {
        let outcome = if indicators.is_empty() { "no-card" } else { "cards" };
        self.calls.get_or_create(&Call { service: service.into(), outcome: outcome.into() }).inc();
        for indicator in indicators {
            self.cards.get_or_create(&Card { service: service.into(), indicator: (*indicator).into() }).inc();
        }
        self.latency.get_or_create(&Service { service: service.into() }).observe(seconds);
        self.data.get_or_create(&Source { source: "prefetch".into() }).inc_by(prefetched as u64);
        self.data.get_or_create(&Source { source: "fhir-server".into() }).inc_by(fetched as u64);
    }

    /// A silent call's cards, not shown.
    pub fn silenced(&self, service: &str, cards: usize) {
        self.silenced.get_or_create(&Service { service: service.into() }).inc_by(cards as u64);
    }

    /// Resources of a call dropped: their subject is another patient.
    pub fn other_patient(&self, resources: usize) {
        self.other_patient.inc_by(resources as u64);
    }

    /// A hook call refused (4xx).
    pub fn refused_call(&self, service: &str, seconds: f64) {
        self.calls.get_or_create(&Call { service: service.into(), outcome: "refused".into() }).inc();
        self.latency.get_or_create(&Service { service: service.into() }).observe(seconds);
    }

    /// Any refused request, by status and reason code (`missing-data` is the 412).
    pub fn refusal(&self, status: u16, reason: &str) {
        self.refusals.get_or_create(&Refusal { status, reason: reason.into() }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}
