//! Limits on what one client may cost: connection caps (total, per IP address, per document),
//! admitted before the WebSocket upgrade and released by a guard on every exit path; and
//! per-connection rate limits on incoming messages and on sync requests (SyncStep1, which
//! makes the server encode a diff as large as the document), checked before a frame reaches
//! its room.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::{Metrics, Refusal};
use crate::protocol::message::frame_shape;
use collab_core::doc_name::DocName;

/// The limits a server enforces, from the server's `Config`. A rate of 0 turns that limit off.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Open WebSocket connections from one IP address; more are refused with 429.
    pub max_connections_per_ip: usize,
    /// Open WebSocket connections to one document; more are refused with 503.
    pub max_connections_per_doc: usize,
    /// Incoming messages per second, sustained, on one connection (0: unlimited).
    pub max_messages_per_second: f64,
    /// Messages a connection may send at once above the sustained rate.
    pub message_burst: u32,
    /// Sync requests (SyncStep1) per minute, sustained, on one connection (0: unlimited).
    pub max_sync_requests_per_minute: f64,
    /// Sync requests a connection may send at once above the sustained rate.
    pub sync_request_burst: u32,
    /// Items per second, sustained, whose place a room checks by position for one connection
    /// (`collab_core::order`: each walks the document; 0: unlimited).
    pub max_position_checks_per_second: f64,
    /// Position checks a connection may cause at once above the sustained rate.
    pub position_check_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // An office behind one NAT address, or one person with many tabs, stays well below.
            max_connections_per_ip: 100,
            // Far above any real editing session; keeps one document from taking every slot.
            max_connections_per_doc: 2000,
            // The widget sends at most one update per keystroke (debounce 0) plus awareness on
            // caret moves; y-websocket about the same. A paste or a reconnect burst is a handful.
            max_messages_per_second: 100.0,
            message_burst: 500,
            // A client sends one SyncStep1 per connection (y-websocket's optional resync
            // interval adds one every few seconds at most).
            max_sync_requests_per_minute: 30.0,
            sync_request_burst: 5,
            // Typing needs none; a cursor jump needs one, a whole document uploaded at once
            // (an offline client's SyncStep2) 33. A person jumps a few times a second at most.
            max_position_checks_per_second: 20.0,
            position_check_burst: 400,
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("too many connections")]
    Total,
    #[error("too many connections from this address")]
    PerIp,
    #[error("too many connections to this document")]
    PerDoc,
}

impl Refused {
    /// The HTTP status the refusal is answered with: 429 when the client itself holds too
    /// many connections, 503 when the server or the document is full.
    pub fn http_status(self) -> u16 {
        match self {
            Refused::PerIp => 429,
            Refused::Total | Refused::PerDoc => 503,
        }
    }

    fn refusal(self) -> Refusal {
        match self {
            Refused::Total => Refusal::MaxConnections,
            Refused::PerIp => Refusal::PerIp,
            Refused::PerDoc => Refusal::PerDoc,
        }
    }
}

#[derive(Default)]
struct Counts {
    ips: HashMap<IpAddr, usize>,
    docs: HashMap<DocName, usize>,
}

/// Open connections by IP address and by document, and the total cap. Cheap to share.
pub struct Admissions {
    limits: Limits,
    total: Arc<Semaphore>,
    counts: Mutex<Counts>,
    metrics: Arc<Metrics>,
}

/// Holds one connection's places in every count; dropping it frees them.
pub struct Admission {
    admissions: Arc<Admissions>,
    ip: IpAddr,
    doc: DocName,
    _slot: OwnedSemaphorePermit,
}

impl Admissions {
    pub fn new(limits: Limits, max_connections: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Admissions {
            limits,
            total: Arc::new(Semaphore::new(max_connections)),
            counts: Mutex::default(),
            metrics,
        })
    }

    /// Takes a place for a connection from `ip` to `doc`, or says which cap is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, doc: &DocName) -> Result<Admission, Refused> {
        let result = self.try_admit(ip.to_canonical(), doc);
        match &result {
            Ok(_) => self.metrics.connection_opened(),
            Err(refused) => self.metrics.refused(refused.refusal()),
        }
        result
    }

    fn try_admit(self: &Arc<Self>, ip: IpAddr, doc: &DocName) -> Result<Admission, Refused> {
        let slot = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Total)?;
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.ips.get(&ip).copied().unwrap_or(0) >= self.limits.max_connections_per_ip {
            return Err(Refused::PerIp);
        }
        if counts.docs.get(doc).copied().unwrap_or(0) >= self.limits.max_connections_per_doc {
            return Err(Refused::PerDoc);
        }
        *counts.ips.entry(ip).or_default() += 1;
        *counts.docs.entry(doc.clone()).or_default() += 1;
        Ok(Admission {
            admissions: self.clone(),
            ip,
            doc: doc.clone(),
            _slot: slot,
        })
    }

    /// Open connections from `ip` (for tests and diagnostics).
    pub fn from_ip(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.ips.get(&ip.to_canonical()).copied().unwrap_or(0)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut counts = self
            .admissions
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        release(&mut counts.ips, &self.ip);
        release(&mut counts.docs, &self.doc);
        drop(counts);
        self.admissions.metrics.connection_closed();
    }
}

fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = map.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            map.remove(key);
        }
    }
}

/// A token bucket: holds up to `burst` tokens, refilled at `rate` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. A `rate` of 0 (or less) never runs dry.
    pub fn new(rate: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes `cost` tokens if there are that many; `false` (taking none) otherwise.
    pub fn take(&mut self, cost: usize, now: Instant) -> bool {
        if self.rate <= 0.0 || cost == 0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        let cost = cost as f64;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

/// Why a connection exceeded its rate; it is closed with `close_code::RATE_LIMITED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateLimited {
    #[error("too many messages")]
    Messages,
    #[error("too many sync requests")]
    SyncRequests,
}

impl RateLimited {
    pub fn refusal(self) -> Refusal {
        match self {
            RateLimited::Messages => Refusal::MessageRate,
            RateLimited::SyncRequests => Refusal::SyncRate,
        }
    }
}

/// The rate limits of one connection.
#[derive(Debug, Clone)]
pub struct FrameLimiter {
    messages: TokenBucket,
    sync_requests: TokenBucket,
}

impl FrameLimiter {
    pub fn new(limits: &Limits, now: Instant) -> Self {
        FrameLimiter {
            messages: TokenBucket::new(limits.max_messages_per_second, limits.message_burst, now),
            sync_requests: TokenBucket::new(
                limits.max_sync_requests_per_minute / 60.0,
                limits.sync_request_burst,
                now,
            ),
        }
    }

    /// Charges one incoming frame: one token per message in it (at least one), and one sync
    /// token per SyncStep1. Only the message tags are read; the room decodes the rest.
    pub fn check(&mut self, frame: &[u8], now: Instant) -> Result<(), RateLimited> {
        let shape = frame_shape(frame);
        if !self.messages.take(shape.messages.max(1), now) {
            return Err(RateLimited::Messages);
        }
        if !self.sync_requests.take(shape.sync_requests, now) {
            return Err(RateLimited::SyncRequests);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn doc(name: &str) -> DocName {
        DocName::parse(name).unwrap()
    }

    fn admissions(per_ip: usize, per_doc: usize, total: usize) -> Arc<Admissions> {
        let limits = Limits {
            max_connections_per_ip: per_ip,
            max_connections_per_doc: per_doc,
            ..Limits::default()
        };
        Admissions::new(limits, total, Arc::new(Metrics::default()))
    }

    #[test]
    fn caps_per_ip_per_doc_and_total_and_frees_on_drop() {
        let a = admissions(2, 3, 4);
        let ip1: IpAddr = "10.0.0.1".parse().unwrap();
        let ip2: IpAddr = "10.0.0.2".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let first = a.admit(ip1, &doc("d")).unwrap();
        let second = a.admit(ip1, &doc("e")).unwrap();
        // The IPv4-mapped IPv6 form is the same address.
        assert_eq!(a.admit(mapped, &doc("f")).err(), Some(Refused::PerIp));
        let _third = a.admit(ip2, &doc("d")).unwrap();
        let _fourth = a.admit(ip2, &doc("d")).unwrap();
        assert_eq!(
            a.admit("10.0.0.3".parse().unwrap(), &doc("d")).err(),
            Some(Refused::Total)
        );
        drop(first);
        assert_eq!(a.from_ip(ip1), 1);
        // Now below the total, but document `d` holds 2 of its 3.
        let _fifth = a.admit("10.0.0.3".parse().unwrap(), &doc("d")).unwrap();
        // Below the total again, but `d` is full.
        drop(second);
        assert_eq!(
            a.admit("10.0.0.4".parse().unwrap(), &doc("d")).err(),
            Some(Refused::PerDoc)
        );
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5, start);
        for _ in 0..5 {
            assert!(bucket.take(1, start));
        }
        assert!(!bucket.take(1, start));
        // 100 ms later one token has come back, not two.
        let later = start + Duration::from_millis(100);
        assert!(bucket.take(1, later));
        assert!(!bucket.take(1, later));
        // Never more than the burst, however long it rested.
        let much_later = later + Duration::from_secs(3600);
        assert!(!bucket.take(6, much_later));
        assert!(bucket.take(5, much_later));
    }

    #[test]
    fn a_zero_rate_is_unlimited() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(0.0, 1, now);
        for _ in 0..10_000 {
            assert!(bucket.take(100, now));
        }
    }

    #[test]
    fn frames_are_charged_per_message_and_per_sync_request() {
        let now = Instant::now();
        let limits = Limits {
            max_messages_per_second: 1.0,
            message_burst: 4,
            max_sync_requests_per_minute: 1.0,
            sync_request_burst: 2,
            ..Limits::default()
        };
        let mut limiter = FrameLimiter::new(&limits, now);
        // Three query-awareness messages in one frame cost three.
        assert_eq!(limiter.check(&[3, 3, 3], now), Ok(()));
        assert_eq!(limiter.check(&[3, 3], now), Err(RateLimited::Messages));
        let mut limiter = FrameLimiter::new(&limits, now);
        // SyncStep1 with an empty state vector: 0 0 (len 1) 0.
        let step1 = [0, 0, 1, 0];
        assert_eq!(limiter.check(&step1, now), Ok(()));
        assert_eq!(limiter.check(&step1, now), Ok(()));
        assert_eq!(limiter.check(&step1, now), Err(RateLimited::SyncRequests));
    }
}
