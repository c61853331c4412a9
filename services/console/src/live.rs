//! The live feed (`GET /console/api/events`, Server-Sent Events) and what keeps it honest.
//!
//! Every change is a record of the city's audit trail (`{c}:events`), sent as an event
//! `change` whose SSE `id` is the record's stream id. A reconnecting page sends the last id
//! it saw (`Last-Event-ID`, or `?after=` for a new `EventSource`) and gets every record
//! after it; when records after it were trimmed, it gets `reload` (with the newest id) and
//! loads a snapshot. A fresh page gets `hello` with the newest id and loads a snapshot.
//!
//! Besides: `call` (the phone switch classified a call to this city, through whichever
//! process of the city: `{c}:console:calls`; or the call queue routed a call to this
//! operator's own seat: `{c}:cc:assignments`, `routed` set), `escalation` (to supervisors: an alert nobody acknowledged in time),
//! `status` (`{"store":"unavailable"|"ok"}` while Redis does not answer: the feed keeps
//! its place and resumes by itself), `expired` (the access token ran out: refresh and
//! reconnect), and a comment every [`HEARTBEAT`] so that the page and proxies notice a
//! dead link. The stream ends at shutdown, when the page goes, or when the session is
//! revoked.
//!
//! The SSE id of every event is the feed's [`Cursor`]: the last audit-trail record, call
//! and seat assignment it has passed, so a reconnecting page resumes all three. Calls
//! missed while away are replayed only if younger than [`CALL_FRESH`]: a caller waiting
//! longer has been answered or has hung up.
//!
//! Each open feed reads the trail every [`POLL`] (an `XRANGE` after its last id, at most
//! [`PAGE`] records): cheap for a call centre's tens of consoles, and no blocking
//! connection per browser.

use crate::Shared;
use crate::error::ApiError;
use crate::session;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::sse::{Event, Sse};
use futures::Stream;
use http::{Extensions, HeaderMap};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use taxi_auth::{Caller, Role};
use taxi_store::callcentre::Assignment;
use taxi_store::console::{AnnouncedCall, EventsPage};
use tokio::sync::mpsc;

/// How often an open feed reads the trail.
pub const POLL: Duration = Duration::from_millis(100);
/// How often a quiet feed sends a comment.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// At most this many records per read.
pub const PAGE: usize = 500;
/// What the feed stands for in the policy table: reading the city's orders.
pub const FEED_RPC: &str = "/taxi.v1.DispatchService/ListPendingOrders";
/// A call older than this is not popped (on a resume after a long break, or when it was
/// routed to a seat long ago).
pub const CALL_FRESH: Duration = Duration::from_secs(60);

/// Where a feed stands in the three streams it follows; written as the SSE id
/// `<events>_<calls>_<assignments>` (stream ids hold no `_`). An id of the older form,
/// the events' id alone, resumes the events and starts the other two now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cursor {
    /// The last audit-trail record passed ('' before the first).
    pub events: String,
    /// The last classified call passed.
    pub calls: Option<String>,
    /// The last routing decision passed.
    pub assignments: Option<String>,
}

impl Cursor {
    /// Reads an SSE id; `None` when it is not one this feed wrote.
    pub fn parse(text: &str) -> Option<Self> {
        let stream_id = |s: &str| {
            let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
            !ms.is_empty()
                && ms.bytes().all(|b| b.is_ascii_digit())
                && !seq.is_empty()
                && seq.bytes().all(|b| b.is_ascii_digit())
        };
        let parts: Vec<&str> = text.split('_').collect();
        match parts.as_slice() {
            [e] if stream_id(e) => Some(Self {
                events: e.to_string(),
                ..Self::default()
            }),
            [e, c, a] if (e.is_empty() || stream_id(e)) && stream_id(c) && stream_id(a) => {
                Some(Self {
                    events: e.to_string(),
                    calls: Some(c.to_string()),
                    assignments: Some(a.to_string()),
                })
            }
            _ => None,
        }
    }

    /// The SSE id.
    pub fn id(&self) -> String {
        format!(
            "{}_{}_{}",
            self.events,
            self.calls.as_deref().unwrap_or("0-0"),
            self.assignments.as_deref().unwrap_or("0-0")
        )
    }
}

/// An alert escalated to the supervisors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    /// The alert.
    pub alert_id: String,
    /// The older person's name.
    pub name: String,
    /// When it was raised (ms).
    pub raised_ms: i64,
    /// When it escalated (ms).
    pub escalated_ms: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FeedQuery {
    after: Option<String>,
}

/// `GET /console/api/events`.
pub(crate) async fn events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(q): Query<FeedQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let caller = session::admit_as(&shared, FEED_RPC, &headers, &extensions)?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.after)
        .filter(|a| !a.is_empty())
        .and_then(|a| Cursor::parse(&a));
    let (tx, rx) = mpsc::channel::<Event>(256);
    tokio::spawn(feed(shared, caller, after, tx));
    let stream =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Ok(Sse::new(stream))
}

fn json_event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name))
}

/// One read of the three streams after the cursor.
struct Read {
    events: EventsPage,
    calls: Vec<AnnouncedCall>,
    assignments: Vec<Assignment>,
}

/// Reads what follows `at` (the events as resumed when `resume` holds the id to check
/// against trimming), setting the cursor's missing streams to their newest ids first.
async fn read(
    store: &taxi_store::Store,
    at: &mut Cursor,
    resume: Option<&str>,
) -> Result<Read, taxi_store::StoreError> {
    if at.calls.is_none() || at.assignments.is_none() {
        let tails = store.console_tails().await?;
        at.calls.get_or_insert(tails.calls);
        at.assignments.get_or_insert(tails.assignments);
    }
    let events = match resume {
        Some(after) => store.events_after(after, PAGE).await?,
        None => EventsPage::Records(store.audit_trail(&at.events, PAGE).await?),
    };
    let calls = store
        .calls_after(at.calls.as_deref().unwrap_or_default(), PAGE)
        .await?;
    let assignments = store
        .assignments_after(at.assignments.as_deref().unwrap_or_default(), PAGE)
        .await?;
    Ok(Read {
        events,
        calls,
        assignments,
    })
}

async fn feed(shared: Arc<Shared>, caller: Caller, after: Option<Cursor>, tx: mpsc::Sender<Event>) {
    let store = &shared.store;
    let supervisor = caller.identity.role == Role::Supervisor;
    let seat = caller.identity.id.clone();
    let mut escalations = shared.escalations.subscribe();
    // Where the page is: resumed (the events checked against trimming once) or starting now.
    let mut resumed = after.is_some();
    let mut at = after.unwrap_or_default();
    let mut started = false;
    let mut store_ok = true;
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let fresh = |at_ms: i64| store.now_ms() - at_ms <= CALL_FRESH.as_millis() as i64;
    // EventSource reconnects after `retry` ms when the link drops.
    if tx
        .send(Event::default().retry(Duration::from_millis(1000)))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tx.closed() => return,
            () = caller.revoked() => {
                let _ = tx.send(json_event("expired", &serde_json::json!({"reason": "revoked"}))).await;
                return;
            }
            _ = poll.tick() => {
                let result = if !started && !resumed {
                    // A fresh page: every stream from its newest record on.
                    match store.events_newest().await {
                        Ok(newest) => {
                            at.events = newest;
                            at.calls = None;
                            at.assignments = None;
                            // Whatever the read finds after the newest ids is new.
                            read(store, &mut at, None).await
                        }
                        Err(e) => Err(e),
                    }
                } else if !started {
                    let after = at.events.clone();
                    read(store, &mut at, Some(&after)).await
                } else {
                    read(store, &mut at, None).await
                };
                match result {
                    Ok(page) => {
                        if !started && !resumed {
                            let hello = Event::default().id(at.id()).event("hello").data("{}");
                            if tx.send(hello).await.is_err() { return; }
                        }
                        started = true;
                        resumed = false;
                        if !store_ok {
                            store_ok = true;
                            if tx.send(json_event("status", &serde_json::json!({"store": "ok"}))).await.is_err() { return; }
                        }
                        match page.events {
                            EventsPage::Records(records) => {
                                for r in records {
                                    at.events = r.id.clone();
                                    let mut data = serde_json::Map::new();
                                    data.insert("id".into(), r.id.clone().into());
                                    for (k, v) in &r.fields {
                                        data.insert(k.clone(), v.clone().into());
                                    }
                                    let e = json_event("change", &data).id(at.id());
                                    if tx.send(e).await.is_err() { return; }
                                }
                            }
                            EventsPage::Trimmed { newest } => {
                                at.events = newest;
                                let e = Event::default().id(at.id()).event("reload").data("{}");
                                if tx.send(e).await.is_err() { return; }
                            }
                        }
                        for call in page.calls {
                            at.calls = Some(call.id.clone());
                            if !fresh(call.at_ms) { continue; }
                            let data = serde_json::json!({
                                "phone": call.phone, "known": call.known,
                                "elderly": call.elderly, "at_ms": call.at_ms, "routed": false,
                            });
                            if tx.send(json_event("call", &data).id(at.id())).await.is_err() { return; }
                        }
                        for a in page.assignments {
                            at.assignments = Some(a.seq.clone());
                            if a.seat != seat || !fresh(a.at_ms) { continue; }
                            // The call's number, for the card: the record holds it.
                            let Ok(Some(call)) = store.call_record(&a.call).await else { continue; };
                            let data = serde_json::json!({
                                "phone": call.phone, "known": true, "elderly": a.elderly,
                                "at_ms": a.at_ms, "routed": true, "call_id": a.call,
                            });
                            if tx.send(json_event("call", &data).id(at.id())).await.is_err() { return; }
                        }
                    }
                    Err(e) => {
                        if store_ok {
                            store_ok = false;
                            tracing::debug!(error = %e, "console feed: store unavailable");
                            if tx.send(json_event("status", &serde_json::json!({"store": "unavailable"}))).await.is_err() { return; }
                        }
                    }
                }
            }
            _ = heartbeat.tick() => {
                if caller.identity.expires_ms <= store.now_ms() {
                    let _ = tx.send(json_event("expired", &serde_json::json!({"reason": "expired"}))).await;
                    return;
                }
                if tx.send(Event::default().comment("hb")).await.is_err() { return; }
            }
            e = escalations.recv(), if supervisor => {
                if let Ok(e) = e
                    && tx.send(json_event("escalation", &e)).await.is_err() { return; }
            }
        }
    }
}

/// Watches the open alerts and escalates to the supervisors each one nobody acknowledged
/// within `escalate_after` (once per process; the list of escalated open alerts is what
/// `GET /console/api/escalations` answers). Runs until shutdown.
pub(crate) async fn escalate(shared: Arc<Shared>) {
    let after = shared.settings.escalate_after;
    let every = (after / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut told: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Ok(open) = shared.store.list_alerts(false, 500).await else {
            continue;
        };
        let now = shared.store.now_ms();
        let due: Vec<_> = open
            .into_iter()
            .filter(|a| now - a.raised_ms >= after.as_millis() as i64)
            .collect();
        let mut current = Vec::with_capacity(due.len());
        for a in due {
            let e = Escalation {
                alert_id: a.id.clone(),
                name: a.name.clone(),
                raised_ms: a.raised_ms,
                escalated_ms: now,
            };
            if told.insert(a.id.clone()) {
                tracing::warn!(alert_id = %a.id, "alert not acknowledged in time: escalated to supervisors");
                let _ = shared.escalations.send(e.clone());
            }
            current.push(e);
        }
        let ids: HashSet<&String> = current.iter().map(|e| &e.alert_id).collect();
        told.retain(|id| ids.contains(id));
        if let Ok(mut list) = shared.escalated.lock() {
            *list = current;
        }
    }
}

/// `GET /console/api/escalations`: open alerts past the escalation time (stands for
/// `ListAlerts`).
pub(crate) async fn escalations(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Json<Vec<Escalation>>, ApiError> {
    session::admit_as(
        &shared,
        "/taxi.v1.HotlineService/ListAlerts",
        &headers,
        &extensions,
    )?;
    let list = shared
        .escalated
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    Ok(Json(list))
}

/// An order a taxi holds, as the in-progress list shows it.
#[derive(Debug, Serialize)]
pub(crate) struct InProgress {
    order_id: String,
    status: &'static str,
    passenger_name: String,
    elderly: bool,
    taxi_id: String,
    /// The taxi's plate: what an operator reads out.
    plate: String,
    pickup_address: String,
    create_ms: i64,
    update_ms: i64,
}

/// `GET /console/api/in-progress`: orders held by taxis, newest first (stands for
/// `ListPendingOrders`: the same readers see the city's orders).
pub(crate) async fn in_progress(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Json<Vec<InProgress>>, ApiError> {
    session::admit_as(&shared, FEED_RPC, &headers, &extensions)?;
    let orders = shared
        .store
        .orders_in_progress(200)
        .await
        .map_err(|e| ApiError::new(tonic::Code::Unavailable, e.to_string()))?;
    let taxis: Vec<String> = orders
        .iter()
        .map(|(taxi, o)| o.taxi.clone().unwrap_or_else(|| taxi.clone()))
        .collect();
    let plates = shared
        .store
        .plates_of(&taxis)
        .await
        .map_err(|e| ApiError::new(tonic::Code::Unavailable, e.to_string()))?;
    Ok(Json(
        orders
            .into_iter()
            .zip(taxis.into_iter().zip(plates))
            .map(|((_, o), (taxi_id, plate))| InProgress {
                order_id: o.id,
                status: o.status.code(),
                passenger_name: o.name,
                elderly: o.elderly.is_some(),
                taxi_id,
                plate,
                pickup_address: o.pickup.address,
                create_ms: o.created_ms,
                update_ms: o.updated_ms,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn the_cursor_round_trips_and_reads_the_older_form() {
        let c = Cursor {
            events: "1700000000000-3".into(),
            calls: Some("1700000000001-0".into()),
            assignments: Some("0-0".into()),
        };
        assert_eq!(c.id(), "1700000000000-3_1700000000001-0_0-0");
        assert_eq!(Cursor::parse(&c.id()), Some(c));
        // An empty trail: no events yet.
        assert_eq!(
            Cursor::parse("_5-0_6-1").map(|c| c.events),
            Some(String::new())
        );
        // The events' id alone: the others start now.
        let old = Cursor::parse("1700000000000-3").unwrap();
        assert_eq!(old.events, "1700000000000-3");
        assert_eq!((old.calls, old.assignments), (None, None));
        for bad in [
            "",
            "x",
            "1-0_2-0",
            "1-0_2-0_",
            "1-0_a-0_3-0",
            "1-0_2-0_3-0_4-0",
            "1-",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
