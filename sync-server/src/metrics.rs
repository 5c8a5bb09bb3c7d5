//! `Metrics`: counters, gauges and histograms of one server (`prometheus-client` types),
//! rendered in the Prometheus text exposition format (version 0.0.4) for `GET /metrics`; and
//! the readiness decision behind `GET /readyz`.

use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Why the server refused a connection or closed one for exceeding a limit (the `reason`
/// label of `collab_refusals_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-connections` reached (HTTP 503).
    MaxConnections,
    /// `--max-connections-per-ip` reached (HTTP 429).
    PerIp,
    /// `--max-connections-per-doc` reached (HTTP 503).
    PerDoc,
    /// An upgrade arrived while shutting down (HTTP 503).
    ShuttingDown,
    /// Closed for sending too many messages (4420).
    MessageRate,
    /// Closed for sending too many sync requests (4420).
    SyncRate,
    /// Closed because its send queue overflowed or a write stalled (4429).
    TooSlow,
}

impl Refusal {
    const ALL: [Refusal; 7] = [
        Refusal::MaxConnections,
        Refusal::PerIp,
        Refusal::PerDoc,
        Refusal::ShuttingDown,
        Refusal::MessageRate,
        Refusal::SyncRate,
        Refusal::TooSlow,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::PerIp => "max_connections_per_ip",
            Refusal::PerDoc => "max_connections_per_doc",
            Refusal::ShuttingDown => "shutting_down",
            Refusal::MessageRate => "message_rate",
            Refusal::SyncRate => "sync_request_rate",
            Refusal::TooSlow => "too_slow",
        }
    }
}

/// How one webhook attempt ended (the `result` label of `collab_webhook_deliveries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookResult {
    /// The receiver answered 2xx.
    Delivered,
    /// It failed and will be tried again.
    Retried,
    /// It failed for the last time: the event is lost for this URL.
    Failed,
}

impl WebhookResult {
    const ALL: [WebhookResult; 3] = [
        WebhookResult::Delivered,
        WebhookResult::Retried,
        WebhookResult::Failed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            WebhookResult::Delivered => "delivered",
            WebhookResult::Retried => "retried",
            WebhookResult::Failed => "failed",
        }
    }
}

/// The labels of `collab_webhook_deliveries_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    result: &'static str,
}

/// The labels of `collab_refusals_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

/// Upper bounds of the latency histograms, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the commit batch size histogram, in writes.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 4096.0,
];

/// A cumulative histogram with fixed buckets (and `+Inf`).
#[derive(Debug, Clone)]
pub struct Histogram(prometheus_client::metrics::histogram::Histogram);

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        Histogram(prometheus_client::metrics::histogram::Histogram::new(
            bounds.iter().copied(),
        ))
    }

    pub fn observe(&self, value: f64) {
        self.0.observe(value);
    }

    pub fn observe_duration(&self, elapsed: Duration) {
        self.observe(elapsed.as_secs_f64());
    }
}

/// Everything `/metrics` reports, for one server. Shared as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    connections_open: Gauge,
    connections_total: Counter,
    messages_in: Counter,
    bytes_in: Counter,
    messages_out: Counter,
    bytes_out: Counter,
    updates_applied: Counter,
    commit_failures: Counter,
    relay_published: Counter,
    relay_received: Counter,
    relay_connects: Counter,
    refusals: Family<RefusalLabels, Counter>,
    webhooks: Family<WebhookLabels, Counter>,
    /// Seconds one successful storage commit took.
    pub commit_seconds: Histogram,
    /// Writes per committed transaction.
    pub commit_batch_size: Histogram,
    /// Seconds from an update reaching the storage queue to its acknowledgement being sent.
    pub ack_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let refusals = Family::<RefusalLabels, Counter>::default();
        // Every reason is reported from the start, at 0 until it happens.
        for reason in Refusal::ALL {
            refusals.get_or_create_owned(&RefusalLabels {
                reason: reason.label(),
            });
        }
        let webhooks = Family::<WebhookLabels, Counter>::default();
        for result in WebhookResult::ALL {
            webhooks.get_or_create_owned(&WebhookLabels {
                result: result.label(),
            });
        }
        Metrics {
            connections_open: Gauge::default(),
            connections_total: Counter::default(),
            messages_in: Counter::default(),
            bytes_in: Counter::default(),
            messages_out: Counter::default(),
            bytes_out: Counter::default(),
            updates_applied: Counter::default(),
            commit_failures: Counter::default(),
            relay_published: Counter::default(),
            relay_received: Counter::default(),
            relay_connects: Counter::default(),
            refusals,
            webhooks,
            commit_seconds: Histogram::new(LATENCY_BUCKETS),
            commit_batch_size: Histogram::new(BATCH_BUCKETS),
            ack_seconds: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

impl Metrics {
    pub fn connection_opened(&self) {
        self.connections_open.inc();
        self.connections_total.inc();
    }

    pub fn connection_closed(&self) {
        self.connections_open.dec();
    }

    /// One WebSocket message received from a client.
    pub fn received(&self, bytes: usize) {
        self.messages_in.inc();
        self.bytes_in.inc_by(bytes as u64);
    }

    /// One WebSocket message sent to a client.
    pub fn sent(&self, bytes: usize) {
        self.messages_out.inc();
        self.bytes_out.inc_by(bytes as u64);
    }

    /// `messages` WebSocket messages, `bytes` in all, sent to a client.
    pub fn sent_many(&self, messages: u64, bytes: u64) {
        self.messages_out.inc_by(messages);
        self.bytes_out.inc_by(bytes);
    }

    /// A client update changed a document (and was queued for storage).
    pub fn update_applied(&self) {
        self.updates_applied.inc();
    }

    /// A storage commit attempt failed (it will be retried).
    pub fn commit_failed(&self) {
        self.commit_failures.inc();
    }

    /// `messages` relay messages published to Redis.
    pub fn relay_published(&self, messages: u64) {
        self.relay_published.inc_by(messages);
    }

    /// One relay message received from another instance.
    pub fn relay_received(&self) {
        self.relay_received.inc();
    }

    /// The relay connected to Redis (first time or again).
    pub fn relay_connected(&self) {
        self.relay_connects.inc();
    }

    fn refusal(&self, reason: Refusal) -> Counter {
        self.refusals.get_or_create_owned(&RefusalLabels {
            reason: reason.label(),
        })
    }

    pub fn webhook(&self, result: WebhookResult) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                result: result.label(),
            })
            .inc();
    }

    pub fn refused(&self, reason: Refusal) {
        self.refusal(reason).inc();
    }

    pub fn refusals(&self, reason: Refusal) -> u64 {
        self.refusal(reason).get()
    }

    pub fn connections_open(&self) -> u64 {
        u64::try_from(self.connections_open.get()).unwrap_or(0)
    }

    /// The exposition text. `documents_loaded` is asked of the rooms at scrape time (`None`
    /// when they have stopped); `relay_connected` is `None` without `--redis`.
    ///
    /// (Counters are registered without their `_total`, which the encoder adds.)
    pub fn render(&self, documents_loaded: Option<usize>, relay_connected: Option<bool>) -> String {
        let mut registry = Registry::default();
        registry.register(
            "collab_connections_open",
            "WebSocket connections open now",
            self.connections_open.clone(),
        );
        registry.register(
            "collab_connections",
            "WebSocket connections accepted since start",
            self.connections_total.clone(),
        );
        if let Some(documents) = documents_loaded {
            registry.register(
                "collab_documents_loaded",
                "Documents loaded in memory now",
                ConstGauge::new(i64::try_from(documents).unwrap_or(i64::MAX)),
            );
        }
        if let Some(connected) = relay_connected {
            registry.register(
                "collab_relay_connected",
                "1 while this instance is connected to Redis (--redis), else 0",
                ConstGauge::new(i64::from(connected)),
            );
            registry.register(
                "collab_relay_connects",
                "Connections made to Redis (the first, then each reconnection)",
                self.relay_connects.clone(),
            );
            registry.register(
                "collab_relay_published",
                "Document messages published to other instances (updates, presence, resync requests)",
                self.relay_published.clone(),
            );
            registry.register(
                "collab_relay_received",
                "Messages received from other instances (heartbeats included)",
                self.relay_received.clone(),
            );
        }
        registry.register(
            "collab_messages_received",
            "WebSocket messages received from clients",
            self.messages_in.clone(),
        );
        registry.register(
            "collab_received_bytes",
            "Payload bytes of WebSocket messages received from clients",
            self.bytes_in.clone(),
        );
        registry.register(
            "collab_messages_sent",
            "WebSocket messages sent to clients",
            self.messages_out.clone(),
        );
        registry.register(
            "collab_sent_bytes",
            "Payload bytes of WebSocket messages sent to clients",
            self.bytes_out.clone(),
        );
        registry.register(
            "collab_updates_applied",
            "Client updates that changed a document and were queued for storage",
            self.updates_applied.clone(),
        );
        registry.register(
            "collab_storage_commit_failures",
            "Storage commit attempts that failed (each is retried until it succeeds)",
            self.commit_failures.clone(),
        );
        registry.register(
            "collab_webhook_deliveries",
            "Webhook delivery attempts, by result (delivered, retried, failed: given up)",
            self.webhooks.clone(),
        );
        registry.register(
            "collab_refusals",
            "Connections refused before the upgrade, or closed for exceeding a limit, by reason",
            self.refusals.clone(),
        );
        registry.register(
            "collab_storage_commit_seconds",
            "Time one storage transaction took to commit",
            self.commit_seconds.0.clone(),
        );
        registry.register(
            "collab_storage_commit_batch_size",
            "Writes committed together in one storage transaction",
            self.commit_batch_size.0.clone(),
        );
        registry.register(
            "collab_ack_latency_seconds",
            "Time from an update being queued for storage to its durable acknowledgement",
            self.ack_seconds.0.clone(),
        );
        let mut out = String::with_capacity(4096);
        prometheus_text::encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}

/// What the storage writer reports about itself, for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageHealth {
    /// Running, and its last commit (if any) succeeded.
    Ok,
    /// Running, but its last commit failed; it is retrying.
    Failing,
    /// Shutting down or stopped: it accepts no more work.
    Stopped,
}

/// `Ok` when the server should receive traffic; otherwise the reason it should not.
/// `relay_connected`: `None` without `--redis`; otherwise whether Redis is reachable (an
/// instance cut off from the others should not get new users).
pub fn readiness(
    shutting_down: bool,
    storage: StorageHealth,
    relay_connected: Option<bool>,
) -> Result<(), &'static str> {
    if shutting_down {
        return Err("shutting down");
    }
    if relay_connected == Some(false) {
        return Err("Redis is unreachable");
    }
    match storage {
        StorageHealth::Ok => Ok(()),
        StorageHealth::Failing => Err("storage commits are failing"),
        StorageHealth::Stopped => Err("storage writer has stopped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_consistent() {
        let metrics = Metrics::default();
        metrics.commit_batch_size.observe(1.0);
        metrics.commit_batch_size.observe(3.0);
        metrics.commit_batch_size.observe(10_000.0);
        let text = metrics.render(Some(2), None);
        assert!(text.contains("collab_storage_commit_batch_size_bucket{le=\"1\"} 1\n"));
        assert!(text.contains("collab_storage_commit_batch_size_bucket{le=\"2\"} 1\n"));
        assert!(text.contains("collab_storage_commit_batch_size_bucket{le=\"5\"} 2\n"));
        assert!(text.contains("collab_storage_commit_batch_size_bucket{le=\"4096\"} 2\n"));
        assert!(text.contains("collab_storage_commit_batch_size_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("collab_storage_commit_batch_size_sum 10004.0\n"));
        assert!(text.contains("collab_storage_commit_batch_size_count 3\n"));
        assert!(text.contains("collab_documents_loaded 2\n"));
    }

    #[test]
    fn gauges_and_refusals_move() {
        let metrics = Metrics::default();
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_closed();
        metrics.refused(Refusal::PerIp);
        let text = metrics.render(None, Some(true));
        assert!(text.contains("collab_connections_open 1\n"));
        assert!(text.contains("collab_connections_total 2\n"));
        assert!(text.contains("collab_refusals_total{reason=\"max_connections_per_ip\"} 1\n"));
        assert!(!text.contains("collab_documents_loaded"));
    }

    #[test]
    fn readiness_needs_a_healthy_writer_and_no_shutdown() {
        assert_eq!(readiness(false, StorageHealth::Ok, None), Ok(()));
        assert_eq!(
            readiness(true, StorageHealth::Ok, None),
            Err("shutting down")
        );
        assert!(readiness(false, StorageHealth::Failing, None).is_err());
        assert!(readiness(false, StorageHealth::Stopped, None).is_err());
        assert_eq!(readiness(false, StorageHealth::Ok, Some(true)), Ok(()));
        assert!(readiness(false, StorageHealth::Ok, Some(false)).is_err());
    }
}
