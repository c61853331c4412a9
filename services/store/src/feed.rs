//! What the services wait on, typed, reconnecting inside the store: [`Wakeups`] for
//! dispatch workers, [`Store::on_notices`] and [`Store::notices_for`] for driver streams.
//!
//! # The driver feed
//! Scripts append one notice per taxi to the city's driver feed (a Redis stream, capped
//! at about [`StoreConfig::feed_len`](crate::StoreConfig) entries) in the same atomic step
//! as the transition, so a notice exists exactly when its transition happened. The
//! stream id is the notice's sequence id: ordered, unique, and what a driver stream
//! resumes from. One reader per process follows the feed with a blocking `XREAD` from
//! the last id it handed over, so a reconnection loses nothing; only when that id has
//! been trimmed away does the reader hand over [`Notice::Resync`] (read what every taxi
//! holds again). A stream that fell behind, or a driver that reconnects with its last
//! sequence id, replays its taxi's notices from the feed ([`Store::notices_for`]).
//!
//! Why one stream per city rather than one per taxi: the taxi an offer goes to is chosen
//! inside the dispatch script, so a per-taxi stream's key could not be declared before
//! the call, and every key a script touches is declared (Redis Cluster).

use crate::conn::{Conn, Timeouts};
use crate::{Store, StoreError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The kinds of notice a driver stream receives; the scripts' `NOTICE.<code>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// An order is offered to the taxi.
    Offer,
    /// An operator assigned an order to the taxi.
    Assigned,
    /// An offer was taken back (declined, expired, taken by another taxi, assigned).
    Withdrawn,
    /// The order the taxi held was cancelled.
    Cancelled,
    /// The taxi was signed off (missed offers).
    SignedOff,
    /// A privacy number was bound to the trip of the order the taxi holds (the stream
    /// reads it from the order, so a number released meanwhile is not sent).
    PrivacyNumber,
    /// A recurring trip the taxi is paired with was made, changed, confirmed, refused or
    /// cancelled (issue 14): the stream tells the driver to look at the coming trips.
    Paired,
}

impl NoticeKind {
    /// Every kind.
    pub const ALL: [NoticeKind; 7] = [
        NoticeKind::Offer,
        NoticeKind::Assigned,
        NoticeKind::Withdrawn,
        NoticeKind::Cancelled,
        NoticeKind::SignedOff,
        NoticeKind::PrivacyNumber,
        NoticeKind::Paired,
    ];

    /// Its code in notices.
    pub fn code(self) -> &'static str {
        match self {
            NoticeKind::Offer => "offer",
            NoticeKind::Assigned => "assigned",
            NoticeKind::Withdrawn => "withdrawn",
            NoticeKind::Cancelled => "cancelled",
            NoticeKind::SignedOff => "signed_off",
            NoticeKind::PrivacyNumber => "privacy_number",
            NoticeKind::Paired => "paired",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// An offer as the dispatch script publishes it with its notice, so delivering it reads
/// nothing from Redis.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct OfferPayload {
    /// Pickup latitude (WGS-84), as stored.
    pub p_lat: String,
    /// Pickup longitude.
    pub p_lon: String,
    /// Pickup address.
    pub p_addr: String,
    /// Drop-off latitude ('' if none).
    pub d_lat: String,
    /// Drop-off longitude ('' if none).
    pub d_lon: String,
    /// Drop-off address.
    pub d_addr: String,
    /// Needs, comma-separated codes.
    pub needs: String,
    /// Notes for the driver.
    pub notes: String,
    /// Payment code.
    pub pay: String,
    /// The passenger's phone (the edge masks it).
    pub phone: String,
    /// Passengers.
    pub pax: String,
    /// The older passenger's reason ('' if not older).
    pub elderly: String,
    /// Distance from the taxi to the pickup, metres.
    pub dist: f64,
    /// The offer's deadline, epoch ms.
    pub deadline: i64,
}

/// A notice for one taxi.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Something happened to `taxi`.
    Taxi {
        /// Its sequence id in the driver feed (`<ms>-<n>`).
        seq: Seq,
        /// The taxi.
        taxi: String,
        /// What.
        kind: NoticeKind,
        /// The order concerned ('' for a sign-off).
        order: String,
        /// Why, in words.
        reason: String,
        /// The offer itself, with [`NoticeKind::Offer`].
        offer: Option<Box<OfferPayload>>,
    },
    /// Notices may have been lost (the feed was trimmed past the reader): read the
    /// truth again.
    Resync,
}

#[derive(serde::Deserialize)]
struct Wire {
    taxi: String,
    kind: String,
    order: String,
    reason: String,
    #[serde(default)]
    offer: Option<OfferPayload>,
}

/// A notice's place in the driver feed: a Redis stream id, ordered as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence within the millisecond.
    pub n: u64,
}

impl Seq {
    /// Parses `<ms>-<n>`.
    pub fn parse(text: &str) -> Option<Self> {
        let (ms, n) = text.split_once('-')?;
        Some(Self {
            ms: ms.parse().ok()?,
            n: n.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.n)
    }
}

/// A taxi's notices after a sequence id, from the feed.
#[derive(Debug, Clone, PartialEq)]
pub enum Replay {
    /// Every notice for the taxi after the id, in order (possibly none).
    Notices(Vec<Notice>),
    /// The feed no longer reaches back to the id: read what the taxi holds instead.
    Trimmed,
}

/// A stream entry: its id and fields.
type Entry = (String, Vec<(String, String)>);

/// Most feed entries one replay reads before it calls the rest trimmed.
const REPLAY_MAX_ENTRIES: usize = 20_000;
/// Entries per read while replaying or following the feed.
const FEED_PAGE: usize = 500;
/// How long the feed reader blocks in one `XREAD`.
const FEED_BLOCK: Duration = Duration::from_secs(1);

impl Notice {
    /// Decodes a notice's JSON, found at `seq` in the feed.
    pub fn parse(seq: Seq, text: &str) -> Option<Self> {
        let w: Wire = serde_json::from_str(text).ok()?;
        Some(Notice::Taxi {
            seq,
            taxi: w.taxi,
            kind: NoticeKind::from_code(&w.kind)?,
            order: w.order,
            reason: w.reason,
            offer: w.offer.map(Box::new),
        })
    }
}

/// A dispatch worker's wait for work, on a connection of its own (a blocking command
/// must not stall the shared one), reconnected inside as needed.
pub struct Wakeups {
    store: Store,
    conn: Option<Conn>,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups")
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl Wakeups {
    /// Waits until work may be waiting or `timeout` passes; returns the order id the
    /// wake-up names (a hint of the queue's head), if any.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<String>, StoreError> {
        if self.conn.is_none() {
            let t = Timeouts {
                connect: self.store.config().connect_timeout,
                // The blocking wait brings its own bound; a second more for the reply.
                response: Some(timeout + Duration::from_secs(1)),
            };
            self.conn = Some(Conn::open("wakeups", &self.store.target, t)?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let got: Result<Option<(String, String)>, redis::RedisError> = redis::cmd("BLPOP")
            .arg(&self.store.keys.wakeup)
            .arg(timeout.as_secs_f64())
            .query_async(conn)
            .await;
        match got {
            Ok(v) => Ok(v.map(|(_, order)| order)),
            Err(e) => {
                self.conn = None;
                Err(e.into())
            }
        }
    }
}

impl Store {
    /// A wait for dispatch work, for one worker.
    pub fn wakeups(&self) -> Wakeups {
        Wakeups {
            store: self.clone(),
            conn: None,
        }
    }

    /// Hands the city's driver notices to `deliver`, in feed order, until `shutdown`:
    /// follows the feed from its end on a connection of its own, resumes from the last
    /// notice handed over after any failure, and hands over [`Notice::Resync`] only if
    /// the feed was trimmed past that notice meanwhile. `deliver` runs on the reader's
    /// own task, so it must not block (the hub only queues).
    pub async fn on_notices(
        &self,
        shutdown: CancellationToken,
        mut deliver: impl FnMut(Notice) + Send,
    ) {
        let mut conn: Option<Conn> = None;
        // None until the feed's end is known.
        let mut cursor: Option<Seq> = None;
        let mut failing = false;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => {
                    let t = Timeouts {
                        connect: self.config().connect_timeout,
                        response: Some(FEED_BLOCK + self.config().response_timeout),
                    };
                    match Conn::open("notices", &self.target, t) {
                        Ok(c) => conn.insert(c),
                        Err(e) => {
                            tracing::error!(error = %e, "driver notices: cannot open a connection");
                            return;
                        }
                    }
                }
            };
            let step = tokio::select! {
                r = self.follow_feed(c, &mut cursor, &mut deliver, failing) => r,
                () = shutdown.cancelled() => return,
            };
            match step {
                Ok(()) => failing = false,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "driver notices: feed unreadable; retrying from the last notice");
                    }
                    failing = true;
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(200)) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    /// One step of following the feed: learn its end, or read what came after `cursor`
    /// (blocking up to a second). After a failure, checks first that the feed still
    /// reaches back to `cursor`.
    async fn follow_feed(
        &self,
        conn: &mut Conn,
        cursor: &mut Option<Seq>,
        deliver: &mut (impl FnMut(Notice) + Send),
        after_failure: bool,
    ) -> Result<(), StoreError> {
        let Some(from) = *cursor else {
            *cursor = Some(self.feed_end(conn).await?);
            return Ok(());
        };
        if after_failure && self.feed_trimmed_past(conn, from).await? {
            tracing::warn!(after = %from, "driver notices: feed trimmed past the reader; resyncing every stream");
            *cursor = Some(self.feed_end(conn).await?);
            deliver(Notice::Resync);
            return Ok(());
        }
        let reply: Option<Vec<(String, Vec<Entry>)>> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(FEED_PAGE)
            .arg("BLOCK")
            .arg(FEED_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.keys.feed)
            .arg(from.to_string())
            .query_async(conn)
            .await?;
        for (_, entries) in reply.unwrap_or_default() {
            for (id, fields) in entries {
                let Some(seq) = Seq::parse(&id) else { continue };
                *cursor = Some(seq);
                match entry_notice(seq, &fields) {
                    Some(n) => deliver(n),
                    None => tracing::warn!(%id, "driver notices: unreadable notice"),
                }
            }
        }
        Ok(())
    }

    /// The id of the feed's newest entry (`0-0` if it is empty).
    async fn feed_end(&self, conn: &mut Conn) -> Result<Seq, StoreError> {
        let last: Vec<Entry> = redis::cmd("XREVRANGE")
            .arg(&self.keys.feed)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(conn)
            .await?;
        Ok(last
            .first()
            .and_then(|(id, _)| Seq::parse(id))
            .unwrap_or_default())
    }

    /// Whether entries after `after` may have been removed (or the feed is gone), from
    /// `XINFO STREAM`: `max-deleted-entry-id` covers `XDEL` only, not trimming (checked on
    /// Redis 7.0), so a trim is judged by what is left: an empty feed that once went past
    /// `after`, or a first entry newer than `after` while entries were removed. The
    /// second is conservative (it may call a gap that held nothing a trim); the answer to
    /// a trim is a resync, which is always safe.
    async fn feed_trimmed_past(&self, conn: &mut Conn, after: Seq) -> Result<bool, StoreError> {
        let info: redis::Value = match redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&self.keys.feed)
            .query_async(conn)
            .await
        {
            Ok(v) => v,
            // No feed at all: nothing after `after` is known (unless nothing came before).
            Err(e)
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) =>
            {
                return Ok(after != Seq::default());
            }
            Err(e) => return Err(e.into()),
        };
        let id = |name: &str| {
            field(&info, name)
                .and_then(|t| Seq::parse(&t))
                .unwrap_or_default()
        };
        let count = |name: &str| {
            field(&info, name)
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let (length, added) = (count("length"), count("entries-added"));
        if id("max-deleted-entry-id") > after {
            return Ok(true);
        }
        Ok(if length == 0 {
            id("last-generated-id") > after
        } else {
            id("recorded-first-entry-id") > after && added > length
        })
    }

    /// `taxi`'s notices after `after`, from the feed: for a stream that fell behind, or
    /// a driver that reconnects with the sequence id it last saw. Reads at most
    /// `REPLAY_MAX_ENTRIES` entries of the city's feed; beyond that (or past its trimmed
    /// start) the answer is [`Replay::Trimmed`].
    pub async fn notices_for(&self, taxi: &str, after: Seq) -> Result<Replay, StoreError> {
        let mut conn = self.conn.clone();
        if self.feed_trimmed_past(&mut conn, after).await? {
            return Ok(Replay::Trimmed);
        }
        let mut out = Vec::new();
        let mut from = after;
        let mut read = 0;
        loop {
            let page: Vec<Entry> = redis::cmd("XRANGE")
                .arg(&self.keys.feed)
                .arg(format!("({from}"))
                .arg("+")
                .arg("COUNT")
                .arg(FEED_PAGE)
                .query_async(&mut conn)
                .await?;
            let n = page.len();
            for (id, fields) in page {
                let Some(seq) = Seq::parse(&id) else { continue };
                from = seq;
                if fields.iter().any(|(k, v)| k == "taxi" && v == taxi)
                    && let Some(notice) = entry_notice(seq, &fields)
                {
                    out.push(notice);
                }
            }
            read += n;
            if n < FEED_PAGE {
                return Ok(Replay::Notices(out));
            }
            if read >= REPLAY_MAX_ENTRIES {
                return Ok(Replay::Trimmed);
            }
        }
    }
}

/// What a taxi holds, as a stream starting from the state sees it (see [`Store::holding`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holding {
    /// The order the taxi holds (offered, assigned or on trip), if any.
    pub order: Option<String>,
    /// The open offer's deadline (ms), when the held order is on offer to it.
    pub offer_deadline: Option<i64>,
    /// The feed's newest sequence id at that moment (the default for an empty feed):
    /// every notice up to it is reflected in the above; every later one is not yet.
    pub seq: Seq,
}

impl Store {
    /// What `taxi` holds now, read in one atomic step with the driver feed's newest id.
    /// A stream that (re)starts by sending this skips the notices up to that id: a notice
    /// written just before the read is then not sent a second time, and one written after
    /// it is not missed.
    pub async fn holding(&self, taxi: &str) -> Result<Holding, StoreError> {
        let crate::scripts::HoldingReply::Holding {
            order,
            deadline,
            seq,
        } = self.call(&crate::scripts::Holding { taxi }).await?;
        Ok(Holding {
            order: (!order.is_empty()).then_some(order),
            offer_deadline: (deadline >= 0.0).then_some(deadline as i64),
            seq: Seq::parse(&seq).unwrap_or_default(),
        })
    }
}

/// A field of an `XINFO` reply (a flat array or, on RESP3, a map), as text.
fn field(info: &redis::Value, name: &str) -> Option<String> {
    use redis::Value;
    let text = |v: &Value| match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    };
    match info {
        Value::Array(items) => items
            .chunks(2)
            .find(|kv| text(&kv[0]).as_deref() == Some(name))
            .and_then(|kv| kv.get(1).and_then(text)),
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| text(k).as_deref() == Some(name))
            .and_then(|(_, v)| text(v)),
        _ => None,
    }
}

/// The notice in a feed entry's fields.
fn entry_notice(seq: Seq, fields: &[(String, String)]) -> Option<Notice> {
    let (_, text) = fields.iter().find(|(k, _)| k == "n")?;
    Notice::parse(seq, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_decode() {
        let seq = Seq::parse("1700000000000-3").unwrap();
        let n = Notice::parse(
            seq,
            r#"{"taxi":"T1","kind":"withdrawn","order":"O1","reason":"declined"}"#,
        )
        .unwrap();
        assert_eq!(
            n,
            Notice::Taxi {
                seq,
                taxi: "T1".into(),
                kind: NoticeKind::Withdrawn,
                order: "O1".into(),
                reason: "declined".into(),
                offer: None
            }
        );
        assert!(
            Notice::parse(seq, r#"{"taxi":"T1","kind":"nope","order":"","reason":""}"#).is_none()
        );
    }

    #[test]
    fn sequence_ids_order_as_numbers() {
        let a = Seq::parse("999-9").unwrap();
        let b = Seq::parse("1000-0").unwrap();
        assert!(a < b);
        assert!(Seq::parse("1000-2").unwrap() > Seq::parse("1000-10").map(|_| b).unwrap());
        assert_eq!(b.to_string(), "1000-0");
        assert!(Seq::parse("1000").is_none());
        assert!(Seq::parse("x-1").is_none());
    }
}
