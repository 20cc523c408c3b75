//! Prometheus metrics of the operator.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EntityLabels {
    pub kind: String,
    pub ready: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    pub registry: Registry,
    pub entities: Family<EntityLabels, Gauge>,
    pub status_writes: Family<KindLabel, Counter>,
    pub status_write_errors: Family<KindLabel, Counter>,
    pub events_published: Counter,
    pub watch_restarts: Family<KindLabel, Counter>,
    pub watch_errors: Family<KindLabel, Counter>,
    pub decode_errors: Family<KindLabel, Counter>,
    pub resolve_seconds: Histogram,
    pub write_seconds: Histogram,
    pub queue_seconds: Histogram,
    pub queue_depth: Gauge,
    pub leader: Gauge,
    /// Writes not sent because the lease had run out (a frozen leader waking up).
    pub writes_refused: Counter,
    /// Entities whose write waits: settling after a recent write, or backing off after a failure.
    pub writes_waiting: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            entities: Family::default(),
            status_writes: Family::default(),
            status_write_errors: Family::default(),
            events_published: Counter::default(),
            watch_restarts: Family::default(),
            watch_errors: Family::default(),
            decode_errors: Family::default(),
            resolve_seconds: Histogram::new(exponential_buckets(0.0001, 4.0, 10)),
            write_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            queue_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            queue_depth: Gauge::default(),
            leader: Gauge::default(),
            writes_refused: Counter::default(),
            writes_waiting: Gauge::default(),
            registry: Registry::with_prefix("playbill"),
        };
        m.registry.register(
            "entities",
            "Catalog entities by kind and readiness",
            m.entities.clone(),
        );
        m.registry.register(
            "status_writes",
            "Status patches sent",
            m.status_writes.clone(),
        );
        m.registry.register(
            "status_write_errors",
            "Status patches that failed",
            m.status_write_errors.clone(),
        );
        m.registry.register(
            "events",
            "Kubernetes Events published on Ready flips",
            m.events_published.clone(),
        );
        m.registry.register(
            "watch_restarts",
            "Times a watch re-listed its kind",
            m.watch_restarts.clone(),
        );
        m.registry.register(
            "watch_errors",
            "Watch stream errors",
            m.watch_errors.clone(),
        );
        m.registry.register(
            "decode_errors",
            "Objects whose spec could not be read",
            m.decode_errors.clone(),
        );
        m.registry.register(
            "resolve_duration_seconds",
            "Time to compute the desired statuses of one batch",
            m.resolve_seconds.clone(),
        );
        m.registry.register(
            "status_write_duration_seconds",
            "Latency of one status patch",
            m.write_seconds.clone(),
        );
        m.registry.register(
            "queue_duration_seconds",
            "Time from a change being seen to its batch being written",
            m.queue_seconds.clone(),
        );
        m.registry.register(
            "queue_depth",
            "Entities waiting to be re-evaluated",
            m.queue_depth.clone(),
        );
        m.registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            m.leader.clone(),
        );
        m.registry.register(
            "status_writes_refused",
            "Status writes not sent because this replica's lease had run out",
            m.writes_refused.clone(),
        );
        m.registry.register(
            "status_writes_waiting",
            "Entities whose status write waits: settling after a recent write or retrying after a failure",
            m.writes_waiting.clone(),
        );
        m
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

pub fn kind(kind: crate::model::Kind) -> KindLabel {
    KindLabel {
        kind: kind.name().to_owned(),
    }
}
