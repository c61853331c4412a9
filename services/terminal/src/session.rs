//! One terminal's TCP session: the state it is in (connected, authenticated as a taxi)
//! and what each message does in it. Every message a terminal sends is answered, as JT/T
//! 808 asks: registration with 0x8100, the rest with the platform's general reply 0x8001.

use crate::Gateway;
use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use taxi_domain::taxi::TaxiEvent;
use taxi_jtt808::message::{
    Authenticate, Location, Register, RegisterReply, Reply, register_result, result,
};
use taxi_jtt808::{Body, Codec, Header, Packet};
use taxi_proto::v1 as pb;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// Wrong authentication codes before the connection is closed.
const MAX_BAD_CODES: u32 = 3;
/// Frames that cannot be read before the connection is closed.
const MAX_BAD_FRAMES: u32 = 20;

/// An authenticated session: the terminal and its taxi.
#[derive(Debug)]
struct Authed {
    phone: String,
    taxi: String,
}

struct Session {
    gw: Gateway,
    id: u64,
    peer: SocketAddr,
    authed: Option<Authed>,
    serial: u16,
    bad_codes: u32,
    /// Cancelled when the terminal authenticates on another connection.
    replaced: CancellationToken,
    /// Whether the last report had the emergency bit (an alert is raised when it sets).
    alarm_on: bool,
    /// The 905 orders this terminal heard of.
    orders: crate::orders::Orders,
    /// The protocol version the terminal speaks (the platform answers in kind).
    version: Option<u8>,
    /// A report just handed over, whose reply waits for its fixes to be stored.
    later: Option<(Header, Report)>,
}

/// A location report being stored: its reply is sent once `stored` answers.
struct Report {
    /// The answer for its fixes (`None`: it had none to store).
    stored: Option<tokio::sync::oneshot::Receiver<bool>>,
    /// A fix was refused by the checks.
    refused: bool,
    /// It raised an alarm.
    alarmed: bool,
}

impl Report {
    /// The general reply's result once the fixes are stored.
    async fn result(&mut self) -> u8 {
        let stored = match self.stored.as_mut() {
            Some(rx) => rx.await.unwrap_or(false),
            None => true,
        };
        match (stored && !self.refused, self.alarmed) {
            (true, true) => result::ALARM_CONFIRMED,
            (true, false) => result::OK,
            (false, _) => result::FAILED,
        }
    }
}

/// Replies a session owes, oldest first, at most this many (then it stops reading frames
/// until the oldest are answered).
const OWED: usize = 512;

/// Runs one connection until the terminal leaves, falls silent, is replaced, or `stop`.
pub(crate) async fn run(
    gw: Gateway,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    stop: CancellationToken,
) {
    // Frames are at most 2 KiB (escaped) and most are under 100 bytes: small buffers that
    // grow when needed keep an idle session light (the defaults are 8 KiB each way).
    let mut parts = tokio_util::codec::FramedParts::new::<Packet>(stream, Codec::default());
    parts.read_buf = bytes::BytesMut::with_capacity(256);
    let mut framed = Framed::from_parts(parts);
    let mut s = Session {
        gw,
        id,
        peer,
        authed: None,
        serial: 0,
        bad_codes: 0,
        replaced: CancellationToken::new(),
        alarm_on: false,
        orders: crate::orders::Orders::default(),
        version: Some(1),
        later: None,
    };
    let mut owed: std::collections::VecDeque<(Header, Report)> = std::collections::VecDeque::new();
    let mut bad_frames = 0;
    // The taxi's dispatch events, once the terminal authenticated.
    let mut events: Option<tokio::sync::mpsc::Receiver<taxi_driver::hub::Sent>> = None;
    loop {
        if events.is_none()
            && let Some(a) = &s.authed
        {
            events = Some(
                s.gw.hub
                    .open(&a.taxi, None, s.replaced.clone(), std::future::pending()),
            );
        }
        let next = tokio::select! {
            e = async {
                match events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                match e.map(|sent| *sent) {
                    Some(Ok(pb::StreamDispatchesResponse { event: Some(event), .. })) => {
                        let now = s.gw.store.now_ms();
                        let bodies = s.orders.event(event, now);
                        let mut failed = false;
                        for body in bodies {
                            let to = s.header();
                            let p = s.packet(&to, body);
                            failed |= framed.send(p).await.is_err();
                        }
                        if failed {
                            break;
                        }
                    }
                    Some(_) => {}
                    // The hub ended the stream (shutdown, or another session took it).
                    None => events = None,
                }
                continue;
            }
            code = async {
                match owed.front_mut() {
                    Some((_, r)) => r.result().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some((h, _)) = owed.pop_front() {
                    let reply = s.reply(&h, code);
                    if framed.send(reply).await.is_err() {
                        break;
                    }
                }
                continue;
            }
            n = tokio::time::timeout(s.gw.idle, framed.next()), if owed.len() < OWED => n,
            () = stop.cancelled() => break,
            () = s.replaced.cancelled() => {
                tracing::info!(%peer, "terminal authenticated on another connection: this one closed");
                break;
            }
        };
        let item = match next {
            Err(_) => {
                tracing::info!(%peer, phone = ?s.authed.as_ref().map(|a| &a.phone), "terminal silent: session closed");
                break;
            }
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(item))) => item,
        };
        let packet = match item {
            Ok(p) => p,
            Err(e) => {
                bad_frames += 1;
                tracing::debug!(%peer, error = %e, "unreadable terminal frame");
                if bad_frames > MAX_BAD_FRAMES {
                    break;
                }
                continue;
            }
        };
        // Boxed: handling a message (store calls) is large and brief; inline, every idle
        // session's task would be that large.
        let (answers, close) = Box::pin(s.handle(packet)).await;
        if let Some(owing) = s.later.take() {
            owed.push_back(owing);
        }
        let mut failed = false;
        for answer in answers {
            failed |= framed.send(answer).await.is_err();
        }
        if failed {
            break;
        }
        if close {
            break;
        }
    }
    s.leave();
}

impl Session {
    /// A header to this session's terminal, for a message the platform starts.
    fn header(&self) -> Header {
        let phone = self
            .authed
            .as_ref()
            .map(|a| a.phone.clone())
            .unwrap_or_default();
        let mut h = Header::new(0, &phone, 0);
        h.version = self.version;
        h
    }

    fn packet(&mut self, to: &Header, body: Body) -> Packet {
        self.serial = self.serial.wrapping_add(1);
        let mut header = Header::new(body.id(), &to.phone, self.serial);
        header.version = to.version;
        Packet { header, body }
    }

    fn reply(&mut self, to: &Header, code: u8) -> Packet {
        let body = Body::PlatformReply(Reply {
            serial: to.serial,
            id: to.id,
            result: code,
        });
        self.packet(to, body)
    }

    /// What a message does; the answer, and whether to close the connection.
    async fn handle(&mut self, p: Packet) -> (Vec<Packet>, bool) {
        let h = p.header;
        self.version = h.version;
        if let Some(a) = &self.authed
            && a.phone != h.phone
        {
            tracing::warn!(peer = %self.peer, session = %a.phone, frame = %h.phone, "a frame for another terminal refused");
            return (vec![self.reply(&h, result::FAILED)], false);
        }
        match p.body {
            Body::Register(r) => {
                let body = self.register(&h, r).await;
                (vec![self.packet(&h, body)], false)
            }
            Body::Authenticate(a) => {
                let ok = self.authenticate(&h, a).await;
                let close = !ok && self.bad_codes >= MAX_BAD_CODES;
                let code = if ok { result::OK } else { result::FAILED };
                (vec![self.reply(&h, code)], close)
            }
            _ if self.authed.is_none() => (vec![self.reply(&h, result::FAILED)], false),
            Body::Heartbeat => (vec![self.reply(&h, result::OK)], false),
            Body::Location(l) => {
                let r = self.report(std::slice::from_ref(&l)).await;
                self.later = Some((h, r));
                (vec![], false)
            }
            Body::LocationBatch(b) => {
                let r = self.report(&b.items).await;
                self.later = Some((h, r));
                (vec![], false)
            }
            Body::TerminalReply(_) => (vec![], false),
            Body::Grab(id) => {
                let taxi = self
                    .authed
                    .as_ref()
                    .map(|a| a.taxi.clone())
                    .unwrap_or_default();
                let gw = self.gw.clone();
                let (code, then) = self.orders.grab(&gw, &taxi, id).await;
                let mut out = vec![self.reply(&h, code)];
                if let Some(body) = then {
                    let to = self.header();
                    out.push(self.packet(&to, body));
                }
                (out, false)
            }
            Body::OrderCompleted(id) => {
                let taxi = self
                    .authed
                    .as_ref()
                    .map(|a| a.taxi.clone())
                    .unwrap_or_default();
                let code = self.orders.complete(&self.gw, &taxi, id).await;
                (vec![self.reply(&h, code)], false)
            }
            Body::DriverCancel(c) => {
                let taxi = self
                    .authed
                    .as_ref()
                    .map(|a| a.taxi.clone())
                    .unwrap_or_default();
                let code = self.orders.cancel(&self.gw, &taxi, c.business_id).await;
                (vec![self.reply(&h, code)], false)
            }
            _ => (vec![self.reply(&h, result::UNSUPPORTED)], false),
        }
    }

    async fn register(&mut self, h: &Header, r: Register) -> Body {
        let answer = |result: u8, code: String| {
            Body::RegisterReply(RegisterReply {
                serial: h.serial,
                result,
                auth_code: code,
            })
        };
        let store = &self.gw.store;
        let taxi = match store.terminal_taxi(&h.phone).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                tracing::info!(phone = %h.phone, plate = %r.plate, "registration of an unknown terminal refused");
                return answer(register_result::NO_TERMINAL, String::new());
            }
            Err(e) => {
                tracing::warn!(error = %e, "terminal registration: store unavailable");
                return answer(register_result::NO_TERMINAL, String::new());
            }
        };
        match store.get_taxi(&taxi).await {
            Ok(t) if t.plate == r.plate => {}
            _ => {
                tracing::info!(phone = %h.phone, plate = %r.plate, taxi, "registration with another plate refused");
                return answer(register_result::NO_VEHICLE, String::new());
            }
        }
        let code = taxi_auth::key::new_secret();
        let salt = taxi_auth::key::new_secret();
        let stored = format!("{salt}:{}", taxi_auth::key::hash(&salt, &code));
        if let Err(e) = store.set_terminal_code(&h.phone, &stored).await {
            tracing::warn!(error = %e, "terminal registration: code not stored");
            return answer(register_result::NO_TERMINAL, String::new());
        }
        tracing::info!(phone = %h.phone, taxi, "terminal registered");
        answer(register_result::OK, code)
    }

    async fn authenticate(&mut self, h: &Header, a: Authenticate) -> bool {
        let store = &self.gw.store;
        let (stored, taxi) = match (
            store.terminal_code(&h.phone).await,
            store.terminal_taxi(&h.phone).await,
        ) {
            (Ok(Some(s)), Ok(Some(t))) => (s, t),
            _ => {
                taxi_auth::key::verify_nothing(&a.auth_code);
                self.bad_codes += 1;
                return false;
            }
        };
        let ok = stored
            .split_once(':')
            .is_some_and(|(salt, hash)| taxi_auth::key::verify(salt, hash, &a.auth_code));
        if !ok {
            self.bad_codes += 1;
            tracing::info!(phone = %h.phone, "terminal authentication refused");
            return false;
        }
        // One terminal, one session: the older one ends.
        if let Ok(mut live) = self.gw.sessions.lock()
            && let Some((id, old)) = live.insert(h.phone.clone(), (self.id, self.replaced.clone()))
            && id != self.id
        {
            old.cancel();
        }
        match store.transition_taxi(&taxi, TaxiEvent::SignOn).await {
            Ok(_) | Err(taxi_store::StoreError::TaxiRefused { .. }) => {}
            Err(e) => tracing::warn!(error = %e, taxi, "terminal's taxi not signed on"),
        }
        tracing::info!(phone = %h.phone, taxi, peer = %self.peer, "terminal authenticated");
        self.authed = Some(Authed {
            phone: h.phone.clone(),
            taxi,
        });
        true
    }

    /// Hands the fixes of `locations` over to be stored (unfixed reports skipped) and
    /// raises an alarm's alert; the reply waits for the fixes.
    async fn report(&mut self, locations: &[Location]) -> Report {
        let Some(a) = &self.authed else {
            return Report {
                stored: None,
                refused: true,
                alarmed: false,
            };
        };
        let now = self.gw.store.now_ms();
        let mut fixes = Vec::with_capacity(locations.len());
        let mut refused = 0;
        let taxi = a.taxi.clone();
        let mut alarmed = false;
        for l in locations {
            // The emergency button: an operator alert when the bit sets (a terminal keeps
            // it set in every report until the alarm is cleared).
            if l.emergency() && !self.alarm_on {
                self.raise_alarm(&taxi, l).await;
                alarmed = true;
            }
            self.alarm_on = l.emergency();
        }
        for l in locations.iter().filter(|l| l.fixed()) {
            let ms = l.time.to_unix_ms();
            let report = pb::PositionReport {
                position: Some(pb::LatLng {
                    latitude: l.latitude,
                    longitude: l.longitude,
                    datum: pb::Datum::Wgs84 as i32,
                }),
                taxi_id: taxi.clone(),
                fix_time: Some(taxi_proto::Timestamp {
                    seconds: ms.div_euclid(1000),
                    nanos: 0,
                }),
                heading_degrees: f32::from(l.direction.min(360)),
                speed_kmh: f32::from(l.speed) / 10.0,
            };
            match taxi_driver::positions::check(&report, now, &self.gw.settings) {
                Ok(fix) => fixes.push(fix),
                Err(e) => {
                    refused += 1;
                    tracing::debug!(%taxi, field = %e.field, reason = %e.reason, "terminal fix refused");
                }
            }
        }
        let stored = if fixes.is_empty() {
            None
        } else {
            Some(self.gw.fixes.store(fixes).await)
        };
        Report {
            stored,
            refused: refused > 0,
            alarmed,
        }
    }

    /// Raises an operator alert for the taxi's emergency alarm, at the report's position.
    async fn raise_alarm(&self, taxi: &str, l: &Location) {
        let store = &self.gw.store;
        let (plate, driver, phone) = match store.get_taxi(taxi).await {
            Ok(t) => (t.plate, t.driver_name, t.driver_phone),
            Err(_) => (String::new(), String::new(), String::new()),
        };
        let Ok(at) = taxi_domain::geo::Coordinates::new(l.latitude, l.longitude) else {
            tracing::warn!(
                taxi,
                "a terminal's emergency alarm without a usable position"
            );
            return;
        };
        let alert = taxi_store::devices::NewAlert {
            device: String::new(),
            taxi: taxi.to_string(),
            phone,
            name: format!("出租车 {plate} {driver}").trim().to_string(),
            location: taxi_store::orders::PlaceRec {
                at,
                address: format!("车载终端报警位置（{plate}）"),
            },
            location_ms: Some(l.time.to_unix_ms()),
            contacts: vec![],
        };
        let window = self.gw.settings.alert_repeat_window.as_millis() as i64;
        match store.raise_alert(&alert, window).await {
            Ok((a, created)) => {
                tracing::warn!(taxi, alert_id = %a.id, created, "a terminal's emergency alarm")
            }
            Err(e) => tracing::error!(error = %e, taxi, "a terminal's emergency alarm NOT raised"),
        }
    }

    fn leave(&self) {
        if let Some(a) = &self.authed
            && let Ok(mut live) = self.gw.sessions.lock()
            && live.get(&a.phone).is_some_and(|(id, _)| *id == self.id)
        {
            live.remove(&a.phone);
        }
    }
}
