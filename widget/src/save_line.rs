//! What the header says, pure: the status dot's words and the save line (its text and its
//! `data-save` state), from the connection state, the unsaved changes and the server's limits;
//! which `collab-status` / `collab-save` events a change of them owes the page; what the
//! live region announces ([`Announcer`]); and how many *edits* the unsaved changes are
//! ([`Edits`]). Every word comes from [`Messages`], in the [`Locale`]'s language.

use std::collections::VecDeque;

use crate::connection::{Refusal, State, Status};
use crate::ledger::Ledger;
use crate::limits::Limits;
use crate::local_copy::Keeping;
use crate::messages::{English, Locale, Messages, Unit, DEFAULTS};

/// The words to use: the page's messages and the element's language.
#[derive(Clone, Copy)]
pub struct Words<'a> {
    pub messages: &'a Messages,
    pub locale: &'a dyn Locale,
}

impl Words<'static> {
    /// The English defaults.
    pub fn english() -> Words<'static> {
        Words {
            messages: &DEFAULTS,
            locale: &English,
        }
    }
}

/// This tab's side of the story: the changes not yet durable (`ledger`), grouped into
/// `edits`, and where this device is `keeping` them.
#[derive(Clone, Copy)]
pub struct Local<'a> {
    pub ledger: &'a Ledger,
    pub edits: &'a Edits,
    pub keeping: Keeping,
}

/// Everything the header shows at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub status: Status,
    /// The connection attempt (0 for the first), as the `collab-status` event says it.
    pub attempt: u32,
    /// The status dot's words.
    pub words: String,
    pub save: SaveLine,
    /// The `collab-save` event's detail (its `unsaved` counts edits, as the line does).
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

/// The header for connection `state`, this tab's `local` changes (counted as the edits they
/// are), whether a socket is `online`, at `now_ms` (`Date.now()`), with the server's `limits`
/// if it said them.
pub fn header(
    state: &State,
    local: Local,
    online: bool,
    now_ms: f64,
    limits: Option<&Limits>,
    words: Words,
) -> Header {
    let Local {
        ledger,
        edits,
        keeping,
    } = local;
    let unsaved = edits.among(ledger.unsaved());
    let since_saved = ledger.saved_at_ms().map(|at| now_ms - at);
    let save = save_line(state, unsaved, online, since_saved, limits, words, keeping);
    Header {
        status: state.status(),
        attempt: state.attempt(),
        words: status_words(state, words.messages),
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
pub fn status_words(state: &State, messages: &Messages) -> String {
    let key = match state {
        State::Connected { .. } => "connected",
        State::Connecting { attempt: 0 } => "connecting",
        State::Connecting { .. } => "reconnecting",
        State::Waiting { delay_ms, .. } => {
            let seconds = delay_ms.div_ceil(1000).max(1).to_string();
            return messages.text("retrying", &[("seconds", &seconds)]);
        }
        State::Refused(Refusal::Unauthorized) => "notAuthorized",
        State::Refused(Refusal::Deleted) => "deleted",
        State::Refused(_) => "refusedByServer",
        State::Stopped => "disconnected",
    };
    messages.text(key, &[])
}

/// What the save line shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveLine {
    /// `data-save` and the `collab-save` event's `state`: `saved`, `saving`, `offline` or
    /// `refused`.
    pub state: &'static str,
    pub line: String,
}

/// The save line for `unsaved` local edits not yet durable, whether a socket is `online`,
/// how long ago the server last acknowledged everything (`since_saved_ms`), and whether this
/// device keeps them (`keeping`).
pub fn save_line(
    state: &State,
    unsaved: usize,
    online: bool,
    since_saved_ms: Option<f64>,
    limits: Option<&Limits>,
    words: Words,
    keeping: Keeping,
) -> SaveLine {
    let messages = words.messages;
    let (state_name, line) = match (state.refusal(), unsaved) {
        // The server will not take these changes: say why, and that nothing retries them.
        (Some(refusal), 1..) => ("refused", refused_line(refusal, limits, messages)),
        (_, 0) => {
            let line = match (state, since_saved_ms) {
                (State::Connected { .. }, None) => messages.text("allSaved", &[]),
                (State::Connected { .. }, Some(ago)) => saved_ago(ago, words),
                // Say why the dot is not green, in words, not only in colour.
                _ => status_words(state, messages),
            };
            ("saved", line)
        }
        _ if online => ("saving", messages.text("saving", &[])),
        // Offline: where the changes are, truthfully.
        _ => {
            let key = match keeping {
                Keeping::Device => "offline",
                Keeping::Storing => "offlineStoring",
                Keeping::MemoryOff => "offlineTabOnly",
                Keeping::MemoryRefused => "offlineStorageRefused",
            };
            ("offline", messages.count(key, unsaved, words.locale, &[]))
        }
    };
    SaveLine {
        state: state_name,
        line,
    }
}

fn refused_line(refusal: Refusal, limits: Option<&Limits>, messages: &Messages) -> String {
    let key = match refusal {
        Refusal::DocumentTooLarge => match limits.and_then(Limits::document_limit_words) {
            Some(limit) => return messages.text("notSavedOverLimit", &[("limit", &limit)]),
            None => "notSavedTooLarge",
        },
        Refusal::MessageTooLarge => "notSavedMessageTooLarge",
        Refusal::UpdateRejected => "notSavedRejected",
        Refusal::Malformed => "notSavedMalformed",
        Refusal::Unauthorized => "notSavedUnauthorized",
        Refusal::Deleted => "notSavedDeleted",
    };
    messages.text(key, &[])
}

/// "Saved just now", then "Saved {time}" with the time in the locale's words ("12s ago",
/// "3m ago", "2h ago" in English), rounded down to whole seconds, minutes or hours.
pub fn saved_ago(elapsed_ms: f64, words: Words) -> String {
    let seconds = (elapsed_ms / 1000.0).floor().max(0.0) as u64;
    let (value, unit) = match seconds {
        0..=2 => return words.messages.text("savedJustNow", &[]),
        3..=59 => (seconds, Unit::Second),
        60..=3599 => (seconds / 60, Unit::Minute),
        _ => (seconds / 3600, Unit::Hour),
    };
    let time = words.locale.ago(value, unit);
    words.messages.text("savedAgo", &[("time", &time)])
}

/// Typing stops this long and the next change starts a new edit.
pub const EDIT_PAUSE_MS: f64 = 2_000.0;

/// Groups local changes into edits, as people count them: one edit is a run of typing at one
/// place. A change starts a new edit when typing paused for [`EDIT_PAUSE_MS`], when it is
/// not where the last change left the caret (the caret jumped, or a remote change moved the
/// text under it), or when it is an undo or a redo (each is an edit of its own).
///
/// The ledger keeps one entry per change and drops the oldest as the server acknowledges
/// them, so the unsaved changes are always the last `n` recorded: `among(n)` counts the edits
/// they belong to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Edits {
    /// Per recorded change (newest last, at most as many as may still be unsaved): its edit.
    changes: VecDeque<u64>,
    next: u64,
    /// When the last change was made, and where it left the caret (`None` after an undo).
    last: Option<(f64, Option<u32>)>,
}

impl Edits {
    /// A local change: `at` is `(index, deleted, inserted)` in UTF-16 units for typing,
    /// `None` for an undo or redo; `unsaved` is how many changes the ledger holds with it.
    pub fn change(&mut self, at: Option<(u32, u32, u32)>, now_ms: f64, unsaved: usize) {
        let continues = match (self.last, at) {
            (Some((then, Some(caret))), Some((index, deleted, _))) => {
                now_ms - then < EDIT_PAUSE_MS && index <= caret && caret <= index + deleted
            }
            _ => false,
        };
        if !continues || self.changes.is_empty() {
            self.next += 1;
        }
        self.changes.push_back(self.next);
        while self.changes.len() > unsaved.max(1) {
            self.changes.pop_front();
        }
        self.last = Some((now_ms, at.map(|(index, _, inserted)| index + inserted)));
    }

    /// How many edits the newest `unsaved` changes belong to (changes recorded before this
    /// counter knew them count as one edit).
    pub fn among(&self, unsaved: usize) -> usize {
        let skip = self.changes.len().saturating_sub(unsaved);
        let mut count = usize::from(unsaved > self.changes.len());
        let mut previous = None;
        for &edit in self.changes.iter().skip(skip) {
            if previous != Some(edit) {
                count += 1;
                previous = Some(edit);
            }
        }
        count
    }
}

/// What the live region says: once per change of the connection or of the save state worth
/// hearing, never for a clock tick ("Saved 5s ago" → "Saved 6s ago") or a new count.
///
/// Saving and saved are one state (typing online would otherwise announce every debounce),
/// and connecting keeps whatever was said before (a retry loop is not news). The first
/// settled state is not announced: it is what the page shows as it loads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Announcer {
    said: Option<&'static str>,
}

impl Announcer {
    /// The words to announce for `header`, if it brings news.
    pub fn next(&mut self, header: &Header) -> Option<String> {
        // "Storing N changes on this device…" lasts a few milliseconds: say where they end up.
        if header.save.state == "offline" && header.detail.local == "storing" {
            return None;
        }
        let key = match (header.save.state, header.status) {
            ("refused", _) => "refused",
            ("offline", _) => "offline",
            (_, Status::Connected) => "connected",
            (_, Status::Disconnected) => "disconnected",
            (_, Status::Connecting) => return None,
        };
        let first = self.said.is_none();
        if self.said.replace(key) == Some(key) || first {
            return None;
        }
        Some(match key {
            "connected" => header.words.clone(),
            _ => header.save.line.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::DEFAULTS;

    const LIMITS: Limits = Limits {
        max_message_size: 4 << 20,
        max_document_size: 64 << 20,
    };

    /// Changes in `ledger` grouped by `edits`, every one kept on this device.
    fn on_device<'a>(ledger: &'a Ledger, edits: &'a Edits) -> Local<'a> {
        Local {
            ledger,
            edits,
            keeping: Keeping::Device,
        }
    }

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
            Words::english(),
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
            status_words(&refused, &DEFAULTS),
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
                ("saved", status_words(&State::Refused(refusal), &DEFAULTS))
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
            save_line(
                &connected,
                0,
                true,
                None,
                None,
                Words::english(),
                Keeping::Device
            )
            .line,
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
    fn the_header_follows_the_ledger_from_saving_to_saved() {
        let connected = State::Connected { attempt: 0 };
        let mut ledger = Ledger::default();
        let mut edits = Edits::default();
        ledger.record();
        edits.change(Some((0, 0, 1)), 0.0, ledger.unsaved());
        ledger.sent(1);
        let saving = header(
            &connected,
            on_device(&ledger, &edits),
            true,
            1_000.0,
            None,
            Words::english(),
        );
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
        let saved = header(
            &connected,
            on_device(&ledger, &edits),
            true,
            7_000.0,
            None,
            Words::english(),
        );
        assert_eq!(saved.save.line, "Saved 5s ago");
        assert_eq!(saved.detail.saved_at_ms, Some(2_000.0));
        assert_eq!(
            (saved.status, saved.words.as_str()),
            (Status::Connected, "Connected")
        );
        // Offline with a change typed since: kept, and the words say so.
        ledger.record();
        edits.change(Some((5, 0, 1)), 7_500.0, ledger.unsaved());
        let waiting = State::Waiting {
            attempt: 1,
            delay_ms: 500,
        };
        let offline = header(
            &waiting,
            on_device(&ledger, &edits),
            false,
            8_000.0,
            None,
            Words::english(),
        );
        assert_eq!(offline.save.line, "Offline — 1 change kept on this device");
        assert_eq!(offline.detail.state, "offline");
        assert_eq!(offline.attempt, 1);
    }

    #[test]
    fn events_are_owed_only_for_what_changed() {
        let connected = State::Connected { attempt: 0 };
        let mut ledger = Ledger::default();
        let mut edits = Edits::default();
        let mut reported = Reported::default();
        let first = header(
            &connected,
            on_device(&ledger, &edits),
            true,
            0.0,
            None,
            Words::english(),
        );
        assert_eq!(
            reported.tell(&first),
            Owed {
                status: true,
                save: true
            }
        );
        // The save line's words change with time ("Saved 3s ago"); the event does not.
        let later = header(
            &connected,
            on_device(&ledger, &edits),
            true,
            60_000.0,
            None,
            Words::english(),
        );
        assert_eq!(
            reported.tell(&later),
            Owed {
                status: false,
                save: false
            }
        );
        ledger.record();
        edits.change(Some((0, 0, 1)), 60_000.0, ledger.unsaved());
        let typed = header(
            &connected,
            on_device(&ledger, &edits),
            true,
            60_000.0,
            None,
            Words::english(),
        );
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
            on_device(&ledger, &edits),
            false,
            0.0,
            None,
            Words::english(),
        );
        let again = header(
            &State::Connecting { attempt: 3 },
            on_device(&ledger, &edits),
            false,
            0.0,
            None,
            Words::english(),
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
        assert_eq!(saved_ago(0.0, Words::english()), "Saved just now");
        assert_eq!(saved_ago(2_999.0, Words::english()), "Saved just now");
        assert_eq!(saved_ago(3_000.0, Words::english()), "Saved 3s ago");
        assert_eq!(saved_ago(61_000.0, Words::english()), "Saved 1m ago");
        assert_eq!(saved_ago(7_300_000.0, Words::english()), "Saved 2h ago");
        assert_eq!(saved_ago(-5.0, Words::english()), "Saved just now");
    }

    fn typed(edits: &mut Edits, ledger: &mut Ledger, at: (u32, u32, u32), now_ms: f64) {
        ledger.record();
        edits.change(Some(at), now_ms, ledger.unsaved());
    }

    #[test]
    fn a_sentence_typed_offline_is_one_edit_not_one_per_keystroke() {
        let mut ledger = Ledger::default();
        let mut edits = Edits::default();
        let sentence = "The quick brown fox.";
        for i in 0..sentence.len() as u32 {
            typed(&mut edits, &mut ledger, (i, 0, 1), f64::from(i) * 150.0);
        }
        // A typo fixed with Backspace, and a word pasted, at the same place.
        typed(&mut edits, &mut ledger, (19, 1, 0), 3_100.0);
        typed(&mut edits, &mut ledger, (19, 0, 6), 3_300.0);
        assert_eq!((ledger.unsaved(), edits.among(ledger.unsaved())), (22, 1));
        let waiting = State::Waiting {
            attempt: 1,
            delay_ms: 500,
        };
        let offline = header(
            &waiting,
            on_device(&ledger, &edits),
            false,
            4_000.0,
            None,
            Words::english(),
        );
        assert_eq!(offline.save.line, "Offline — 1 change kept on this device");
        assert_eq!(offline.detail.unsaved, 1);
        // A pause, then typing at the same place: a second edit.
        typed(&mut edits, &mut ledger, (25, 0, 1), 3_300.0 + EDIT_PAUSE_MS);
        // The caret jumped to the start: a third.
        typed(&mut edits, &mut ledger, (0, 0, 1), 5_400.0);
        // An undo is an edit of its own, and so is the typing after it.
        ledger.record();
        edits.change(None, 5_500.0, ledger.unsaved());
        typed(&mut edits, &mut ledger, (0, 0, 1), 5_600.0);
        assert_eq!(edits.among(ledger.unsaved()), 5);
        let offline = header(
            &waiting,
            on_device(&ledger, &edits),
            false,
            6_000.0,
            None,
            Words::english(),
        );
        assert_eq!(offline.save.line, "Offline — 5 changes kept on this device");
        // Acks drop the oldest changes: only the edits they belong to are left.
        ledger.sent(1);
        assert_eq!(ledger.ack(1, 7_000.0), crate::ledger::Acked::All(26));
        assert_eq!(edits.among(ledger.unsaved()), 0);
        assert_eq!(edits.among(2), 2);
        // Changes the counter never saw (restored from elsewhere) count as one edit.
        assert_eq!(Edits::default().among(4), 1);
    }

    #[test]
    fn the_live_region_hears_state_changes_once_and_no_clock_ticks() {
        let mut ledger = Ledger::default();
        let mut edits = Edits::default();
        let mut announcer = Announcer::default();
        let connected = State::Connected { attempt: 0 };
        let at = |state: &State, ledger: &Ledger, edits: &Edits, now: f64| {
            header(
                state,
                on_device(ledger, edits),
                ledger.unsaved() > 0 && matches!(state, State::Connected { .. }),
                now,
                None,
                Words::english(),
            )
        };
        // Loading: not announced.
        assert_eq!(
            announcer.next(&at(&State::Connecting { attempt: 0 }, &ledger, &edits, 0.0)),
            None
        );
        assert_eq!(announcer.next(&at(&connected, &ledger, &edits, 0.0)), None);
        // Typing online: saving and saved are not news, nor the clock.
        typed(&mut edits, &mut ledger, (0, 0, 1), 100.0);
        assert_eq!(
            announcer.next(&at(&connected, &ledger, &edits, 100.0)),
            None
        );
        ledger.sent(1);
        ledger.ack(1, 200.0);
        for now in [200.0, 5_000.0, 65_000.0] {
            assert_eq!(announcer.next(&at(&connected, &ledger, &edits, now)), None);
        }
        // The connection drops: said once, through the retry loop.
        let waiting = State::Waiting {
            attempt: 1,
            delay_ms: 1_000,
        };
        assert_eq!(
            announcer
                .next(&at(&waiting, &ledger, &edits, 70_000.0))
                .as_deref(),
            Some("Disconnected — retrying in 1 s")
        );
        assert_eq!(
            announcer.next(&at(
                &State::Connecting { attempt: 2 },
                &ledger,
                &edits,
                71_000.0
            )),
            None
        );
        let later = State::Waiting {
            attempt: 2,
            delay_ms: 2_000,
        };
        assert_eq!(announcer.next(&at(&later, &ledger, &edits, 72_000.0)), None);
        // Typing offline: the changes are kept, said once, not for each new count.
        typed(&mut edits, &mut ledger, (1, 0, 1), 73_000.0);
        assert_eq!(
            announcer
                .next(&at(&later, &ledger, &edits, 73_000.0))
                .as_deref(),
            Some("Offline — 1 change kept on this device")
        );
        typed(&mut edits, &mut ledger, (0, 0, 1), 74_000.0);
        assert_eq!(announcer.next(&at(&later, &ledger, &edits, 74_000.0)), None);
        // Back: said once.
        assert_eq!(
            announcer
                .next(&at(&connected, &ledger, &edits, 75_000.0))
                .as_deref(),
            Some("Connected")
        );
    }

    #[test]
    fn the_pages_messages_and_locale_word_the_line() {
        struct German;
        impl Locale for German {
            fn plural(&self, count: f64) -> String {
                if count == 1.0 { "one" } else { "other" }.into()
            }
            fn ago(&self, value: u64, _unit: Unit) -> String {
                format!("vor {value} s")
            }
        }
        let forms = |pairs: &[(&str, &str)]| -> crate::messages::Forms {
            pairs
                .iter()
                .map(|(c, t)| ((*c).into(), (*t).into()))
                .collect()
        };
        let messages = Messages::new(vec![
            ("savedAgo".into(), forms(&[("other", "Gespeichert {time}")])),
            (
                "offline".into(),
                forms(&[
                    ("one", "Offline – eine Änderung behalten"),
                    ("other", "Offline – {count} Änderungen behalten"),
                ]),
            ),
            (
                "retrying".into(),
                forms(&[("other", "Getrennt – neuer Versuch in {seconds} s")]),
            ),
        ])
        .unwrap();
        let words = Words {
            messages: &messages,
            locale: &German,
        };
        let connected = State::Connected { attempt: 0 };
        assert_eq!(
            save_line(
                &connected,
                0,
                true,
                Some(7_000.0),
                None,
                words,
                Keeping::Device
            )
            .line,
            "Gespeichert vor 7 s"
        );
        let waiting = State::Waiting {
            attempt: 1,
            delay_ms: 3_000,
        };
        assert_eq!(
            save_line(&waiting, 1, false, None, None, words, Keeping::Device).line,
            "Offline – eine Änderung behalten"
        );
        assert_eq!(
            save_line(&waiting, 4, false, None, None, words, Keeping::Device).line,
            "Offline – 4 Änderungen behalten"
        );
        assert_eq!(
            status_words(&waiting, &messages),
            "Getrennt – neuer Versuch in 3 s"
        );
        // Keys the page left out stay English.
        assert_eq!(
            save_line(&connected, 2, true, None, None, words, Keeping::Device).line,
            "Saving…"
        );
    }

    #[test]
    fn offline_the_line_says_whether_this_device_keeps_the_changes() {
        let waiting = State::Waiting {
            attempt: 1,
            delay_ms: 500,
        };
        let offline =
            |keeping| save_line(&waiting, 3, false, None, None, Words::english(), keeping);
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
        let online = |unsaved, keeping| {
            save_line(
                &connected,
                unsaved,
                true,
                Some(5_000.0),
                None,
                Words::english(),
                keeping,
            )
            .line
        };
        assert_eq!(online(2, Keeping::MemoryOff), "Saving…");
        assert_eq!(online(0, Keeping::MemoryRefused), "Saved 5s ago");
        let mut ledger = Ledger::default();
        ledger.record();
        let mut edits = Edits::default();
        edits.change(Some((0, 0, 1)), 0.0, 1);
        let detail = header(
            &waiting,
            Local {
                ledger: &ledger,
                edits: &edits,
                keeping: Keeping::MemoryOff,
            },
            false,
            0.0,
            None,
            Words::english(),
        )
        .detail;
        assert_eq!((detail.state, detail.local), ("offline", "memory"));
    }
}
