//! The call queue of the 95128 line (ACD): the states of a call and of an operator's seat,
//! the events that move them, how waiting calls are ranked and which ready seat takes
//! which call, and the call-centre KPIs' arithmetic. Defined once: the store's script gets
//! the state machines in its generated prelude (`CST.<state>`, `SST.<state>`,
//! `CALLEV.<event>`, `SEATEV.<event>`), and a store test runs the script's routing
//! against [`route`] on the same inputs.
//!
//! Ranking is dispatch's: a call's queue score is its arrival time, less the head start
//! for an older caller ([`crate::priority::queue_score`]), so an older caller goes ahead of
//! others who arrived up to the head start earlier, and no call is ever overtaken by a
//! call that arrived more than the head start after it (the aging bound).

use crate::audit::AuditKind;
use crate::error::FieldError;

/// A call answered within this long counts towards the service level (ms).
pub const SERVICE_LEVEL_MS: i64 = 20_000;

/// A call-back done within this long of the abandoned call counts as prompt (ms).
pub const CALLBACK_PROMPT_MS: i64 = 15 * 60_000;

/// The most waiting calls one routing step looks at, highest priority first: a call
/// no ready seat can take (a missing skill) is passed over, up to this many.
pub const ROUTE_SCAN_CALLS: usize = 100;

/// The most ready seats one routing step looks at, longest idle first.
pub const ROUTE_SCAN_SEATS: usize = 500;

/// How long an ended call (or an abandoned one with no call-back open) is kept, so a
/// switch's late repeat of an event still answers as before (ms).
pub const ENDED_CALL_KEEP_MS: i64 = 24 * 3_600_000;

/// The most routing decisions the switch's assignment feed keeps (about).
pub const ASSIGNMENTS_KEPT: u64 = 100_000;

/// How a call's call-back is named on the operators' call-back list (which also holds
/// unfulfilled orders' ids, and no order id has a `:`): `call:<call id>`.
pub const CALLBACK_PREFIX: &str = "call:";

/// How long a period's KPI counters are kept: hours for 8 days, days for 400 (ms).
pub const KPI_KEEP_MS: (i64, i64) = (8 * 86_400_000, 400 * 86_400_000);

/// The longest dialect code, in characters.
pub const MAX_DIALECT_CHARS: usize = 16;

/// The most dialects one seat may list.
pub const MAX_SEAT_DIALECTS: usize = 8;

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallState {
    /// Waiting in the queue for a seat.
    Queued,
    /// Given to a seat whose phone rings; not yet answered.
    Offered,
    /// A seat answered it.
    Answered,
    /// The caller hung up before a seat answered.
    Abandoned,
    /// Finished after an answer.
    Ended,
}

impl CallState {
    /// Every state.
    pub const ALL: [CallState; 5] = [
        CallState::Queued,
        CallState::Offered,
        CallState::Answered,
        CallState::Abandoned,
        CallState::Ended,
    ];

    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            CallState::Queued => "cq",
            CallState::Offered => "co",
            CallState::Answered => "ca",
            CallState::Abandoned => "cx",
            CallState::Ended => "ce",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The state's name for messages.
    pub fn name(self) -> &'static str {
        match self {
            CallState::Queued => "queued",
            CallState::Offered => "offered to a seat",
            CallState::Answered => "answered",
            CallState::Abandoned => "abandoned",
            CallState::Ended => "ended",
        }
    }
}

/// What happens to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallEvent {
    /// Routing gives it to a ready seat.
    Offer,
    /// A seat answers it: the seat it was offered to, or a ready seat taking it from the
    /// queue.
    Answer,
    /// The caller hangs up before an answer.
    Abandon,
    /// The answering seat sends it back to the queue (to another skill), at its priority.
    Transfer,
    /// The answered call ends.
    End,
    /// The seat it was offered to left (a break, logged out): back to the queue.
    Requeue,
}

impl CallEvent {
    /// Every event.
    pub const ALL: [CallEvent; 6] = [
        CallEvent::Offer,
        CallEvent::Answer,
        CallEvent::Abandon,
        CallEvent::Transfer,
        CallEvent::End,
        CallEvent::Requeue,
    ];

    /// The event's name in the prelude (`CALLEV.<code>`).
    pub fn code(self) -> &'static str {
        match self {
            CallEvent::Offer => "offer",
            CallEvent::Answer => "answer",
            CallEvent::Abandon => "abandon",
            CallEvent::Transfer => "transfer",
            CallEvent::End => "finish",
            CallEvent::Requeue => "requeue",
        }
    }

    /// The states it may happen in.
    pub fn allowed_from(self) -> &'static [CallState] {
        match self {
            CallEvent::Offer => &[CallState::Queued],
            CallEvent::Answer | CallEvent::Abandon => &[CallState::Queued, CallState::Offered],
            CallEvent::Transfer | CallEvent::End => &[CallState::Answered],
            CallEvent::Requeue => &[CallState::Offered],
        }
    }

    /// The state it leads to.
    pub fn target(self) -> CallState {
        match self {
            CallEvent::Offer => CallState::Offered,
            CallEvent::Answer => CallState::Answered,
            CallEvent::Abandon => CallState::Abandoned,
            CallEvent::Transfer | CallEvent::Requeue => CallState::Queued,
            CallEvent::End => CallState::Ended,
        }
    }

    /// Whether a repeat of the event finds it done in `state` (the switch retried after
    /// a lost reply): answered as before, nothing changes. An answer is done only for the
    /// seat that answered; a transfer only while the call waits after that seat's
    /// transfer (both checked by the script against the call's record).
    pub fn already_done(self, state: CallState) -> bool {
        match self {
            CallEvent::Answer => matches!(state, CallState::Answered | CallState::Ended),
            CallEvent::Abandon => state == CallState::Abandoned,
            CallEvent::End => state == CallState::Ended,
            CallEvent::Transfer => matches!(state, CallState::Queued | CallState::Offered),
            CallEvent::Offer | CallEvent::Requeue => false,
        }
    }

    /// Its record in the audit trail.
    pub fn audit(self) -> AuditKind {
        match self {
            CallEvent::Offer => AuditKind::CallOffered,
            CallEvent::Answer => AuditKind::CallAnswered,
            CallEvent::Abandon => AuditKind::CallAbandoned,
            CallEvent::Transfer => AuditKind::CallTransferred,
            CallEvent::End => AuditKind::CallEnded,
            CallEvent::Requeue => AuditKind::CallRequeued,
        }
    }

    /// The state after the event, or why it cannot happen.
    pub fn apply(self, state: CallState) -> Result<CallState, String> {
        if self.allowed_from().contains(&state) {
            Ok(self.target())
        } else {
            Err(format!(
                "cannot {} a call that is {}",
                self.code(),
                state.name()
            ))
        }
    }
}

/// Where an operator's seat stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeatState {
    /// Not logged in: routing never looks at it.
    LoggedOut,
    /// Logged in, not ready for calls.
    LoggedIn,
    /// Ready: waiting for a call (longest idle first).
    Ready,
    /// Ringing with an offered call, or talking.
    Busy,
    /// After a call: notes, no calls.
    WrapUp,
    /// On a break: no calls.
    Break,
}

impl SeatState {
    /// Every state.
    pub const ALL: [SeatState; 6] = [
        SeatState::LoggedOut,
        SeatState::LoggedIn,
        SeatState::Ready,
        SeatState::Busy,
        SeatState::WrapUp,
        SeatState::Break,
    ];

    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            SeatState::LoggedOut => "s_out",
            SeatState::LoggedIn => "s_in",
            SeatState::Ready => "s_ready",
            SeatState::Busy => "s_busy",
            SeatState::WrapUp => "s_wrap",
            SeatState::Break => "s_break",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The state's name for messages.
    pub fn name(self) -> &'static str {
        match self {
            SeatState::LoggedOut => "logged out",
            SeatState::LoggedIn => "logged in (not ready)",
            SeatState::Ready => "ready",
            SeatState::Busy => "busy",
            SeatState::WrapUp => "in wrap-up",
            SeatState::Break => "on a break",
        }
    }
}

/// What happens to a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeatEvent {
    /// The operator logs in (not ready yet).
    LogIn,
    /// Ready for calls.
    Ready,
    /// Logged in but not ready.
    NotReady,
    /// A break.
    Break,
    /// Wrap-up, by hand (a call's end puts the seat there by itself).
    WrapUp,
    /// Logs out.
    LogOut,
    /// Takes a call: routing's offer, or the seat's own answer of a queued call.
    Take,
    /// Its answered call ended or was transferred: wrap-up.
    Release,
    /// Its offered call was abandoned before the answer: ready again, keeping its place.
    Return,
}

impl SeatEvent {
    /// Every event.
    pub const ALL: [SeatEvent; 9] = [
        SeatEvent::LogIn,
        SeatEvent::Ready,
        SeatEvent::NotReady,
        SeatEvent::Break,
        SeatEvent::WrapUp,
        SeatEvent::LogOut,
        SeatEvent::Take,
        SeatEvent::Release,
        SeatEvent::Return,
    ];

    /// The event's name in the prelude (`SEATEV.<code>`).
    pub fn code(self) -> &'static str {
        match self {
            SeatEvent::LogIn => "log_in",
            SeatEvent::Ready => "ready",
            SeatEvent::NotReady => "not_ready",
            SeatEvent::Break => "pause",
            SeatEvent::WrapUp => "wrap_up",
            SeatEvent::LogOut => "log_out",
            SeatEvent::Take => "take",
            SeatEvent::Release => "release",
            SeatEvent::Return => "give_back",
        }
    }

    /// The states it may happen in. A seat ringing with an offered (unanswered) call may
    /// also leave by [`SeatEvent::leaves_ringing`]: its call goes back to the queue first.
    pub fn allowed_from(self) -> &'static [SeatState] {
        use SeatState::*;
        match self {
            SeatEvent::LogIn => &[LoggedOut],
            SeatEvent::Ready => &[LoggedIn, WrapUp, Break],
            SeatEvent::NotReady => &[Ready, WrapUp, Break],
            SeatEvent::Break => &[LoggedIn, Ready, WrapUp],
            SeatEvent::WrapUp => &[Ready, LoggedIn],
            SeatEvent::LogOut => &[LoggedIn, Ready, WrapUp, Break],
            SeatEvent::Take => &[Ready],
            SeatEvent::Release => &[Busy],
            SeatEvent::Return => &[Busy],
        }
    }

    /// The state it leads to.
    pub fn target(self) -> SeatState {
        match self {
            SeatEvent::LogIn | SeatEvent::NotReady => SeatState::LoggedIn,
            SeatEvent::Ready | SeatEvent::Return => SeatState::Ready,
            SeatEvent::Break => SeatState::Break,
            SeatEvent::WrapUp | SeatEvent::Release => SeatState::WrapUp,
            SeatEvent::LogOut => SeatState::LoggedOut,
            SeatEvent::Take => SeatState::Busy,
        }
    }

    /// A repeat finds it done in `state` (the seat is already there): nothing changes,
    /// and a ready seat keeps its place in the idle order.
    pub fn already_done(self, state: SeatState) -> bool {
        match self {
            SeatEvent::LogIn => state != SeatState::LoggedOut,
            SeatEvent::Take | SeatEvent::Release | SeatEvent::Return => false,
            e => state == e.target(),
        }
    }

    /// Whether a seat whose phone rings with an offered, unanswered call may do this:
    /// the operator did not pick up and steps away; the call is queued again first.
    pub fn leaves_ringing(self) -> bool {
        matches!(
            self,
            SeatEvent::NotReady | SeatEvent::Break | SeatEvent::LogOut
        )
    }

    /// Its record in the audit trail (with the new state).
    pub fn audit(self) -> AuditKind {
        AuditKind::SeatChanged
    }

    /// The state after the event, or why it cannot happen.
    pub fn apply(self, state: SeatState) -> Result<SeatState, String> {
        if self.allowed_from().contains(&state) {
            Ok(self.target())
        } else {
            Err(format!(
                "a seat that is {} cannot {}",
                state.name(),
                self.code().replace('_', " ")
            ))
        }
    }

    /// The event that puts a seat in `state` at the operator's (or switch's) request;
    /// busy is not requested, it is what taking a call does.
    pub fn to_reach(state: SeatState) -> Option<SeatEvent> {
        match state {
            SeatState::LoggedOut => Some(SeatEvent::LogOut),
            SeatState::LoggedIn => Some(SeatEvent::NotReady),
            SeatState::Ready => Some(SeatEvent::Ready),
            SeatState::WrapUp => Some(SeatEvent::WrapUp),
            SeatState::Break => Some(SeatEvent::Break),
            SeatState::Busy => None,
        }
    }
}

/// Checks a dialect code: 1 to 16 lowercase ASCII letters, digits or `-` (`yue`, `cq`).
pub fn dialect(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > MAX_DIALECT_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_DIALECT_CHARS} characters"),
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(FieldError::new(
            field,
            "must be lowercase letters, digits or '-'",
        ));
    }
    Ok(v.to_string())
}

/// What a call needs of the seat that takes it: hard requirements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// A dialect the seat must speak, if set.
    pub dialect: Option<String>,
    /// Only a supervisor's seat may take it.
    pub supervisor: bool,
}

/// What a seat can do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skills {
    /// Dialects spoken (Mandarin is assumed of every seat).
    pub dialects: Vec<String>,
    /// The seat is a supervisor's.
    pub supervisor: bool,
}

impl Skills {
    /// Whether the seat meets every requirement of a call.
    pub fn fit(&self, needs: &Needs) -> bool {
        (!needs.supervisor || self.supervisor)
            && needs
                .dialect
                .as_ref()
                .is_none_or(|d| self.dialects.iter().any(|s| s == d))
    }
}

/// A waiting call as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The switch's call id.
    pub id: String,
    /// Its queue score (lower first).
    pub score: i64,
    /// What it needs.
    pub needs: Needs,
}

/// A ready seat as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadySeat {
    /// The seat id.
    pub id: String,
    /// Ready since (ms): the longest idle goes first.
    pub idle_since_ms: i64,
    /// What it can do.
    pub skills: Skills,
}

/// The queue score of a call that arrived at `arrived_ms`: lower is answered first.
pub fn queue_score(arrived_ms: i64, elderly: bool, head_start_ms: i64) -> i64 {
    crate::priority::queue_score(
        arrived_ms,
        crate::priority::priority(elderly),
        head_start_ms,
    )
}

/// Which ready seat takes which waiting call: the calls in queue order (score, then id),
/// each to the longest-idle ready seat (idle since, then id) that meets its needs; a call
/// no remaining seat can take is passed over and waits. Looks at no more than
/// [`ROUTE_SCAN_CALLS`] calls and [`ROUTE_SCAN_SEATS`] seats (the script reads no more).
pub fn route(calls: &[Waiting], seats: &[ReadySeat]) -> Vec<(String, String)> {
    let mut calls: Vec<&Waiting> = calls.iter().collect();
    calls.sort_by(|a, b| a.score.cmp(&b.score).then_with(|| a.id.cmp(&b.id)));
    calls.truncate(ROUTE_SCAN_CALLS);
    let mut seats: Vec<&ReadySeat> = seats.iter().collect();
    seats.sort_by(|a, b| {
        a.idle_since_ms
            .cmp(&b.idle_since_ms)
            .then_with(|| a.id.cmp(&b.id))
    });
    seats.truncate(ROUTE_SCAN_SEATS);
    let mut out = Vec::new();
    for call in calls {
        if seats.is_empty() {
            break;
        }
        if let Some(i) = seats.iter().position(|s| s.skills.fit(&call.needs)) {
            out.push((call.id.clone(), seats.remove(i).id.clone()));
        }
    }
    out
}

/// The histogram bin of a speed of answer: 1 s bins below a minute, 5 s bins below five
/// minutes, 30 s bins below half an hour, then one bin for the rest. Kept per hour and
/// day by the script, so a p90 costs a bounded read.
pub fn answer_bin(ms: i64) -> u32 {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => s as u32,
        60..300 => 60 + ((s - 60) / 5) as u32,
        300..1800 => 108 + ((s - 300) / 30) as u32,
        _ => 158,
    }
}

/// The upper edge of a bin (ms): a quantile read from the bins is at most this.
pub fn bin_upper_ms(bin: u32) -> i64 {
    let b = i64::from(bin);
    let s = match bin {
        0..60 => b + 1,
        60..108 => 60 + (b - 59) * 5,
        108..158 => 300 + (b - 107) * 30,
        _ => 3600,
    };
    s * 1000
}

/// The `q`-quantile of a histogram `(bin, count)`, as the upper edge of the bin holding
/// it (nearest rank); `None` when empty.
pub fn quantile_of_bins(bins: &[(u32, u64)], q: f64) -> Option<i64> {
    let total: u64 = bins.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut sorted = bins.to_vec();
    sorted.sort_unstable();
    let mut seen = 0;
    for (bin, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some(bin_upper_ms(bin));
        }
    }
    None
}

/// A KPI period's label: the hour (`YYYYMMDDHH`) or day (`YYYYMMDD`) in China time
/// (UTC+8), where the line is.
pub fn period_labels(now_ms: i64) -> (String, String) {
    let secs = now_ms.div_euclid(1000) + 8 * 3600;
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    (
        t.format("%Y%m%d%H").to_string(),
        t.format("%Y%m%d").to_string(),
    )
}

/// One group's counters in a period, as the script keeps them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Calls that arrived.
    pub arrived: u64,
    /// Calls answered.
    pub answered: u64,
    /// Calls abandoned in the queue.
    pub abandoned: u64,
    /// Sum of the answered calls' speeds of answer (ms).
    pub answer_ms_sum: u64,
    /// Answered within [`SERVICE_LEVEL_MS`].
    pub within_service_level: u64,
    /// Call-backs raised for abandoned calls.
    pub callbacks_raised: u64,
    /// Call-backs done (resolved).
    pub callbacks_done: u64,
    /// Of those, done within [`CALLBACK_PROMPT_MS`] of the abandonment.
    pub callbacks_prompt: u64,
    /// Speed-of-answer histogram, `(bin, count)`.
    pub bins: Vec<(u32, u64)>,
}

/// A group's KPIs in a period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kpis {
    /// Answered / (answered + abandoned): of the calls that stopped waiting, how many a
    /// person took.
    pub answer_rate: f64,
    /// Abandoned / (answered + abandoned).
    pub abandon_rate: f64,
    /// Mean speed of answer (ms).
    pub mean_answer_ms: i64,
    /// p90 speed of answer (ms, the upper edge of its histogram bin).
    pub p90_answer_ms: i64,
    /// p50 speed of answer (ms, likewise).
    pub median_answer_ms: i64,
    /// Answered within 20 s / (answered + abandoned).
    pub service_level: f64,
    /// Call-backs done within 15 minutes / call-backs done.
    pub callbacks_prompt_share: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Counters {
    /// The KPIs of these counters (rates are 0 when nothing happened).
    pub fn kpis(&self) -> Kpis {
        let settled = self.answered + self.abandoned;
        Kpis {
            answer_rate: ratio(self.answered, settled),
            abandon_rate: ratio(self.abandoned, settled),
            mean_answer_ms: self.answer_ms_sum.checked_div(self.answered).unwrap_or(0) as i64,
            p90_answer_ms: quantile_of_bins(&self.bins, 0.9).unwrap_or(0),
            median_answer_ms: quantile_of_bins(&self.bins, 0.5).unwrap_or(0),
            service_level: ratio(self.within_service_level, settled),
            callbacks_prompt_share: ratio(self.callbacks_prompt, self.callbacks_done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_transition_table() {
        use CallEvent as E;
        use CallState as S;
        let table = [
            (E::Offer, S::Queued, Some(S::Offered)),
            (E::Answer, S::Queued, Some(S::Answered)),
            (E::Answer, S::Offered, Some(S::Answered)),
            (E::Abandon, S::Queued, Some(S::Abandoned)),
            (E::Abandon, S::Offered, Some(S::Abandoned)),
            (E::Transfer, S::Answered, Some(S::Queued)),
            (E::End, S::Answered, Some(S::Ended)),
            (E::Requeue, S::Offered, Some(S::Queued)),
        ];
        for e in CallEvent::ALL {
            for s in CallState::ALL {
                let want = table
                    .iter()
                    .find(|(te, ts, _)| *te == e && *ts == s)
                    .and_then(|(_, _, t)| *t);
                assert_eq!(e.apply(s).ok(), want, "{e:?} from {s:?}");
            }
        }
    }

    #[test]
    fn no_call_event_is_both_allowed_and_done() {
        for e in CallEvent::ALL {
            for s in CallState::ALL {
                assert!(
                    !(e.allowed_from().contains(&s) && e.already_done(s))
                        || e == CallEvent::Transfer,
                    "{e:?} {s:?}"
                );
            }
        }
        // Ended and abandoned calls take nothing more.
        for e in CallEvent::ALL {
            assert!(e.apply(CallState::Ended).is_err());
            assert!(e.apply(CallState::Abandoned).is_err());
        }
        assert!(
            CallEvent::Answer
                .apply(CallState::Abandoned)
                .unwrap_err()
                .contains("abandoned")
        );
    }

    #[test]
    fn seat_transition_table() {
        use SeatEvent as E;
        use SeatState::*;
        for e in SeatEvent::ALL {
            for s in SeatState::ALL {
                let ok = e.apply(s).is_ok();
                let want = match e {
                    E::LogIn => s == LoggedOut,
                    E::Ready => matches!(s, LoggedIn | WrapUp | Break),
                    E::NotReady => matches!(s, Ready | WrapUp | Break),
                    E::Break => matches!(s, LoggedIn | Ready | WrapUp),
                    E::WrapUp => matches!(s, Ready | LoggedIn),
                    E::LogOut => !matches!(s, LoggedOut | Busy),
                    E::Take => s == Ready,
                    E::Release | E::Return => s == Busy,
                };
                assert_eq!(ok, want, "{e:?} from {s:?}");
                if ok {
                    assert!(!e.already_done(s), "{e:?} {s:?} is not a repeat");
                }
            }
        }
        // A busy seat never goes to a break on its own (its call must end first) and a
        // seat on a break never takes a call.
        assert!(E::Break.apply(Busy).is_err());
        assert!(E::Take.apply(Break).unwrap_err().contains("on a break"));
        for s in SeatState::ALL {
            if let Some(e) = SeatEvent::to_reach(s) {
                assert_eq!(e.target(), s);
            }
        }
        assert_eq!(SeatEvent::to_reach(Busy), None);
        assert!(E::Break.leaves_ringing() && !E::Ready.leaves_ringing());
    }

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut codes: Vec<&str> = CallState::ALL.iter().map(|s| s.code()).collect();
        codes.extend(SeatState::ALL.iter().map(|s| s.code()));
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(
            set.len(),
            codes.len(),
            "no two call or seat states share a code"
        );
        let others: Vec<&str> = crate::order::OrderStatus::ALL
            .iter()
            .map(|s| s.code())
            .chain(crate::taxi::TaxiState::ALL.iter().map(|s| s.code()))
            .collect();
        for c in &codes {
            assert!(!others.contains(c), "{c} is an order or taxi state's code");
        }
        for s in CallState::ALL {
            assert_eq!(CallState::from_code(s.code()), Some(s));
        }
        for s in SeatState::ALL {
            assert_eq!(SeatState::from_code(s.code()), Some(s));
        }
    }

    fn w(id: &str, score: i64, needs: Needs) -> Waiting {
        Waiting {
            id: id.into(),
            score,
            needs,
        }
    }

    fn seat(id: &str, idle: i64, dialects: &[&str], supervisor: bool) -> ReadySeat {
        ReadySeat {
            id: id.into(),
            idle_since_ms: idle,
            skills: Skills {
                dialects: dialects.iter().map(|d| d.to_string()).collect(),
                supervisor,
            },
        }
    }

    #[test]
    fn older_callers_go_first_but_never_by_more_than_the_head_start() {
        let h = 90_000;
        let other = queue_score(1_000_000, false, h);
        let older_soon = queue_score(1_000_000 + h - 1, true, h);
        let older_late = queue_score(1_000_000 + h + 1, true, h);
        assert!(
            older_soon < other,
            "an older caller within the bound goes first"
        );
        assert!(
            older_late > other,
            "past the bound the other caller goes first"
        );
        assert_eq!(queue_score(5, true, 0), queue_score(5, false, 0), "FCFS");
    }

    #[test]
    fn the_longest_idle_fitting_seat_takes_the_first_call() {
        let none = Needs::default();
        let calls = [
            w("c2", 20, none.clone()),
            w("c1", 10, none.clone()),
            w("c3", 30, none.clone()),
        ];
        let seats = [seat("s1", 500, &[], false), seat("s2", 100, &[], false)];
        assert_eq!(
            route(&calls, &seats),
            vec![("c1".into(), "s2".into()), ("c2".into(), "s1".into())]
        );
        assert!(route(&calls, &[]).is_empty());
        assert!(route(&[], &seats).is_empty());
    }

    #[test]
    fn skills_are_hard_requirements_and_unfit_calls_are_passed_over() {
        let yue = Needs {
            dialect: Some("yue".into()),
            supervisor: false,
        };
        let sup = Needs {
            dialect: None,
            supervisor: true,
        };
        let calls = [
            w("needs-yue", 1, yue.clone()),
            w("needs-sup", 2, sup.clone()),
            w("plain", 3, Needs::default()),
        ];
        // Only a plain seat: the two calls it cannot take wait; the plain one is taken.
        let seats = [seat("s", 0, &[], false)];
        assert_eq!(route(&calls, &seats), vec![("plain".into(), "s".into())]);
        // A Cantonese supervisor idle longest takes the first call it fits, and the
        // plain seat the plain call.
        let seats = [
            seat("plainseat", 5, &[], false),
            seat("boss", 1, &["yue"], true),
        ];
        assert_eq!(
            route(&calls, &seats),
            vec![
                ("needs-yue".into(), "boss".into()),
                ("plain".into(), "plainseat".into())
            ]
        );
        let both = Needs {
            dialect: Some("yue".into()),
            supervisor: true,
        };
        assert!(!seat("x", 0, &["yue"], false).skills.fit(&both));
        assert!(seat("x", 0, &["cq", "yue"], true).skills.fit(&both));
    }

    #[test]
    fn ties_break_by_id_so_routing_is_deterministic() {
        let calls = [w("b", 1, Needs::default()), w("a", 1, Needs::default())];
        let seats = [seat("y", 7, &[], false), seat("x", 7, &[], false)];
        assert_eq!(
            route(&calls, &seats),
            vec![("a".into(), "x".into()), ("b".into(), "y".into())]
        );
    }

    #[test]
    fn bins_cover_every_speed_and_their_edges_bound_it() {
        let mut last = 0;
        for s in 0..4000 {
            let ms = s * 1000 + 999;
            let b = answer_bin(ms);
            assert!(b >= last, "bins grow with the speed");
            last = b;
            if s < 1800 {
                assert!(bin_upper_ms(b) > ms, "{ms} in bin {b}");
                assert!(b == 0 || bin_upper_ms(b - 1) <= ms, "{ms} in bin {b}");
            }
        }
        assert_eq!(answer_bin(-5), 0);
        assert_eq!(answer_bin(20_000), 20);
        assert_eq!(answer_bin(i64::MAX), 158);
    }

    #[test]
    fn quantiles_of_bins() {
        assert_eq!(quantile_of_bins(&[], 0.9), None);
        // 9 calls answered in the first second, 1 at 45 s: p90 is the first bin's
        // edge, the p100 the 45 s bin's.
        let bins = [(45, 1), (0, 9)];
        assert_eq!(quantile_of_bins(&bins, 0.9), Some(1000));
        assert_eq!(quantile_of_bins(&bins, 1.0), Some(46_000));
        assert_eq!(quantile_of_bins(&bins, 0.5), Some(1000));
    }

    #[test]
    fn kpis_from_counters() {
        let c = Counters {
            arrived: 10,
            answered: 6,
            abandoned: 2,
            answer_ms_sum: 60_000,
            within_service_level: 4,
            callbacks_raised: 2,
            callbacks_done: 2,
            callbacks_prompt: 1,
            bins: vec![(5, 4), (30, 2)],
        };
        let k = c.kpis();
        assert_eq!(k.answer_rate, 0.75);
        assert_eq!(k.abandon_rate, 0.25);
        assert_eq!(k.mean_answer_ms, 10_000);
        assert_eq!(k.service_level, 0.5);
        assert_eq!(k.callbacks_prompt_share, 0.5);
        assert_eq!(k.p90_answer_ms, 31_000);
        assert_eq!(Counters::default().kpis(), Kpis::default());
    }

    #[test]
    fn periods_are_china_time() {
        // 2026-11-30 23:30 UTC is 2026-12-01 07:30 in China.
        let ms = chrono::DateTime::parse_from_rfc3339("2026-11-30T23:30:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            period_labels(ms),
            ("2026120107".to_string(), "20261201".to_string())
        );
    }

    #[test]
    fn dialects_are_checked() {
        assert_eq!(dialect("d", " yue ").unwrap(), "yue");
        assert_eq!(dialect("d", "").unwrap_err().field, "d");
        assert!(dialect("d", "Yue").is_err());
        assert!(dialect("d", "a-very-long-dialect-name").is_err());
    }
}
