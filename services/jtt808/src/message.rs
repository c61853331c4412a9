//! The typed bodies the gateway speaks, by message ID.
//!
//! JT/T 808-2019: general replies (0x0001 terminal, 0x8001 platform), heartbeat 0x0002,
//! registration 0x0100 and its reply 0x8100, authentication 0x0102, location 0x0200 and
//! batches 0x0704. JT/T 905 (the taxi's 电召 flow): the order broadcast 0x8B00, the driver's
//! grab 0x0B01, the order's details to the winner 0x8B01, the platform's cancellation
//! 0x8B09, the driver's completion 0x0B07 and cancellation 0x0B08. The 905 bodies are laid
//! out as this gateway reads JT/T 905.4's tables: a DWORD business ID first, positions as
//! in 808 (1e-6 degrees, latitude first), times as BCD[6] (GMT+8), and each text a GBK
//! string with a BYTE length before it. Any other ID decodes as [`Body::Other`].

use crate::error::DecodeError;
use crate::wire::{Reader, bcd, fixed, gbk, short_text, to_bcd};

/// Message IDs.
pub mod id {
    /// Terminal general reply.
    pub const TERMINAL_REPLY: u16 = 0x0001;
    /// Platform general reply.
    pub const PLATFORM_REPLY: u16 = 0x8001;
    /// Terminal heartbeat.
    pub const HEARTBEAT: u16 = 0x0002;
    /// Terminal registration.
    pub const REGISTER: u16 = 0x0100;
    /// Registration reply.
    pub const REGISTER_REPLY: u16 = 0x8100;
    /// Terminal authentication.
    pub const AUTHENTICATE: u16 = 0x0102;
    /// Location report.
    pub const LOCATION: u16 = 0x0200;
    /// Batch of location reports.
    pub const LOCATION_BATCH: u16 = 0x0704;
    /// 905: an order offered to taxis (电召订单下发).
    pub const ORDER_OFFER: u16 = 0x8B00;
    /// 905: the driver grabs an order (抢单).
    pub const GRAB: u16 = 0x0B01;
    /// 905: the order's details, to the taxi that got it.
    pub const ORDER_DETAILS: u16 = 0x8B01;
    /// 905: the order is off for this taxi (taken by another, cancelled).
    pub const ORDER_CANCELLED: u16 = 0x8B09;
    /// 905: the driver completed the order.
    pub const ORDER_COMPLETED: u16 = 0x0B07;
    /// 905: the driver cancels the order.
    pub const DRIVER_CANCEL: u16 = 0x0B08;
}

/// Results of a general reply.
pub mod result {
    /// Success / acknowledged.
    pub const OK: u8 = 0;
    /// Failure.
    pub const FAILED: u8 = 1;
    /// The message was malformed.
    pub const BAD_MESSAGE: u8 = 2;
    /// Not supported.
    pub const UNSUPPORTED: u8 = 3;
    /// (Platform) alarm handling confirmed.
    pub const ALARM_CONFIRMED: u8 = 4;
}

/// 905 business types (业务类型) of an order offer 0x8B00 or its details 0x8B01.
pub mod order_kind {
    /// 即时召车: a ride now, offered to several taxis; the first grab wins.
    pub const NOW: u8 = 0;
    /// 预约召车: a ride booked ahead.
    pub const BOOKED: u8 = 1;
    /// 车辆指派: the centre assigns the order to this taxi alone; the driver confirms it
    /// with the same grab 0x0B01 or turns it down with 0x0B08.
    pub const ASSIGNED: u8 = 2;
}

/// Results of a registration reply (0x8100).
pub mod register_result {
    /// Registered: the authentication code follows.
    pub const OK: u8 = 0;
    /// The vehicle is registered to another terminal.
    pub const VEHICLE_TAKEN: u8 = 1;
    /// No such vehicle.
    pub const NO_VEHICLE: u8 = 2;
    /// The terminal is registered already.
    pub const TERMINAL_TAKEN: u8 = 3;
    /// No such terminal.
    pub const NO_TERMINAL: u8 = 4;
}

/// A general reply (0x0001 or 0x8001).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The serial number of the message answered.
    pub serial: u16,
    /// Its ID.
    pub id: u16,
    /// One of [`result`].
    pub result: u8,
}

/// Terminal registration (0x0100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// Province (GB/T 2260, first two digits).
    pub province: u16,
    /// City or county (GB/T 2260, last four digits).
    pub city: u16,
    /// Manufacturer ID (11 bytes in 2019, 5 in 2013).
    pub maker: String,
    /// Terminal model (30 / 20 bytes).
    pub model: String,
    /// Terminal ID (30 / 7 bytes).
    pub terminal_id: String,
    /// Plate colour (JT/T 697.7; 0: not registered).
    pub plate_color: u8,
    /// The plate (GBK), or the VIN when the colour is 0.
    pub plate: String,
}

/// Registration reply (0x8100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterReply {
    /// The serial number of the registration.
    pub serial: u16,
    /// One of [`register_result`].
    pub result: u8,
    /// The authentication code (only with [`register_result::OK`]).
    pub auth_code: String,
}

/// Terminal authentication (0x0102).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticate {
    /// The code the registration reply gave.
    pub auth_code: String,
    /// The terminal's IMEI (2019; 15 bytes).
    pub imei: String,
    /// Its software version (2019; 20 bytes).
    pub software: String,
}

/// A time as terminals send it: BCD[6] YYMMDDhhmmss, Beijing time (GMT+8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    /// 2000-2099.
    pub year: u16,
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub day: u8,
    /// 0-23.
    pub hour: u8,
    /// 0-59.
    pub minute: u8,
    /// 0-59.
    pub second: u8,
}

impl Time {
    fn read(r: &mut Reader<'_>, what: &'static str) -> Result<Time, DecodeError> {
        let digits = bcd(r.bytes(6, what)?, what)?;
        let n = |i: usize| digits[i..i + 2].parse::<u8>().unwrap_or(99);
        let t = Time {
            year: 2000 + u16::from(n(0)),
            month: n(2),
            day: n(4),
            hour: n(6),
            minute: n(8),
            second: n(10),
        };
        if t.date_time().is_none() {
            return Err(DecodeError::Field {
                field: what,
                reason: "not a date and time",
            });
        }
        Ok(t)
    }

    fn write(&self, out: &mut Vec<u8>) {
        let digits = format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}",
            self.year % 100,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second
        );
        out.extend(to_bcd(&digits, 6, "time").unwrap_or_else(|_| vec![0; 6]));
    }

    /// The calendar time it names, if it names one.
    fn date_time(&self) -> Option<chrono::NaiveDateTime> {
        chrono::NaiveDate::from_ymd_opt(i32::from(self.year), self.month.into(), self.day.into())?
            .and_hms_opt(self.hour.into(), self.minute.into(), self.second.into())
    }

    /// Milliseconds since the Unix epoch (0 for a time that names no calendar time, which
    /// decoding never returns).
    pub fn to_unix_ms(&self) -> i64 {
        self.date_time()
            .and_then(|t| t.and_local_timezone(beijing()).single())
            .map_or(0, |t| t.timestamp_millis())
    }

    /// The Beijing time of `ms` since the Unix epoch (whole seconds; years 2000-2099).
    pub fn from_unix_ms(ms: i64) -> Time {
        use chrono::{Datelike, Timelike};
        let t = chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&beijing());
        Time {
            year: t.year().clamp(2000, 2099) as u16,
            month: t.month() as u8,
            day: t.day() as u8,
            hour: t.hour() as u8,
            minute: t.minute() as u8,
            second: t.second() as u8,
        }
    }
}

/// Beijing time (GMT+8), the zone of every terminal's time.
fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset")
}

/// Alarm bits of a location report.
pub mod alarm {
    /// Bit 0: the emergency button (紧急报警).
    pub const EMERGENCY: u32 = 1;
}

/// Status bits of a location report.
pub mod status {
    /// Bit 1: the position is fixed.
    pub const FIXED: u32 = 1 << 1;
    /// Bit 2: south latitude.
    pub const SOUTH: u32 = 1 << 2;
    /// Bit 3: west longitude.
    pub const WEST: u32 = 1 << 3;
}

/// A location report (0x0200), and each item of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// Alarm bits ([`alarm`]).
    pub alarm: u32,
    /// Status bits ([`status`]).
    pub status: u32,
    /// Degrees, WGS-84, north positive (the sign comes from the status bits).
    pub latitude: f64,
    /// Degrees, WGS-84, east positive.
    pub longitude: f64,
    /// Metres above sea level.
    pub altitude: u16,
    /// Tenths of km/h.
    pub speed: u16,
    /// Degrees from north, 0-359.
    pub direction: u16,
    /// When the fix was taken.
    pub time: Time,
    /// Additional items (ID, bytes), kept as sent.
    pub extra: Vec<(u8, Vec<u8>)>,
}

impl Location {
    /// Whether the emergency button is pressed.
    pub fn emergency(&self) -> bool {
        self.alarm & alarm::EMERGENCY != 0
    }

    /// Whether the position is a fix (bit 1); an unfixed report's position means nothing.
    pub fn fixed(&self) -> bool {
        self.status & status::FIXED != 0
    }

    fn read(r: &mut Reader<'_>) -> Result<Location, DecodeError> {
        let alarm = r.u32("location: alarm")?;
        let status = r.u32("location: status")?;
        let lat = f64::from(r.u32("location: latitude")?) / 1e6;
        let lon = f64::from(r.u32("location: longitude")?) / 1e6;
        if lat > 90.0 || lon > 180.0 {
            return Err(DecodeError::Field {
                field: "location: latitude/longitude",
                reason: "out of range",
            });
        }
        let altitude = r.u16("location: altitude")?;
        let speed = r.u16("location: speed")?;
        let direction = r.u16("location: direction")?;
        let time = Time::read(r, "location: time")?;
        let mut extra = Vec::new();
        while r.left() > 0 {
            let id = r.u8("location: extra item ID")?;
            let len = r.u8("location: extra item length")? as usize;
            extra.push((id, r.bytes(len, "location: extra item")?.to_vec()));
        }
        Ok(Location {
            alarm,
            status,
            latitude: if status & status::SOUTH != 0 {
                -lat
            } else {
                lat
            },
            longitude: if status & status::WEST != 0 {
                -lon
            } else {
                lon
            },
            altitude,
            speed,
            direction,
            time,
            extra,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        let mut status = self.status & !(status::SOUTH | status::WEST);
        if self.latitude < 0.0 {
            status |= status::SOUTH;
        }
        if self.longitude < 0.0 {
            status |= status::WEST;
        }
        let micro = |deg: f64| (deg.abs() * 1e6).round().min(f64::from(u32::MAX)) as u32;
        out.extend_from_slice(&self.alarm.to_be_bytes());
        out.extend_from_slice(&status.to_be_bytes());
        out.extend_from_slice(&micro(self.latitude).to_be_bytes());
        out.extend_from_slice(&micro(self.longitude).to_be_bytes());
        out.extend_from_slice(&self.altitude.to_be_bytes());
        out.extend_from_slice(&self.speed.to_be_bytes());
        out.extend_from_slice(&self.direction.to_be_bytes());
        self.time.write(out);
        for (id, bytes) in &self.extra {
            out.push(*id);
            let n = bytes.len().min(255);
            out.push(n as u8);
            out.extend_from_slice(&bytes[..n]);
        }
    }
}

/// A batch of location reports (0x0704).
#[derive(Debug, Clone, PartialEq)]
pub struct LocationBatch {
    /// 0: normal reports in a batch; 1: reports kept while out of coverage (盲区补报).
    pub kind: u8,
    /// The reports.
    pub items: Vec<Location>,
}

/// 905: an order offered to taxis (0x8B00).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderOffer {
    /// The gateway's business ID of the order (what a grab names).
    pub business_id: u32,
    /// The business type: one of [`order_kind`].
    pub kind: u8,
    /// When the passenger wants the taxi.
    pub pickup_time: Time,
    /// Pickup latitude, degrees.
    pub latitude: f64,
    /// Pickup longitude, degrees.
    pub longitude: f64,
    /// Where, in words.
    pub address: String,
    /// Anything the driver should know (an older passenger, a wheelchair).
    pub remark: String,
}

/// 905: the details of the order this taxi got (0x8B01).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDetails {
    /// The business ID.
    pub business_id: u32,
    /// The business type: one of [`order_kind`].
    pub kind: u8,
    /// When the passenger wants the taxi.
    pub pickup_time: Time,
    /// Pickup latitude, degrees.
    pub latitude: f64,
    /// Pickup longitude, degrees.
    pub longitude: f64,
    /// The passenger's phone number, masked (or a privacy number).
    pub phone: String,
    /// The passenger's name.
    pub name: String,
    /// Where, in words.
    pub address: String,
    /// Anything the driver should know.
    pub remark: String,
}

/// 905: the order is off for this taxi (0x8B09).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCancelled {
    /// The business ID.
    pub business_id: u32,
    /// 0: the passenger cancelled; 1: another taxi took it; 2: the platform withdrew it.
    pub reason: u8,
}

/// 905: the driver cancels the order (0x0B08).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverCancel {
    /// The business ID.
    pub business_id: u32,
    /// The driver's reason code (0: other; 1: cannot reach the passenger; 2: vehicle fault).
    pub reason: u8,
}

/// A message body, by ID.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// 0x0001.
    TerminalReply(Reply),
    /// 0x8001.
    PlatformReply(Reply),
    /// 0x0002.
    Heartbeat,
    /// 0x0100.
    Register(Register),
    /// 0x8100.
    RegisterReply(RegisterReply),
    /// 0x0102.
    Authenticate(Authenticate),
    /// 0x0200.
    Location(Location),
    /// 0x0704.
    LocationBatch(LocationBatch),
    /// 0x8B00.
    OrderOffer(OrderOffer),
    /// 0x0B01: the business ID grabbed.
    Grab(u32),
    /// 0x8B01.
    OrderDetails(OrderDetails),
    /// 0x8B09.
    OrderCancelled(OrderCancelled),
    /// 0x0B07: the business ID completed.
    OrderCompleted(u32),
    /// 0x0B08.
    DriverCancel(DriverCancel),
    /// Any other ID, its body as sent.
    Other {
        /// The ID.
        id: u16,
        /// The body.
        body: Vec<u8>,
    },
}

fn micro(r: &mut Reader<'_>, what: &'static str) -> Result<f64, DecodeError> {
    Ok(f64::from(r.u32(what)?) / 1e6)
}

fn put_micro(deg: f64, out: &mut Vec<u8>) {
    let v = (deg.clamp(0.0, 180.0) * 1e6).round() as u32;
    out.extend_from_slice(&v.to_be_bytes());
}

impl Body {
    /// Its message ID.
    pub fn id(&self) -> u16 {
        match self {
            Body::TerminalReply(_) => id::TERMINAL_REPLY,
            Body::PlatformReply(_) => id::PLATFORM_REPLY,
            Body::Heartbeat => id::HEARTBEAT,
            Body::Register(_) => id::REGISTER,
            Body::RegisterReply(_) => id::REGISTER_REPLY,
            Body::Authenticate(_) => id::AUTHENTICATE,
            Body::Location(_) => id::LOCATION,
            Body::LocationBatch(_) => id::LOCATION_BATCH,
            Body::OrderOffer(_) => id::ORDER_OFFER,
            Body::Grab(_) => id::GRAB,
            Body::OrderDetails(_) => id::ORDER_DETAILS,
            Body::OrderCancelled(_) => id::ORDER_CANCELLED,
            Body::OrderCompleted(_) => id::ORDER_COMPLETED,
            Body::DriverCancel(_) => id::DRIVER_CANCEL,
            Body::Other { id, .. } => *id,
        }
    }

    /// The body of message `id` (`v2019`: the header was a 2019 one).
    pub fn read(id: u16, v2019: bool, body: &[u8]) -> Result<Body, DecodeError> {
        let mut r = Reader::new(body);
        let reply = |r: &mut Reader<'_>| -> Result<Reply, DecodeError> {
            Ok(Reply {
                serial: r.u16("reply: serial")?,
                id: r.u16("reply: ID")?,
                result: r.u8("reply: result")?,
            })
        };
        let b = match id {
            id::TERMINAL_REPLY => Body::TerminalReply(reply(&mut r)?),
            id::PLATFORM_REPLY => Body::PlatformReply(reply(&mut r)?),
            id::HEARTBEAT => Body::Heartbeat,
            id::REGISTER => {
                let (maker, model, tid) = if v2019 { (11, 30, 30) } else { (5, 20, 7) };
                Body::Register(Register {
                    province: r.u16("register: province")?,
                    city: r.u16("register: city")?,
                    maker: gbk(r.bytes(maker, "register: manufacturer")?),
                    model: gbk(r.bytes(model, "register: model")?),
                    terminal_id: gbk(r.bytes(tid, "register: terminal ID")?),
                    plate_color: r.u8("register: plate colour")?,
                    plate: gbk(r.rest()),
                })
            }
            id::REGISTER_REPLY => Body::RegisterReply(RegisterReply {
                serial: r.u16("register reply: serial")?,
                result: r.u8("register reply: result")?,
                auth_code: gbk(r.rest()),
            }),
            id::AUTHENTICATE if v2019 => Body::Authenticate(Authenticate {
                auth_code: r.short_text("authenticate: code")?,
                imei: gbk(r.bytes(15, "authenticate: IMEI")?),
                software: gbk(r.bytes(20, "authenticate: software version")?),
            }),
            id::AUTHENTICATE => Body::Authenticate(Authenticate {
                auth_code: gbk(r.rest()),
                imei: String::new(),
                software: String::new(),
            }),
            id::LOCATION => Body::Location(Location::read(&mut r)?),
            id::LOCATION_BATCH => {
                let count = r.u16("batch: count")?;
                let kind = r.u8("batch: kind")?;
                // Each item is at least its length and 28 bytes: a count the body cannot
                // hold is refused before anything is allocated for it.
                if usize::from(count) * 30 > r.left() {
                    return Err(DecodeError::Truncated("batch: items"));
                }
                let mut items = Vec::with_capacity(count.into());
                for _ in 0..count {
                    let len = r.u16("batch: item length")? as usize;
                    let item = r.bytes(len, "batch: item")?;
                    items.push(Location::read(&mut Reader::new(item))?);
                }
                Body::LocationBatch(LocationBatch { kind, items })
            }
            id::ORDER_OFFER => Body::OrderOffer(OrderOffer {
                business_id: r.u32("offer: business ID")?,
                kind: r.u8("offer: kind")?,
                pickup_time: Time::read(&mut r, "offer: pickup time")?,
                latitude: micro(&mut r, "offer: latitude")?,
                longitude: micro(&mut r, "offer: longitude")?,
                address: r.short_text("offer: address")?,
                remark: r.short_text("offer: remark")?,
            }),
            id::GRAB => Body::Grab(r.u32("grab: business ID")?),
            id::ORDER_DETAILS => Body::OrderDetails(OrderDetails {
                business_id: r.u32("details: business ID")?,
                kind: r.u8("details: kind")?,
                pickup_time: Time::read(&mut r, "details: pickup time")?,
                latitude: micro(&mut r, "details: latitude")?,
                longitude: micro(&mut r, "details: longitude")?,
                phone: r.short_text("details: phone")?,
                name: r.short_text("details: name")?,
                address: r.short_text("details: address")?,
                remark: r.short_text("details: remark")?,
            }),
            id::ORDER_CANCELLED => Body::OrderCancelled(OrderCancelled {
                business_id: r.u32("cancelled: business ID")?,
                reason: r.u8("cancelled: reason")?,
            }),
            id::ORDER_COMPLETED => Body::OrderCompleted(r.u32("completed: business ID")?),
            id::DRIVER_CANCEL => Body::DriverCancel(DriverCancel {
                business_id: r.u32("driver cancel: business ID")?,
                reason: r.u8("driver cancel: reason")?,
            }),
            other => Body::Other {
                id: other,
                body: r.rest().to_vec(),
            },
        };
        Ok(b)
    }

    /// Appends the body to `out` (`v2019`: for a 2019 header).
    pub fn write(&self, v2019: bool, out: &mut Vec<u8>) {
        let reply = |r: &Reply, out: &mut Vec<u8>| {
            out.extend_from_slice(&r.serial.to_be_bytes());
            out.extend_from_slice(&r.id.to_be_bytes());
            out.push(r.result);
        };
        match self {
            Body::TerminalReply(r) | Body::PlatformReply(r) => reply(r, out),
            Body::Heartbeat => {}
            Body::Register(g) => {
                let (maker, model, tid) = if v2019 { (11, 30, 30) } else { (5, 20, 7) };
                out.extend_from_slice(&g.province.to_be_bytes());
                out.extend_from_slice(&g.city.to_be_bytes());
                fixed(&g.maker, maker, out);
                fixed(&g.model, model, out);
                fixed(&g.terminal_id, tid, out);
                out.push(g.plate_color);
                out.extend(crate::wire::to_gbk(&g.plate, 64));
            }
            Body::RegisterReply(g) => {
                out.extend_from_slice(&g.serial.to_be_bytes());
                out.push(g.result);
                out.extend(crate::wire::to_gbk(&g.auth_code, 255));
            }
            Body::Authenticate(a) if v2019 => {
                short_text(&a.auth_code, out);
                fixed(&a.imei, 15, out);
                fixed(&a.software, 20, out);
            }
            Body::Authenticate(a) => out.extend(crate::wire::to_gbk(&a.auth_code, 255)),
            Body::Location(l) => l.write(out),
            Body::LocationBatch(b) => {
                out.extend_from_slice(&(b.items.len() as u16).to_be_bytes());
                out.push(b.kind);
                for l in &b.items {
                    let mut item = Vec::new();
                    l.write(&mut item);
                    out.extend_from_slice(&(item.len() as u16).to_be_bytes());
                    out.extend(item);
                }
            }
            Body::OrderOffer(o) => {
                out.extend_from_slice(&o.business_id.to_be_bytes());
                out.push(o.kind);
                o.pickup_time.write(out);
                put_micro(o.latitude, out);
                put_micro(o.longitude, out);
                short_text(&o.address, out);
                short_text(&o.remark, out);
            }
            Body::Grab(b) | Body::OrderCompleted(b) => out.extend_from_slice(&b.to_be_bytes()),
            Body::OrderDetails(o) => {
                out.extend_from_slice(&o.business_id.to_be_bytes());
                out.push(o.kind);
                o.pickup_time.write(out);
                put_micro(o.latitude, out);
                put_micro(o.longitude, out);
                short_text(&o.phone, out);
                short_text(&o.name, out);
                short_text(&o.address, out);
                short_text(&o.remark, out);
            }
            Body::OrderCancelled(c) => {
                out.extend_from_slice(&c.business_id.to_be_bytes());
                out.push(c.reason);
            }
            Body::DriverCancel(c) => {
                out.extend_from_slice(&c.business_id.to_be_bytes());
                out.push(c.reason);
            }
            Body::Other { body, .. } => out.extend_from_slice(body),
        }
    }
}
