//! The connection's state machine, pure: `step(state, event) -> (state, effects)`, and the
//! reconnect backoff. The socket and timers that carry out the effects live in `widget`.

use collab_core::wire::close_code;

/// What the status dot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A socket is opening, or open and not yet synced (yellow, pulsing).
    Connecting,
    /// Open and synced (green).
    Connected,
    /// Waiting before the next attempt (red, with Retry).
    Disconnected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Connecting => "connecting",
            Status::Connected => "connected",
            Status::Disconnected => "disconnected",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// A socket is opening or open; `attempt` counts failures since the last good connection.
    Connecting { attempt: u32 },
    /// Open and synced. `attempt`: the attempt that made this connection (0: the first try).
    /// A close that calls for the backoff waits from there, so a server that keeps closing
    /// synced connections (4420, 4429) is retried less and less often, not every 250 ms.
    Connected { attempt: u32 },
    /// Waiting `delay_ms` before attempt number `attempt`.
    Waiting { attempt: u32, delay_ms: u32 },
    /// The server closed the connection for a reason that would recur on a retry: no
    /// automatic retry, only Retry (which reconnects once).
    Refused(Refusal),
    /// Unmounted: nothing happens any more.
    Stopped,
}

/// Why the server refused us in a way that a retry would only repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 4401, 4402: the token is missing, invalid, or not for this document.
    Unauthorized,
    /// 4413: an update would take the document over the server's `--max-document-size`.
    DocumentTooLarge,
    /// 1009: a message over the server's `--max-message-size` (a piece that could not be cut).
    MessageTooLarge,
    /// 4400: the server refused an update (invalid, or quarantined).
    UpdateRejected,
    /// 1003, 1007: the server could not read what we sent.
    Malformed,
    /// 4410: the document was deleted; reconnecting would upload it again.
    Deleted,
}

/// What a close code calls for (the table is in docs/widget.md, "Which closes the widget
/// retries").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterClose {
    /// The connection just went away (shutdown, network, idle): reconnect at once if it was
    /// good, else back off.
    Reconnect,
    /// The server is in trouble or wants us slower: reconnect after the backoff.
    BackOff,
    /// The same connection would be refused again: stop until the user presses Retry.
    Stop(Refusal),
}

/// The policy for the close code `code`. Codes not listed (a proxy's, a future server's) are
/// taken as transient and retried after the backoff.
pub fn after_close(code: u16) -> AfterClose {
    match code {
        // Normal closure, going away (server shutdown), abnormal (no close frame: network,
        // server killed), idle timeout (a suspended tab).
        1000 | close_code::GOING_AWAY | 1006 | close_code::TIMEOUT => AfterClose::Reconnect,
        close_code::UNSUPPORTED_DATA | close_code::INVALID_PAYLOAD => {
            AfterClose::Stop(Refusal::Malformed)
        }
        close_code::DELETED => AfterClose::Stop(Refusal::Deleted),
        close_code::MESSAGE_TOO_BIG => AfterClose::Stop(Refusal::MessageTooLarge),
        close_code::UPDATE_REJECTED => AfterClose::Stop(Refusal::UpdateRejected),
        close_code::UNAUTHORIZED | close_code::FORBIDDEN => AfterClose::Stop(Refusal::Unauthorized),
        close_code::DOCUMENT_TOO_LARGE => AfterClose::Stop(Refusal::DocumentTooLarge),
        // 1011 storage could not load the document; 4403 our client id is still held by our
        // previous connection the server has not noticed is gone; 4420 rate limited; 4429 we
        // read too slowly. All pass with time.
        _ => AfterClose::BackOff,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The server's SyncStep2 arrived: we hold everything it had.
    Synced,
    /// The socket closed (with this close code) or failed to open (1006).
    SocketClosed { code: u16 },
    /// The backoff timer fired.
    RetryDue,
    /// The user pressed Retry.
    RetryNow,
    /// The browser came back online: skips a backoff wait, never a refusal.
    Online,
    /// Unmount.
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    OpenSocket,
    CloseSocket,
    ScheduleRetry { delay_ms: u32 },
    CancelRetry,
}

/// First backoff delay and its cap, in milliseconds.
pub const BACKOFF_BASE_MS: u32 = 250;
pub const BACKOFF_CAP_MS: u32 = 5_000;

/// The delay before attempt `attempt` (1-based): exponential from 250 ms, capped at 5 s, with
/// jitter (`random` in [0, 1) picks between half and all of it) so that clients dropped together
/// do not all come back in the same instant.
pub fn backoff_ms(attempt: u32, random: f64) -> u32 {
    let exponent = attempt.saturating_sub(1).min(16);
    let ceiling = BACKOFF_BASE_MS
        .saturating_mul(1 << exponent)
        .min(BACKOFF_CAP_MS);
    let factor = 0.5 + 0.5 * random.clamp(0.0, 1.0);
    (f64::from(ceiling) * factor).round() as u32
}

impl State {
    /// The state a new widget starts in; its first effect is `OpenSocket`.
    pub fn start() -> (State, Vec<Effect>) {
        (State::Connecting { attempt: 0 }, vec![Effect::OpenSocket])
    }

    pub fn status(&self) -> Status {
        match self {
            State::Connecting { .. } => Status::Connecting,
            State::Connected { .. } => Status::Connected,
            State::Waiting { .. } | State::Refused(_) | State::Stopped => Status::Disconnected,
        }
    }

    /// Failed attempts since the last good connection (0 while connected).
    pub fn attempt(&self) -> u32 {
        match self {
            State::Connecting { attempt } | State::Waiting { attempt, .. } => *attempt,
            State::Connected { .. } | State::Refused(_) | State::Stopped => 0,
        }
    }

    /// Why the server refused us, while no retry is planned because of it.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            State::Refused(refusal) => Some(*refusal),
            _ => None,
        }
    }
}

/// The transition for `event` in `state`; `random` is in [0, 1), for jitter.
pub fn step(state: &State, event: Event, random: f64) -> (State, Vec<Effect>) {
    use Effect::*;
    match (state, event) {
        (State::Stopped, _) => (State::Stopped, vec![]),
        (_, Event::Stop) => (State::Stopped, vec![CancelRetry, CloseSocket]),
        (State::Connecting { attempt }, Event::Synced) => {
            (State::Connected { attempt: *attempt }, vec![])
        }
        (State::Connecting { attempt }, Event::SocketClosed { code }) => {
            match after_close(code) {
                AfterClose::Stop(refusal) => (State::Refused(refusal), vec![CancelRetry]),
                // An attempt failed: wait, longer each time (the dot turns red, Retry appears).
                AfterClose::Reconnect | AfterClose::BackOff => {
                    let attempt = attempt + 1;
                    let delay_ms = backoff_ms(attempt, random);
                    (
                        State::Waiting { attempt, delay_ms },
                        vec![ScheduleRetry { delay_ms }],
                    )
                }
            }
        }
        (State::Connected { attempt }, Event::SocketClosed { code }) => match after_close(code) {
            AfterClose::Stop(refusal) => (State::Refused(refusal), vec![CancelRetry]),
            // A good connection dropped: try again at once (the dot turns yellow).
            AfterClose::Reconnect => (State::Connecting { attempt: 0 }, vec![OpenSocket]),
            AfterClose::BackOff => {
                let attempt = attempt + 1;
                let delay_ms = backoff_ms(attempt, random);
                (
                    State::Waiting { attempt, delay_ms },
                    vec![ScheduleRetry { delay_ms }],
                )
            }
        },
        // Retry after a refusal: one new connection; if it is refused again, we stop again.
        (State::Refused(_), Event::RetryNow) => {
            (State::Connecting { attempt: 0 }, vec![OpenSocket])
        }
        (State::Waiting { attempt, .. }, Event::RetryDue) => {
            (State::Connecting { attempt: *attempt }, vec![OpenSocket])
        }
        (State::Waiting { attempt, .. }, Event::RetryNow | Event::Online) => (
            State::Connecting { attempt: *attempt },
            vec![CancelRetry, OpenSocket],
        ),
        // Anything else is stale (a timer or close from an earlier socket) or moot.
        (state, _) => (state.clone(), vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_connects_drops_backs_off_and_recovers() {
        let (state, effects) = State::start();
        assert_eq!(effects, vec![Effect::OpenSocket]);
        assert_eq!(state.status(), Status::Connecting);

        let (state, effects) = step(&state, Event::Synced, 0.0);
        assert_eq!(
            (state.clone(), effects),
            (State::Connected { attempt: 0 }, vec![])
        );
        assert_eq!(state.status(), Status::Connected);

        // The server goes away: reconnect immediately.
        let (state, effects) = step(&state, Event::SocketClosed { code: 1006 }, 0.0);
        assert_eq!(state, State::Connecting { attempt: 0 });
        assert_eq!(effects, vec![Effect::OpenSocket]);

        // That attempt fails: wait, red.
        let (state, effects) = step(&state, Event::SocketClosed { code: 1006 }, 0.0);
        assert_eq!(
            state,
            State::Waiting {
                attempt: 1,
                delay_ms: 125
            }
        );
        assert_eq!(effects, vec![Effect::ScheduleRetry { delay_ms: 125 }]);
        assert_eq!(state.status(), Status::Disconnected);

        let (state, effects) = step(&state, Event::RetryDue, 0.0);
        assert_eq!(state, State::Connecting { attempt: 1 });
        assert_eq!(effects, vec![Effect::OpenSocket]);

        let (state, _) = step(&state, Event::SocketClosed { code: 1006 }, 0.99);
        assert!(matches!(state, State::Waiting { attempt: 2, .. }));

        // Retry skips the wait.
        let (state, effects) = step(&state, Event::RetryNow, 0.0);
        assert_eq!(state, State::Connecting { attempt: 2 });
        assert_eq!(effects, vec![Effect::CancelRetry, Effect::OpenSocket]);

        let (state, _) = step(&state, Event::Synced, 0.0);
        assert_eq!(state, State::Connected { attempt: 2 });
        assert_eq!(state.attempt(), 0);
    }

    #[test]
    fn stop_is_final_and_stale_events_are_ignored() {
        let (state, _) = State::start();
        // A retry timer from an earlier socket while connecting changes nothing.
        assert_eq!(step(&state, Event::RetryDue, 0.5), (state.clone(), vec![]));
        assert_eq!(step(&state, Event::RetryNow, 0.5), (state.clone(), vec![]));
        let (stopped, effects) = step(&state, Event::Stop, 0.5);
        assert_eq!(stopped, State::Stopped);
        assert_eq!(effects, vec![Effect::CancelRetry, Effect::CloseSocket]);
        for event in [
            Event::Synced,
            Event::SocketClosed { code: 1006 },
            Event::RetryDue,
            Event::RetryNow,
            Event::Online,
            Event::Stop,
        ] {
            assert_eq!(step(&stopped, event, 0.5), (State::Stopped, vec![]));
        }
    }

    /// Every close code the server sends (docs/protocol.md, "Close codes"), plus 1006.
    const CLOSE_CODES: [u16; 15] = [
        1001, 1003, 1006, 1007, 1009, 1011, 4400, 4401, 4402, 4403, 4408, 4410, 4413, 4420, 4429,
    ];

    #[test]
    fn each_close_code_is_retried_or_not_by_whether_it_would_recur() {
        use AfterClose::*;
        let policy: Vec<(u16, AfterClose)> = CLOSE_CODES
            .iter()
            .map(|&code| (code, after_close(code)))
            .collect();
        assert_eq!(
            policy,
            vec![
                (1001, Reconnect),
                (1003, Stop(Refusal::Malformed)),
                (1006, Reconnect),
                (1007, Stop(Refusal::Malformed)),
                (1009, Stop(Refusal::MessageTooLarge)),
                (1011, BackOff),
                (4400, Stop(Refusal::UpdateRejected)),
                (4401, Stop(Refusal::Unauthorized)),
                (4402, Stop(Refusal::Unauthorized)),
                (4403, BackOff),
                (4408, Reconnect),
                (4410, Stop(Refusal::Deleted)),
                (4413, Stop(Refusal::DocumentTooLarge)),
                (4420, BackOff),
                (4429, BackOff),
            ]
        );
        // A code nobody documented (a proxy's) is taken as transient.
        assert_eq!(after_close(4999), BackOff);
        assert_eq!(
            after_close(collab_core::wire::close_code::DOCUMENT_TOO_LARGE),
            Stop(Refusal::DocumentTooLarge)
        );
    }

    #[test]
    fn a_refusal_is_never_retried_on_its_own_and_retry_reconnects_once() {
        for code in CLOSE_CODES {
            let AfterClose::Stop(refusal) = after_close(code) else {
                continue;
            };
            // Refused on a good connection, and on a fresh attempt alike.
            for from in [
                State::Connected { attempt: 0 },
                State::Connecting { attempt: 3 },
            ] {
                let (refused, effects) = step(&from, Event::SocketClosed { code }, 0.5);
                assert_eq!(refused, State::Refused(refusal), "close {code}");
                assert_eq!(effects, vec![Effect::CancelRetry], "close {code}");
                assert_eq!(refused.status(), Status::Disconnected);
                assert_eq!(refused.refusal(), Some(refusal));
                // No timer, no stale close, no network change reconnects it.
                for event in [
                    Event::SocketClosed { code },
                    Event::RetryDue,
                    Event::Synced,
                    Event::Online,
                ] {
                    assert_eq!(step(&refused, event, 0.5), (refused.clone(), vec![]));
                }
                // Retry opens one socket; refused again, it stops again.
                let (again, effects) = step(&refused, Event::RetryNow, 0.5);
                assert_eq!(again, State::Connecting { attempt: 0 });
                assert_eq!(effects, vec![Effect::OpenSocket]);
                assert_eq!(again.refusal(), None);
                let (refused_again, effects) = step(&again, Event::SocketClosed { code }, 0.5);
                assert_eq!(refused_again, State::Refused(refusal));
                assert_eq!(effects, vec![Effect::CancelRetry]);
            }
        }
    }

    #[test]
    fn transient_closes_reconnect_at_once_or_after_the_backoff() {
        for code in CLOSE_CODES {
            match after_close(code) {
                AfterClose::Reconnect => {
                    let connected = State::Connected { attempt: 4 };
                    let (state, effects) = step(&connected, Event::SocketClosed { code }, 0.5);
                    assert_eq!(state, State::Connecting { attempt: 0 }, "close {code}");
                    assert_eq!(effects, vec![Effect::OpenSocket]);
                }
                AfterClose::BackOff => {
                    let connected = State::Connected { attempt: 0 };
                    let (state, effects) = step(&connected, Event::SocketClosed { code }, 1.0);
                    assert_eq!(
                        state,
                        State::Waiting {
                            attempt: 1,
                            delay_ms: 250
                        },
                        "close {code}"
                    );
                    assert_eq!(effects, vec![Effect::ScheduleRetry { delay_ms: 250 }]);
                    assert_eq!(state.status(), Status::Disconnected);
                    // The browser coming back online skips the wait.
                    let (state, effects) = step(&state, Event::Online, 0.5);
                    assert_eq!(state, State::Connecting { attempt: 1 });
                    assert_eq!(effects, vec![Effect::CancelRetry, Effect::OpenSocket]);
                }
                AfterClose::Stop(_) => continue,
            }
            // A failed attempt always waits, longer each time.
            let (state, effects) = step(
                &State::Connecting { attempt: 2 },
                Event::SocketClosed { code },
                1.0,
            );
            assert_eq!(
                state,
                State::Waiting {
                    attempt: 3,
                    delay_ms: 1000
                },
                "close {code}"
            );
            assert_eq!(effects, vec![Effect::ScheduleRetry { delay_ms: 1000 }]);
        }
    }

    #[test]
    fn a_server_that_keeps_closing_synced_connections_is_retried_less_and_less_often() {
        // Each connection syncs, then is closed for reading too slowly (4429).
        let mut state = State::Connected { attempt: 0 };
        let mut delays = Vec::new();
        for _ in 0..7 {
            let (waiting, effects) = step(&state, Event::SocketClosed { code: 4429 }, 1.0);
            let [Effect::ScheduleRetry { delay_ms }] = effects[..] else {
                panic!("{effects:?}");
            };
            delays.push(delay_ms);
            let (connecting, _) = step(&waiting, Event::RetryDue, 1.0);
            (state, _) = step(&connecting, Event::Synced, 1.0);
            assert_eq!(state.status(), Status::Connected);
        }
        assert_eq!(delays, vec![250, 500, 1000, 2000, 4000, 5000, 5000]);
        // A plain drop (network, shutdown) is retried at once and starts the count again.
        let (state, effects) = step(&state, Event::SocketClosed { code: 1006 }, 1.0);
        assert_eq!(state, State::Connecting { attempt: 0 });
        assert_eq!(effects, vec![Effect::OpenSocket]);
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_up_to_a_cap() {
        assert_eq!(backoff_ms(1, 1.0), 250);
        assert_eq!(backoff_ms(2, 1.0), 500);
        assert_eq!(backoff_ms(3, 1.0), 1000);
        assert_eq!(backoff_ms(5, 1.0), 4000);
        assert_eq!(backoff_ms(6, 1.0), 5000);
        assert_eq!(backoff_ms(60, 1.0), 5000);
        // Jitter: between half and all of the ceiling.
        assert_eq!(backoff_ms(3, 0.0), 500);
        for i in 0..100 {
            let delay = backoff_ms(4, f64::from(i) / 100.0);
            assert!((1000..=2000).contains(&delay), "{delay}");
        }
    }
}
