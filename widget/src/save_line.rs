//! What the header says, pure: the status dot's words and the save line (its text and its
//! `data-save` state), from the connection state, the unsaved changes and the server's limits;
//! and which `collab-status` / `collab-save` events a change of them owes the page.

use crate::connection::{Refusal, State, Status};
use crate::ledger::Ledger;
use crate::limits::Limits;
use crate::local_copy::Keeping;

/// Everything the header shows at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub status: Status,
    /// The connection attempt (0 for the first), as the `collab-status` event says it.
    pub attempt: u32,
    /// The status dot's words.
    pub words: String,
    pub save: SaveLine,
    /// The `collab-save` event's detail.
    pub detail: SaveDetail,
}

/// The `collab-save` event's detail: `{ state, unsaved, savedAt }`.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveDetail {
    pub state: &'static str,
    pub unsaved: usize,
    pub saved_at_ms: Option<f64>,
    /// Where the unsaved changes are besides the page: `device`, `storing` or `memory`.
    pub local: &'static str,
}

/// The header for connection `state`, the unsaved changes in `ledger`, whether a socket is
/// `online`, at `now_ms` (`Date.now()`), with the server's `limits` if it said them, and
/// where this device `keeping` the changes.
pub fn header(
    state: &State,
    ledger: &Ledger,
    online: bool,
    now_ms: f64,
    limits: Option<&Limits>,
    keeping: Keeping,
) -> Header {
    let unsaved = ledger.unsaved();
    let since_saved = ledger.saved_at_ms().map(|at| now_ms - at);
    let save = save_line(state, unsaved, online, since_saved, limits, keeping);
    Header {
        status: state.status(),
        attempt: state.attempt(),
        words: status_words(state),
        detail: SaveDetail {
            state: save.state,
            unsaved,
            saved_at_ms: ledger.saved_at_ms(),
            local: keeping.as_str(),
        },
        save,
    }
}

/// What the page was last told, to send events only for what changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reported {
    status: Option<(Status, u32)>,
    save: Option<SaveDetail>,
}

/// Which events a new header owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owed {
    /// `collab-status`: the status or the attempt changed.
    pub status: bool,
    /// `collab-save`: the save state, the unsaved count or the time of the last save changed.
    pub save: bool,
}

impl Reported {
    /// Takes `header` as told, and says which events that needs (the first header needs both).
    pub fn tell(&mut self, header: &Header) -> Owed {
        let status = Some((header.status, header.attempt));
        let owed = Owed {
            status: self.status != status,
            save: self.save.as_ref() != Some(&header.detail),
        };
        self.status = status;
        if owed.save {
            self.save = Some(header.detail.clone());
        }
        owed
    }
}

/// The status dot's words (its `aria-label` and `title`).
pub fn status_words(state: &State) -> String {
    match state {
        State::Connected { .. } => "Connected".to_owned(),
        State::Connecting { attempt: 0 } => "Connecting…".to_owned(),
        State::Connecting { .. } => "Reconnecting…".to_owned(),
        State::Waiting { delay_ms, .. } => format!(
            "Disconnected — retrying in {} s",
            delay_ms.div_ceil(1000).max(1)
        ),
        State::Refused(Refusal::Unauthorized) => "Not authorized".to_owned(),
        State::Refused(Refusal::Deleted) => "This document was deleted".to_owned(),
        State::Refused(_) => "Disconnected — refused by the server".to_owned(),
        State::Stopped => "Disconnected".to_owned(),
    }
}

/// What the save line shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveLine {
    /// `data-save` and the `collab-save` event's `state`: `saved`, `saving`, `offline` or
    /// `refused`.
    pub state: &'static str,
    pub line: String,
}

/// The save line for `unsaved` local changes not yet durable, whether a socket is `online`,
/// how long ago the server last acknowledged everything (`since_saved_ms`), and whether this
/// device keeps them (`keeping`).
pub fn save_line(
    state: &State,
    unsaved: usize,
    online: bool,
    since_saved_ms: Option<f64>,
    limits: Option<&Limits>,
    keeping: Keeping,
) -> SaveLine {
    let (state_name, line) = match (state.refusal(), unsaved) {
        // The server will not take these changes: say why, and that nothing retries them.
        (Some(refusal), 1..) => ("refused", refused_line(refusal, limits)),
        (_, 0) => {
            let line = match (state, since_saved_ms) {
                (State::Connected { .. }, None) => "All changes saved".to_owned(),
                (State::Connected { .. }, Some(ago)) => saved_ago(ago),
                // Say why the dot is not green, in words, not only in colour.
                _ => status_words(state),
            };
            ("saved", line)
        }
        _ if online => ("saving", "Saving…".to_owned()),
        _ => ("offline", offline_line(unsaved, keeping)),
    };
    SaveLine {
        state: state_name,
        line,
    }
}

/// Offline with `unsaved` changes: where they are, truthfully.
fn offline_line(unsaved: usize, keeping: Keeping) -> String {
    let noun = if unsaved == 1 { "change" } else { "changes" };
    match keeping {
        Keeping::Device => format!("Offline — {unsaved} {noun} kept on this device"),
        Keeping::Storing => format!("Offline — storing {unsaved} {noun} on this device…"),
        Keeping::MemoryOff => {
            format!("Offline — {unsaved} unsaved {noun} only in this tab, lost if it closes")
        }
        Keeping::MemoryRefused => format!(
            "Offline — {unsaved} unsaved {noun} only in this tab: the browser refused to store them"
        ),
    }
}

fn refused_line(refusal: Refusal, limits: Option<&Limits>) -> String {
    match refusal {
        Refusal::DocumentTooLarge => match limits.and_then(Limits::document_limit_words) {
            Some(limit) => format!("Not saved: this document is over the server's {limit} limit"),
            None => "Not saved: this document is over the server's size limit".to_owned(),
        },
        Refusal::MessageTooLarge => {
            "Not saved: a change is over the server's message size limit".to_owned()
        }
        Refusal::UpdateRejected => "Not saved: the server refused a change".to_owned(),
        Refusal::Malformed => "Not saved: the server could not read a message".to_owned(),
        Refusal::Unauthorized => "Not saved: not authorized".to_owned(),
        Refusal::Deleted => "Not saved: this document was deleted".to_owned(),
    }
}

/// "Saved just now", "Saved 12s ago", "Saved 3 min ago", "Saved 2 h ago".
pub fn saved_ago(elapsed_ms: f64) -> String {
    let seconds = (elapsed_ms / 1000.0).floor().max(0.0) as u64;
    match seconds {
        0..=2 => "Saved just now".to_owned(),
        3..=59 => format!("Saved {seconds}s ago"),
        60..=3599 => format!("Saved {} min ago", seconds / 60),
        _ => format!("Saved {} h ago", seconds / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_message_size: 4 << 20,
        max_document_size: 64 << 20,
    };

    fn line(
        state: &State,
        unsaved: usize,
        online: bool,
        limits: Option<&Limits>,
    ) -> (&'static str, String) {
        let shown = save_line(
            state,
            unsaved,
            online,
            Some(5_000.0),
            limits,
            Keeping::Device,
        );
        (shown.state, shown.line)
    }

    #[test]
    fn a_document_over_the_limit_says_so_with_the_servers_figure() {
        let refused = State::Refused(Refusal::DocumentTooLarge);
        assert_eq!(
            line(&refused, 1, false, Some(&LIMITS)),
            (
                "refused",
                "Not saved: this document is over the server's 64 MB limit".to_owned()
            )
        );
        let small = Limits {
            max_message_size: 4 << 20,
            max_document_size: 2_097_152,
        };
        assert_eq!(
            line(&refused, 3, false, Some(&small)).1,
            "Not saved: this document is over the server's 2 MB limit"
        );
        // An older server never said its limits.
        assert_eq!(
            line(&refused, 1, false, None).1,
            "Not saved: this document is over the server's size limit"
        );
        // The dot: red with Retry (Disconnected), and words that do not promise a retry.
        assert_eq!(refused.status(), crate::connection::Status::Disconnected);
        assert_eq!(
            status_words(&refused),
            "Disconnected — refused by the server"
        );
    }

    #[test]
    fn every_refusal_with_unsaved_changes_says_not_saved() {
        for refusal in [
            Refusal::Unauthorized,
            Refusal::DocumentTooLarge,
            Refusal::MessageTooLarge,
            Refusal::UpdateRejected,
            Refusal::Malformed,
            Refusal::Deleted,
        ] {
            let (state, text) = line(&State::Refused(refusal), 2, false, Some(&LIMITS));
            assert_eq!(state, "refused", "{refusal:?}");
            assert!(text.starts_with("Not saved: "), "{refusal:?}: {text}");
            // Nothing unsaved: nothing to warn about, the words say why the dot is red.
            assert_eq!(
                line(&State::Refused(refusal), 0, false, Some(&LIMITS)),
                ("saved", status_words(&State::Refused(refusal)))
            );
        }
        assert_eq!(
            line(&State::Refused(Refusal::Unauthorized), 0, false, None).1,
            "Not authorized"
        );
    }

    #[test]
    fn saving_offline_and_saved_lines() {
        let connected = State::Connected { attempt: 0 };
        let waiting = State::Waiting {
            attempt: 2,
            delay_ms: 1_500,
        };
        assert_eq!(
            line(&connected, 1, true, None),
            ("saving", "Saving…".to_owned())
        );
        assert_eq!(
            line(&waiting, 1, false, None),
            (
                "offline",
                "Offline — 1 change kept on this device".to_owned()
            )
        );
        assert_eq!(
            line(&State::Connecting { attempt: 1 }, 4, false, None),
            (
                "offline",
                "Offline — 4 changes kept on this device".to_owned()
            )
        );
        assert_eq!(
            line(&connected, 0, true, None),
            ("saved", "Saved 5s ago".to_owned())
        );
        assert_eq!(
            save_line(&connected, 0, true, None, None, Keeping::Device).line,
            "All changes saved"
        );
        assert_eq!(
            line(&waiting, 0, false, None),
            ("saved", "Disconnected — retrying in 2 s".to_owned())
        );
        assert_eq!(
            line(&State::Connecting { attempt: 0 }, 0, false, None).1,
            "Connecting…"
        );
    }

    #[test]
    fn offline_the_line_says_whether_this_device_keeps_the_changes() {
        let waiting = State::Waiting {
            attempt: 1,
            delay_ms: 500,
        };
        let offline = |keeping| save_line(&waiting, 3, false, None, None, keeping);
        assert_eq!(
            offline(Keeping::Device),
            SaveLine {
                state: "offline",
                line: "Offline — 3 changes kept on this device".to_owned()
            }
        );
        assert_eq!(
            offline(Keeping::Storing).line,
            "Offline — storing 3 changes on this device…"
        );
        assert_eq!(
            offline(Keeping::MemoryOff).line,
            "Offline — 3 unsaved changes only in this tab, lost if it closes"
        );
        assert_eq!(
            offline(Keeping::MemoryRefused).line,
            "Offline — 3 unsaved changes only in this tab: the browser refused to store them"
        );
        // Online, or nothing unsaved: the server's side of the story, whatever the device does.
        let connected = State::Connected { attempt: 0 };
        assert_eq!(
            save_line(&connected, 2, true, None, None, Keeping::MemoryOff).line,
            "Saving…"
        );
        assert_eq!(
            save_line(
                &connected,
                0,
                true,
                Some(5_000.0),
                None,
                Keeping::MemoryRefused
            )
            .line,
            "Saved 5s ago"
        );
        let mut ledger = Ledger::default();
        ledger.record();
        let detail = header(&waiting, &ledger, false, 0.0, None, Keeping::MemoryOff).detail;
        assert_eq!((detail.state, detail.local), ("offline", "memory"));
    }

    #[test]
    fn the_header_follows_the_ledger_from_saving_to_saved() {
        let connected = State::Connected { attempt: 0 };
        let mut ledger = Ledger::default();
        ledger.record();
        ledger.sent(1);
        let saving = header(&connected, &ledger, true, 1_000.0, None, Keeping::Device);
        assert_eq!(saving.save.line, "Saving…");
        assert_eq!(
            saving.detail,
            SaveDetail {
                state: "saving",
                unsaved: 1,
                saved_at_ms: None,
                local: "device",
            }
        );
        ledger.ack(1, 2_000.0);
        let saved = header(&connected, &ledger, true, 7_000.0, None, Keeping::Device);
        assert_eq!(saved.save.line, "Saved 5s ago");
        assert_eq!(saved.detail.saved_at_ms, Some(2_000.0));
        assert_eq!(
            (saved.status, saved.words.as_str()),
            (Status::Connected, "Connected")
        );
        // Offline with a change typed since: kept, and the words say so.
        ledger.record();
        let waiting = State::Waiting {
            attempt: 1,
            delay_ms: 500,
        };
        let offline = header(&waiting, &ledger, false, 8_000.0, None, Keeping::Device);
        assert_eq!(offline.save.line, "Offline — 1 change kept on this device");
        assert_eq!(offline.detail.state, "offline");
        assert_eq!(offline.attempt, 1);
    }

    #[test]
    fn events_are_owed_only_for_what_changed() {
        let connected = State::Connected { attempt: 0 };
        let mut ledger = Ledger::default();
        let mut reported = Reported::default();
        let first = header(&connected, &ledger, true, 0.0, None, Keeping::Device);
        assert_eq!(
            reported.tell(&first),
            Owed {
                status: true,
                save: true
            }
        );
        // The save line's words change with time ("Saved 3s ago"); the event does not.
        let later = header(&connected, &ledger, true, 60_000.0, None, Keeping::Device);
        assert_eq!(
            reported.tell(&later),
            Owed {
                status: false,
                save: false
            }
        );
        ledger.record();
        let typed = header(&connected, &ledger, true, 60_000.0, None, Keeping::Device);
        assert_eq!(
            reported.tell(&typed),
            Owed {
                status: false,
                save: true
            }
        );
        // A new attempt is news even when the status stays the same.
        let retrying = header(
            &State::Connecting { attempt: 2 },
            &ledger,
            false,
            0.0,
            None,
            Keeping::Device,
        );
        let again = header(
            &State::Connecting { attempt: 3 },
            &ledger,
            false,
            0.0,
            None,
            Keeping::Device,
        );
        assert!(reported.tell(&retrying).status);
        assert_eq!(
            reported.tell(&again),
            Owed {
                status: true,
                save: false
            }
        );
    }

    #[test]
    fn saved_ago_rounds_down_to_a_readable_unit() {
        assert_eq!(saved_ago(0.0), "Saved just now");
        assert_eq!(saved_ago(2_999.0), "Saved just now");
        assert_eq!(saved_ago(3_000.0), "Saved 3s ago");
        assert_eq!(saved_ago(61_000.0), "Saved 1 min ago");
        assert_eq!(saved_ago(7_300_000.0), "Saved 2 h ago");
        assert_eq!(saved_ago(-5.0), "Saved just now");
    }
}
