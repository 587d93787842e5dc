//! The server's Prometheus metrics (prometheus-client's text exposition): requests by endpoint and
//! status, answers by outcome, request latency, and the records waiting for the sampler.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    endpoint: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    answers: Family<Outcome, Counter>,
    latency: Histogram,
    /// Records accepted and not yet answered.
    pub queue: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Request, Counter>::default();
        let answers = Family::<Outcome, Counter>::default();
        let latency = Histogram::new(exponential_buckets(0.000_25, 2.0, 16));
        let queue = Gauge::default();
        registry.register("rp_requests", "HTTP requests by endpoint and status code", requests.clone());
        registry.register("rp_answers", "Answered records by outcome (answer or abstain)", answers.clone());
        registry.register("rp_predict_latency_seconds", "Latency of /v1/predict requests", latency.clone());
        registry.register("rp_queue_records", "Records accepted and waiting for the sampler", queue.clone());
        Metrics { registry, requests, answers, latency, queue }
    }

    pub fn request(&self, endpoint: &str, status: u16) {
        self.requests.get_or_create(&Request { endpoint: endpoint.into(), status: status.to_string() }).inc();
    }

    pub fn answer(&self, abstain: bool) {
        self.answers.get_or_create(&Outcome { outcome: if abstain { "abstain" } else { "answer" }.into() }).inc();
    }

    pub fn latency(&self, seconds: f64) {
        self.latency.observe(seconds);
    }

    /// The text exposition.
    pub fn text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}
