//! The connection's state machine, pure: `step(state, event) -> (state, effects)`, and the
//! reconnect backoff. The socket and timers that carry out the effects live in `widget`.

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
    /// Open and synced.
    Connected,
    /// Waiting `delay_ms` before attempt number `attempt`.
    Waiting { attempt: u32, delay_ms: u32 },
    /// The server refused our token (close 4401/4402): no automatic retry, only Retry.
    Unauthorized,
    /// Unmounted: nothing happens any more.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The server's SyncStep2 arrived: we hold everything it had.
    Synced,
    /// The socket closed or failed to open.
    SocketClosed,
    /// The server closed the socket because the token is missing, invalid or not for this doc.
    Unauthorized,
    /// The backoff timer fired.
    RetryDue,
    /// The user pressed Retry (or the page came back online).
    RetryNow,
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
            State::Connected => Status::Connected,
            State::Waiting { .. } | State::Unauthorized | State::Stopped => Status::Disconnected,
        }
    }

    /// Failed attempts since the last good connection.
    pub fn attempt(&self) -> u32 {
        match self {
            State::Connecting { attempt } | State::Waiting { attempt, .. } => *attempt,
            State::Connected | State::Unauthorized | State::Stopped => 0,
        }
    }
}

/// The transition for `event` in `state`; `random` is in [0, 1), for jitter.
pub fn step(state: &State, event: Event, random: f64) -> (State, Vec<Effect>) {
    use Effect::*;
    match (state, event) {
        (State::Stopped, _) => (State::Stopped, vec![]),
        (_, Event::Stop) => (State::Stopped, vec![CancelRetry, CloseSocket]),
        (State::Connecting { .. }, Event::Synced) => (State::Connected, vec![]),
        // Retrying with the same token would be refused again: stop until asked.
        (State::Connecting { .. } | State::Connected, Event::Unauthorized) => {
            (State::Unauthorized, vec![CancelRetry])
        }
        (State::Unauthorized, Event::RetryNow) => {
            (State::Connecting { attempt: 0 }, vec![OpenSocket])
        }
        // A good connection dropped: try again at once (the dot turns yellow).
        (State::Connected, Event::SocketClosed) => {
            (State::Connecting { attempt: 0 }, vec![OpenSocket])
        }
        // An attempt failed: wait, longer each time (the dot turns red, Retry appears).
        (State::Connecting { attempt }, Event::SocketClosed) => {
            let attempt = attempt + 1;
            let delay_ms = backoff_ms(attempt, random);
            (
                State::Waiting { attempt, delay_ms },
                vec![ScheduleRetry { delay_ms }],
            )
        }
        (State::Waiting { attempt, .. }, Event::RetryDue) => {
            (State::Connecting { attempt: *attempt }, vec![OpenSocket])
        }
        (State::Waiting { attempt, .. }, Event::RetryNow) => (
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
        assert_eq!((state.clone(), effects), (State::Connected, vec![]));
        assert_eq!(state.status(), Status::Connected);

        // The server goes away: reconnect immediately.
        let (state, effects) = step(&state, Event::SocketClosed, 0.0);
        assert_eq!(state, State::Connecting { attempt: 0 });
        assert_eq!(effects, vec![Effect::OpenSocket]);

        // That attempt fails: wait, red.
        let (state, effects) = step(&state, Event::SocketClosed, 0.0);
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

        let (state, _) = step(&state, Event::SocketClosed, 0.99);
        assert!(matches!(state, State::Waiting { attempt: 2, .. }));

        // Retry skips the wait.
        let (state, effects) = step(&state, Event::RetryNow, 0.0);
        assert_eq!(state, State::Connecting { attempt: 2 });
        assert_eq!(effects, vec![Effect::CancelRetry, Effect::OpenSocket]);

        let (state, _) = step(&state, Event::Synced, 0.0);
        assert_eq!(state, State::Connected);
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
            Event::SocketClosed,
            Event::RetryDue,
            Event::RetryNow,
            Event::Stop,
        ] {
            assert_eq!(step(&stopped, event, 0.5), (State::Stopped, vec![]));
        }
    }

    #[test]
    fn a_refused_token_stops_retrying_until_asked() {
        let (state, _) = State::start();
        let (refused, effects) = step(&state, Event::Unauthorized, 0.5);
        assert_eq!(refused, State::Unauthorized);
        assert_eq!(effects, vec![Effect::CancelRetry]);
        assert_eq!(refused.status(), Status::Disconnected);
        for event in [Event::SocketClosed, Event::RetryDue, Event::Synced] {
            assert_eq!(step(&refused, event, 0.5), (State::Unauthorized, vec![]));
        }
        let (again, effects) = step(&refused, Event::RetryNow, 0.5);
        assert_eq!(again, State::Connecting { attempt: 0 });
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
