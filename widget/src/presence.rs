//! Presence: who is in the document (from awareness states in the Yjs editor convention
//! `{"user":{"name","color","colorLight"},"cursor":{"anchor","head"}}`), and cursors as Yjs
//! relative-position JSON so other Yjs editors understand ours and we theirs.

use std::collections::BTreeMap;

use collab_core::color::{color_for, light_color};
use collab_core::wire::MAX_CLIENT_ID;
use serde::Serialize;
use serde_json::{json, Value};
use yrs::{Assoc, ClientID, IndexScope, StickyIndex, ID};

/// How long a peer's state lives without renewal (y-protocols' outdated timeout).
pub const PEER_TIMEOUT_MS: f64 = 30_000.0;
/// How often we renew our own state.
pub const RENEW_EVERY_MS: f64 = 15_000.0;

/// A peer as the widget shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub client_id: u64,
    pub name: String,
    pub color: String,
    pub is_self: bool,
}

/// A remote peer's state, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    pub clock: u32,
    pub name: String,
    pub color: String,
    /// Anchor and head, as Yjs relative-position JSON.
    pub cursor: Option<(Value, Value)>,
    pub last_seen_ms: f64,
    /// The state as received (a leader passes it on to a tab that joins).
    pub json: String,
    /// When the cursor (or name) last changed: labels fade when it has been still a while.
    pub moved_at_ms: f64,
}

/// Every remote peer's state, by client id.
#[derive(Debug, Default)]
pub struct Peers {
    peers: BTreeMap<u64, Peer>,
    /// Clocks of removed peers, so a stale update cannot bring them back.
    removed: BTreeMap<u64, u32>,
}

impl Peers {
    /// Applies one awareness entry; returns whether anything visible changed.
    pub fn apply(&mut self, client: u64, clock: u32, json: &str, now_ms: f64) -> bool {
        let current = self
            .peers
            .get(&client)
            .map(|p| p.clock)
            .or_else(|| self.removed.get(&client).copied());
        // Unreadable JSON counts as a removal, as `null` does.
        let state: Value = serde_json::from_str(json).unwrap_or(Value::Null);
        let newer = match current {
            None => true,
            Some(current) => current < clock || (current == clock && state.is_null()),
        };
        if !newer {
            return false;
        }
        if state.is_null() {
            self.removed.insert(client, clock);
            return self.peers.remove(&client).is_some();
        }
        self.removed.remove(&client);
        let mut peer = parse_peer(&state, clock, now_ms);
        peer.json = json.to_owned();
        let changed = match self.peers.get(&client) {
            None => true,
            Some(old) => {
                let changed =
                    old.name != peer.name || old.color != peer.color || old.cursor != peer.cursor;
                if !changed {
                    peer.moved_at_ms = old.moved_at_ms;
                }
                changed
            }
        };
        self.peers.insert(client, peer);
        changed
    }

    /// Drops peers not heard from for `PEER_TIMEOUT_MS`; returns whether any went.
    pub fn sweep(&mut self, now_ms: f64) -> bool {
        let before = self.peers.len();
        self.peers
            .retain(|_, peer| now_ms - peer.last_seen_ms < PEER_TIMEOUT_MS);
        self.peers.len() != before
    }

    /// Whether some peer's label went idle during the last `tick_ms` (time to redraw).
    pub fn labels_going_idle(&self, now_ms: f64, idle_ms: f64, tick_ms: f64) -> bool {
        self.peers.values().any(|peer| {
            let still = now_ms - peer.moved_at_ms;
            peer.cursor.is_some() && still > idle_ms && still <= idle_ms + tick_ms
        })
    }

    /// Forgets everyone (the connection dropped; the server re-sends states on reconnect).
    pub fn clear(&mut self) -> bool {
        let had = !self.peers.is_empty();
        self.peers.clear();
        self.removed.clear();
        had
    }

    /// Forgets everyone but those `keep` names (the other tabs here, when the server's
    /// connection dropped); returns whether anyone went.
    pub fn clear_except(&mut self, keep: impl Fn(u64) -> bool) -> bool {
        let before = self.peers.len();
        self.peers.retain(|&id, _| keep(id));
        self.removed.clear();
        self.peers.len() != before
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &Peer)> {
        self.peers.iter().map(|(&id, peer)| (id, peer))
    }
}

fn parse_peer(state: &Value, clock: u32, now_ms: f64) -> Peer {
    let user = &state["user"];
    let name = user["name"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("Anonymous")
        .chars()
        .take(64)
        .collect::<String>();
    let color = user["color"]
        .as_str()
        .filter(|c| is_safe_color(c))
        .map(str::to_owned)
        .unwrap_or_else(|| color_for(&name));
    let cursor = match (&state["cursor"]["anchor"], &state["cursor"]["head"]) {
        (Value::Object(_), Value::Object(_)) => Some((
            state["cursor"]["anchor"].clone(),
            state["cursor"]["head"].clone(),
        )),
        _ => None,
    };
    Peer {
        clock,
        name,
        color,
        cursor,
        last_seen_ms: now_ms,
        json: String::new(),
        moved_at_ms: now_ms,
    }
}

/// Colours come from other people's browsers and end up in our CSS: only `#rgb`, `#rrggbb`
/// and `#rrggbbaa` are used as given.
pub fn is_safe_color(color: &str) -> bool {
    let hex = color.strip_prefix('#').unwrap_or("");
    matches!(hex.len(), 3 | 6 | 8) && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// Up to two initials for an avatar: "Ada Lovelace" → "AL", "ada" → "AD".
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let letters: String = match words.as_slice() {
        [] => "?".into(),
        [one] => one.chars().take(2).collect(),
        [first, .., last] => [first, last]
            .iter()
            .filter_map(|w| w.chars().next())
            .collect(),
    };
    letters.to_uppercase()
}

/// Our awareness state, in the Yjs editor convention (fields in sorted order, as Yjs peers
/// and our tests read them).
#[derive(Serialize)]
struct LocalState<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<LocalCursor>,
    user: LocalUser<'a>,
}

#[derive(Serialize)]
struct LocalCursor {
    anchor: Value,
    head: Value,
}

#[derive(Serialize)]
struct LocalUser<'a> {
    color: &'a str,
    #[serde(rename = "colorLight")]
    color_light: String,
    name: &'a str,
}

/// Our awareness state as JSON.
pub fn local_state(name: &str, color: &str, cursor: Option<(Value, Value)>) -> String {
    let state = LocalState {
        cursor: cursor.map(|(anchor, head)| LocalCursor { anchor, head }),
        user: LocalUser {
            color,
            color_light: light_color(color),
            name,
        },
    };
    // Strings and `Value`s only: serializing cannot fail.
    serde_json::to_string(&state).unwrap_or_else(|_| "null".to_owned())
}

/// A sticky index for `index` in `text` that follows the character after it; past the end
/// it refers to the end of the text (what Yjs writes as `{"tname": …}`).
pub fn sticky_at<T: yrs::ReadTxn>(text: &yrs::TextRef, txn: &T, index: u32) -> StickyIndex {
    use yrs::IndexedSequence;
    text.sticky_index(txn, index, Assoc::After)
        .unwrap_or_else(|| StickyIndex::from_type(txn, text, Assoc::After))
}

/// A sticky index as Yjs `relativePositionToJSON` writes it.
pub fn sticky_to_json(index: &StickyIndex) -> Value {
    let assoc = match index.assoc {
        Assoc::After => 0i64,
        Assoc::Before => -1,
    };
    let id = |id: &ID| json!({ "client": id.client.get(), "clock": id.clock });
    match index.scope() {
        IndexScope::Relative(item) => json!({ "item": id(item), "assoc": assoc }),
        IndexScope::Nested(item) => json!({ "type": id(item), "assoc": assoc }),
        IndexScope::Root(name) => json!({ "tname": &**name, "assoc": assoc }),
    }
}

/// A Yjs relative-position JSON as a sticky index; `None` if it is not one.
pub fn sticky_from_json(value: &Value) -> Option<StickyIndex> {
    let assoc = match value["assoc"].as_i64() {
        Some(a) if a < 0 => Assoc::Before,
        _ => Assoc::After,
    };
    let id = |v: &Value| -> Option<ID> {
        let client = v["client"].as_u64().filter(|&c| c <= MAX_CLIENT_ID)?;
        let clock = u32::try_from(v["clock"].as_u64()?).ok()?;
        Some(ID::new(ClientID::new(client), clock))
    };
    let scope = if value["item"].is_object() {
        IndexScope::Relative(id(&value["item"])?)
    } else if let Some(name) = value["tname"].as_str() {
        IndexScope::Root(name.into())
    } else if value["type"].is_object() {
        IndexScope::Nested(id(&value["type"])?)
    } else {
        return None;
    };
    Some(StickyIndex::new(scope, assoc))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use yrs::ReadTxn;
    use yrs::{Doc, IndexedSequence, Options, Text, Transact};

    fn parse(text: &str) -> Option<Value> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn peers_follow_awareness_clock_rules() {
        let mut peers = Peers::default();
        let ada = r##"{"user":{"name":"Ada","color":"#ff0000"}}"##;
        assert!(peers.apply(7, 1, ada, 0.0));
        assert!(!peers.apply(7, 1, ada, 1.0), "same clock: ignored");
        assert!(
            !peers.apply(7, 2, ada, 2.0),
            "renewal without change is not visible"
        );
        let (_, peer) = peers.iter().next().unwrap();
        assert_eq!(
            (peer.name.as_str(), peer.color.as_str()),
            ("Ada", "#ff0000")
        );
        assert!(
            peers.apply(7, 2, "null", 3.0),
            "removal at the same clock wins"
        );
        assert!(
            !peers.apply(7, 1, ada, 4.0),
            "a stale state cannot revive a removed peer"
        );
        assert!(peers.apply(7, 3, ada, 5.0));
        assert!(!peers.sweep(5.0 + PEER_TIMEOUT_MS - 1.0));
        assert!(peers.sweep(5.0 + PEER_TIMEOUT_MS));
        assert_eq!(peers.iter().count(), 0);
    }

    #[test]
    fn unreadable_states_count_as_removals() {
        let mut peers = Peers::default();
        let ada = r##"{"user":{"name":"Ada"}}"##;
        assert!(peers.apply(7, 1, ada, 0.0));
        // Not JSON, or nested deeper than the parser allows: the peer is gone, not an error.
        assert!(peers.apply(7, 2, "{\"user\":", 1.0));
        assert!(peers.apply(7, 3, ada, 2.0));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(peers.apply(7, 4, &deep, 3.0));
        assert_eq!(peers.iter().count(), 0);
        // A repeated key keeps its last value, as in JavaScript's JSON.parse.
        assert!(peers.apply(8, 1, r#"{"user":{"name":"A","name":"B"}}"#, 4.0));
        assert_eq!(peers.iter().next().unwrap().1.name, "B");
    }

    #[test]
    fn hostile_or_missing_user_fields_get_safe_defaults() {
        let mut peers = Peers::default();
        peers.apply(
            1,
            1,
            r#"{"user":{"name":"  ","color":"red;background:url(x)"}}"#,
            0.0,
        );
        let (_, peer) = peers.iter().next().unwrap();
        assert_eq!(peer.name, "Anonymous");
        assert!(is_safe_color(&peer.color));
        peers.apply(2, 1, r#"{"cursor":{"anchor":1,"head":2}}"#, 0.0);
        assert_eq!(peers.iter().nth(1).unwrap().1.cursor, None);
    }

    #[test]
    fn initials_and_colours() {
        assert_eq!(initials("Ada Lovelace"), "AL");
        assert_eq!(initials("ada"), "AD");
        assert_eq!(initials("Grace Brewster Hopper"), "GH");
        assert_eq!(initials("  "), "?");
        assert_eq!(initials("élodie"), "ÉL");
        assert_eq!(color_for("Ada"), color_for("Ada"));
        assert!(is_safe_color(&color_for("anyone")));
        assert_eq!(light_color("#abc"), "#aabbcc33");
        assert_eq!(light_color("#a0b1c2"), "#a0b1c233");
    }

    #[test]
    fn relative_positions_round_trip_through_yjs_json() {
        let doc = Doc::with_options(Options {
            client_id: ClientID::new(42),
            offset_kind: yrs::OffsetKind::Utf16,
            ..Options::default()
        });
        let text = doc.get_or_insert_text("content");
        text.insert(&mut doc.transact_mut(), 0, "hello 😀 world");
        let txn = doc.transact();
        for index in [0, 3, 8, 14] {
            let sticky = sticky_at(&text, &txn, index);
            let json = sticky_to_json(&sticky);
            let back = sticky_from_json(&json).unwrap();
            assert_eq!(back.get_offset(&txn).unwrap().index, index, "{json}");
        }
        assert_eq!(
            sticky_to_json(&sticky_at(&text, &txn, 14)),
            parse(r#"{"tname": "content", "assoc": 0}"#).unwrap()
        );
        // What Yjs writes for "inside the text".
        let sticky = text.sticky_index(&txn, 3, Assoc::After).unwrap();
        assert_eq!(
            sticky_to_json(&sticky),
            parse(r#"{"item": {"client": 42, "clock": 3}, "assoc": 0}"#).unwrap()
        );
        assert_eq!(
            sticky_from_json(&parse(r#"{"nonsense": true}"#).unwrap()),
            None
        );
        let cursor = (
            sticky_to_json(&sticky),
            sticky_to_json(&sticky_at(&text, &txn, 14)),
        );
        assert_eq!(
            local_state("Ada \"A\"", "#abc", Some(cursor)),
            r##"{"cursor":{"anchor":{"assoc":0,"item":{"client":42,"clock":3}},"head":{"assoc":0,"tname":"content"}},"user":{"color":"#abc","colorLight":"#aabbcc33","name":"Ada \"A\""}}"##
        );
    }
}
