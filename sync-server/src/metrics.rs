//! `Metrics`: counters, gauges and histograms of one server, kept in atomics and rendered in
//! the Prometheus text exposition format (version 0.0.4) for `GET /metrics`; and the
//! readiness decision behind `GET /readyz`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

/// Upper bounds of the latency histograms, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the commit batch size histogram, in writes.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 4096.0,
];

/// A cumulative histogram with fixed buckets. The sum is kept in `1 / scale` units so it fits
/// an integer atomic (nanoseconds for latencies).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative counts per bucket; the last one is `+Inf`.
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_scaled: AtomicU64,
    scale: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64], scale: f64) -> Self {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_scaled: AtomicU64::new(0),
            scale,
        }
    }

    pub fn observe(&self, value: f64) {
        let index = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_scaled
            .fetch_add((value * self.scale).round() as u64, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, elapsed: Duration) {
        self.observe(elapsed.as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.buckets[self.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_scaled.load(Ordering::Relaxed) as f64 / self.scale;
        let _ = writeln!(out, "{name}_sum {sum}");
        // The count rendered is the buckets' total, so the exposition is self-consistent even
        // while observations race with the scrape.
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// Everything `/metrics` reports, for one server. Shared as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    updates_applied: AtomicU64,
    commit_failures: AtomicU64,
    relay_published: AtomicU64,
    relay_received: AtomicU64,
    relay_connects: AtomicU64,
    refusals: [AtomicU64; Refusal::ALL.len()],
    /// Seconds one successful storage commit took.
    pub commit_seconds: Histogram,
    /// Writes per committed transaction.
    pub commit_batch_size: Histogram,
    /// Seconds from an update reaching the storage queue to its acknowledgement being sent.
    pub ack_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            updates_applied: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
            relay_published: AtomicU64::new(0),
            relay_received: AtomicU64::new(0),
            relay_connects: AtomicU64::new(0),
            refusals: Default::default(),
            commit_seconds: Histogram::new(LATENCY_BUCKETS, 1e9),
            commit_batch_size: Histogram::new(BATCH_BUCKETS, 1.0),
            ack_seconds: Histogram::new(LATENCY_BUCKETS, 1e9),
        }
    }
}

fn inc(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Metrics {
    pub fn connection_opened(&self) {
        inc(&self.connections_open, 1);
        inc(&self.connections_total, 1);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// One WebSocket message received from a client.
    pub fn received(&self, bytes: usize) {
        inc(&self.messages_in, 1);
        inc(&self.bytes_in, bytes as u64);
    }

    /// One WebSocket message sent to a client.
    pub fn sent(&self, bytes: usize) {
        inc(&self.messages_out, 1);
        inc(&self.bytes_out, bytes as u64);
    }

    /// `messages` WebSocket messages, `bytes` in all, sent to a client.
    pub fn sent_many(&self, messages: u64, bytes: u64) {
        inc(&self.messages_out, messages);
        inc(&self.bytes_out, bytes);
    }

    /// A client update changed a document (and was queued for storage).
    pub fn update_applied(&self) {
        inc(&self.updates_applied, 1);
    }

    /// A storage commit attempt failed (it will be retried).
    pub fn commit_failed(&self) {
        inc(&self.commit_failures, 1);
    }

    /// `messages` relay messages published to Redis.
    pub fn relay_published(&self, messages: u64) {
        inc(&self.relay_published, messages);
    }

    /// One relay message received from another instance.
    pub fn relay_received(&self) {
        inc(&self.relay_received, 1);
    }

    /// The relay connected to Redis (first time or again).
    pub fn relay_connected(&self) {
        inc(&self.relay_connects, 1);
    }

    pub fn refused(&self, reason: Refusal) {
        inc(&self.refusals[reason as usize], 1);
    }

    pub fn refusals(&self, reason: Refusal) -> u64 {
        self.refusals[reason as usize].load(Ordering::Relaxed)
    }

    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// The exposition text. `documents_loaded` is asked of the rooms at scrape time (`None`
    /// when they have stopped); `relay_connected` is `None` without `--redis`.
    pub fn render(&self, documents_loaded: Option<usize>, relay_connected: Option<bool>) -> String {
        let mut out = String::with_capacity(4096);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut one = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        one(
            "collab_connections_open",
            "gauge",
            "WebSocket connections open now.",
            load(&self.connections_open),
        );
        one(
            "collab_connections_total",
            "counter",
            "WebSocket connections accepted since start.",
            load(&self.connections_total),
        );
        if let Some(documents) = documents_loaded {
            one(
                "collab_documents_loaded",
                "gauge",
                "Documents loaded in memory now.",
                documents as u64,
            );
        }
        if let Some(connected) = relay_connected {
            one(
                "collab_relay_connected",
                "gauge",
                "1 while this instance is connected to Redis (--redis), else 0.",
                u64::from(connected),
            );
            one(
                "collab_relay_connects_total",
                "counter",
                "Connections made to Redis (the first, then each reconnection).",
                load(&self.relay_connects),
            );
            one(
                "collab_relay_published_total",
                "counter",
                "Document messages published to other instances (updates, presence, resync requests).",
                load(&self.relay_published),
            );
            one(
                "collab_relay_received_total",
                "counter",
                "Messages received from other instances (heartbeats included).",
                load(&self.relay_received),
            );
        }
        one(
            "collab_messages_received_total",
            "counter",
            "WebSocket messages received from clients.",
            load(&self.messages_in),
        );
        one(
            "collab_received_bytes_total",
            "counter",
            "Payload bytes of WebSocket messages received from clients.",
            load(&self.bytes_in),
        );
        one(
            "collab_messages_sent_total",
            "counter",
            "WebSocket messages sent to clients.",
            load(&self.messages_out),
        );
        one(
            "collab_sent_bytes_total",
            "counter",
            "Payload bytes of WebSocket messages sent to clients.",
            load(&self.bytes_out),
        );
        one(
            "collab_updates_applied_total",
            "counter",
            "Client updates that changed a document and were queued for storage.",
            load(&self.updates_applied),
        );
        one(
            "collab_storage_commit_failures_total",
            "counter",
            "Storage commit attempts that failed (each is retried until it succeeds).",
            load(&self.commit_failures),
        );
        let _ = writeln!(
            out,
            "# HELP collab_refusals_total Connections refused before the upgrade, or closed for exceeding a limit, by reason.\n\
             # TYPE collab_refusals_total counter"
        );
        for reason in Refusal::ALL {
            let _ = writeln!(
                out,
                "collab_refusals_total{{reason=\"{}\"}} {}",
                reason.label(),
                self.refusals(reason)
            );
        }
        self.commit_seconds.render(
            &mut out,
            "collab_storage_commit_seconds",
            "Time one storage transaction took to commit.",
        );
        self.commit_batch_size.render(
            &mut out,
            "collab_storage_commit_batch_size",
            "Writes committed together in one storage transaction.",
        );
        self.ack_seconds.render(
            &mut out,
            "collab_ack_latency_seconds",
            "Time from an update being queued for storage to its durable acknowledgement.",
        );
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
        assert!(text.contains("collab_storage_commit_batch_size_sum 10004\n"));
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
