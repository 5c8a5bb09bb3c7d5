//! The origin allowlist for WebSocket upgrades: which web pages may open a socket here.
//!
//! A request without an `Origin` header (a non-browser client) is allowed: the header only
//! tells what page a browser is running, and it is browsers we guard against. The server's own
//! origin (the `Origin`'s host and port equal the request's `Host`) is always allowed.
//! Patterns: `*` (any origin), an exact origin `https://example.com`, or one whose port is
//! `*` (`http://localhost:*`). Comparison ignores ASCII case.

/// Which origins may open WebSockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPolicy {
    patterns: Vec<String>,
}

/// Origins open mode allows besides the server's own: pages served from this machine.
pub const LOCAL_DEV_ORIGINS: [&str; 3] =
    ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

impl OriginPolicy {
    /// The policy for `configured` patterns; when there are none, the default: same origin
    /// plus [`LOCAL_DEV_ORIGINS`] without auth, same origin only with auth.
    pub fn new(configured: &[String], auth_enabled: bool) -> OriginPolicy {
        let patterns = if !configured.is_empty() {
            configured.to_vec()
        } else if auth_enabled {
            Vec::new()
        } else {
            LOCAL_DEV_ORIGINS.iter().map(|s| (*s).to_owned()).collect()
        };
        OriginPolicy {
            patterns: patterns
                .into_iter()
                .map(|p| p.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    /// Whether a request with this `Origin` (if any) and `Host` (if any) may upgrade.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let origin = origin.trim().to_ascii_lowercase();
        if let (Some(authority), Some(host)) = (authority_of(&origin), host) {
            if authority == host.trim().to_ascii_lowercase() {
                return true;
            }
        }
        self.patterns.iter().any(|p| matches(p, &origin))
    }
}

/// `host[:port]` of an `http(s)://host[:port]` origin.
fn authority_of(origin: &str) -> Option<&str> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

fn matches(pattern: &str, origin: &str) -> bool {
    if pattern == "*" || pattern == origin {
        return true;
    }
    // `scheme://host:*`: the same scheme and host, with any port (or none).
    let Some(base) = pattern.strip_suffix(":*") else {
        return false;
    };
    match origin.strip_prefix(base) {
        Some("") => true,
        Some(port) => port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_and_missing_origin_are_always_allowed() {
        let strict = OriginPolicy::new(&[], true);
        assert!(strict.allows(None, Some("example.com:8787")));
        assert!(strict.allows(Some("https://Example.com:8787"), Some("example.com:8787")));
        assert!(strict.allows(Some("https://example.com"), Some("example.com")));
        assert!(!strict.allows(Some("https://evil.test"), Some("example.com")));
        assert!(!strict.allows(Some("http://localhost:3000"), Some("example.com")));
        assert!(!strict.allows(Some("null"), Some("example.com")));
    }

    #[test]
    fn open_mode_allows_local_pages_on_any_port() {
        let open = OriginPolicy::new(&[], false);
        assert!(open.allows(Some("http://localhost:5173"), Some("127.0.0.1:8787")));
        assert!(open.allows(Some("http://127.0.0.1:1"), Some("127.0.0.1:8787")));
        assert!(open.allows(Some("http://[::1]:8080"), Some("127.0.0.1:8787")));
        assert!(!open.allows(Some("http://localhost.evil.test:80"), Some("h")));
        assert!(!open.allows(Some("http://localhost:80x"), Some("h")));
        assert!(!open.allows(Some("https://evil.test"), Some("127.0.0.1:8787")));
    }

    #[test]
    fn configured_patterns_replace_the_defaults() {
        let list = OriginPolicy::new(&["https://app.example.com/".into()], false);
        assert!(list.allows(Some("https://app.example.com"), Some("sync:1")));
        assert!(!list.allows(Some("http://localhost:3000"), Some("sync:1")));
        let any = OriginPolicy::new(&["*".into()], true);
        assert!(any.allows(Some("https://anything.test"), Some("sync:1")));
        assert!(any.allows(Some("null"), Some("sync:1")));
    }
}
