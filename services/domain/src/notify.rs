//! Messages to passengers, relatives and care contacts: what each kind says (Simplified
//! Chinese), by which channel, under which idempotency key, how failed deliveries are
//! retried, and which webhook URLs a sender may post to.
//!
//! The transition scripts write a message's facts to the outbox (`{c}:notifications`) in
//! the same step as the transition; the sender renders the text from those facts with
//! [`Message::text`] when it delivers, so the wording lives here, once.

use crate::FieldError;
use std::collections::HashMap;
use std::time::Duration;

/// What happened, as a message kind. Its code is what the outbox stores (`kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A taxi accepted the order (or an operator assigned one): plate, colour, ETA.
    Assigned,
    /// The taxi is at the pickup.
    Arrived,
    /// The trip is over (with the fare).
    Completed,
    /// No taxi could be found; an operator will call back.
    Unfulfilled,
    /// An emergency long press, to the care contacts.
    Emergency,
    /// A relative booked a taxi for the passenger (to both).
    Booked,
    /// A recurring trip has no taxi yet at T−15 (issue 14): an operator is on it.
    Late,
}

impl MessageKind {
    /// Every kind.
    pub const ALL: [MessageKind; 7] = [
        MessageKind::Assigned,
        MessageKind::Arrived,
        MessageKind::Completed,
        MessageKind::Unfulfilled,
        MessageKind::Emergency,
        MessageKind::Booked,
        MessageKind::Late,
    ];

    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            MessageKind::Assigned => "assigned",
            MessageKind::Arrived => "arrived",
            MessageKind::Completed => "completed",
            MessageKind::Unfulfilled => "unfulfilled",
            MessageKind::Emergency => "emergency",
            MessageKind::Booked => "booked",
            MessageKind::Late => "late",
        }
    }

    /// The kind of a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// How a message reaches its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Channel {
    /// A text message (the default).
    #[default]
    Sms,
    /// A voice call that speaks the text (older passengers who read badly choose it).
    Voice,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Voice];

    /// The stored code (also on the caller record, `notify`).
    pub fn code(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }

    /// The channel of a stored code; anything else (an old record) is SMS.
    pub fn from_code(code: &str) -> Self {
        if code == Channel::Voice.code() {
            Channel::Voice
        } else {
            Channel::Sms
        }
    }
}

/// Who a message is for, relative to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// The passenger.
    Passenger,
    /// The relative who booked for the passenger.
    Relative,
    /// A care contact of the person who raised an alert.
    Contact,
}

impl Recipient {
    /// Every recipient role.
    pub const ALL: [Recipient; 3] = [
        Recipient::Passenger,
        Recipient::Relative,
        Recipient::Contact,
    ];

    /// The stored code (`role`).
    pub fn code(self) -> &'static str {
        match self {
            Recipient::Passenger => "passenger",
            Recipient::Relative => "relative",
            Recipient::Contact => "contact",
        }
    }

    /// The role of a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// One message as the outbox holds it: the facts, not the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What happened.
    pub kind: MessageKind,
    /// The recipient's phone number (canonical).
    pub to: String,
    /// Who the recipient is.
    pub role: Recipient,
    /// SMS or voice.
    pub channel: Channel,
    /// The order it is about ('' for an alert).
    pub order: String,
    /// The alert it is about ('' for an order).
    pub alert: String,
    /// The taxi (assigned, arrived).
    pub taxi: String,
    /// The taxi's plate.
    pub plate: String,
    /// The taxi's colour, as the fleet registered it.
    pub color: String,
    /// Minutes-to-pickup estimate in seconds (assigned).
    pub eta_s: u32,
    /// Fare in cents (completed).
    pub fare_cents: i64,
    /// The passenger's (or alerting person's) name.
    pub name: String,
    /// The passenger's (or alerting person's) phone.
    pub phone: String,
    /// The pickup address (booked).
    pub address: String,
    /// When it happened (ms).
    pub at_ms: i64,
}

/// Why stored fields are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbox entry: {0}")]
pub struct BadEntry(pub String);

impl Message {
    /// Reads a message from the outbox entry's field/value pairs.
    pub fn from_fields(fields: &HashMap<String, String>) -> Result<Self, BadEntry> {
        let text = |f: &str| fields.get(f).cloned().unwrap_or_default();
        let int = |f: &str| {
            fields
                .get(f)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let kind = MessageKind::from_code(&text("kind"))
            .ok_or_else(|| BadEntry(format!("unknown kind {:?}", text("kind"))))?;
        let to = text("to");
        if to.is_empty() {
            return Err(BadEntry("no recipient".into()));
        }
        // Alerts written before roles existed are for care contacts.
        let role = Recipient::from_code(&text("role")).unwrap_or(match kind {
            MessageKind::Emergency => Recipient::Contact,
            _ => Recipient::Passenger,
        });
        Ok(Self {
            kind,
            to,
            role,
            channel: Channel::from_code(&text("ch")),
            order: text("order"),
            alert: text("alert"),
            taxi: text("taxi"),
            plate: text("plate"),
            color: text("color"),
            eta_s: u32::try_from(int("eta_s")).unwrap_or(0),
            fare_cents: int("fare"),
            name: text("name"),
            // Older alert entries name the person's phone `caller`.
            phone: fields
                .get("phone")
                .or_else(|| fields.get("caller"))
                .cloned()
                .unwrap_or_default(),
            address: text("addr"),
            at_ms: int("ts"),
        })
    }

    /// The idempotency key: the same for every delivery of this message (a retry, a
    /// redelivery after a worker died, a replay of a dead letter), different for any other.
    /// `<subject>:<kind>:<recipient>`, where the subject is the order, or the alert; an
    /// assignment and an arrival also name the taxi, since a redispatched order is
    /// assigned again, to another taxi, and that is news.
    pub fn idempotency_key(&self) -> String {
        let subject = match self.kind {
            MessageKind::Emergency => self.alert.clone(),
            MessageKind::Assigned | MessageKind::Arrived => format!("{}.{}", self.order, self.taxi),
            _ => self.order.clone(),
        };
        format!("{subject}:{}:{}", self.kind.code(), self.to)
    }

    /// What the message says, in Simplified Chinese; a voice call says it twice, since
    /// a listener cannot read it again.
    pub fn text(&self) -> String {
        let once = self.sentence();
        match self.channel {
            Channel::Sms => once,
            Channel::Voice => format!("{once}重复一遍：{once}"),
        }
    }

    fn sentence(&self) -> String {
        let for_whom = match self.role {
            Recipient::Relative if !self.name.is_empty() => format!("（您为{}叫的车）", self.name),
            Recipient::Relative => "（您代叫的车）".to_string(),
            _ => String::new(),
        };
        match self.kind {
            MessageKind::Assigned => {
                let minutes = eta_minutes(self.eta_s);
                let color = if self.color.is_empty() {
                    String::new()
                } else {
                    format!("，{}", self.color)
                };
                format!(
                    "【95128叫车】{for_whom}已派车：车牌{}{color}，约{minutes}分钟到达，请在上车点等候。",
                    self.plate
                )
            }
            MessageKind::Arrived => format!(
                "【95128叫车】{for_whom}车牌{}的出租车已到达上车点，请尽快上车。",
                self.plate
            ),
            MessageKind::Completed => format!(
                "【95128叫车】{for_whom}行程已结束，车费{}元。感谢乘坐，祝您平安。",
                yuan(self.fare_cents)
            ),
            MessageKind::Unfulfilled => format!(
                "【95128叫车】{for_whom}很抱歉，附近暂时没有空车，订单未能派车，话务员会尽快给您回电。"
            ),
            MessageKind::Emergency => {
                let who = if self.name.is_empty() {
                    "您关爱的老人".to_string()
                } else {
                    self.name.clone()
                };
                format!(
                    "【95128紧急提醒】{who}（电话{}）按下了一键叫车的紧急按钮，请尽快与其联系。",
                    self.phone
                )
            }
            MessageKind::Late => format!(
                "【95128叫车】{for_whom}您预约的固定行程（上车地点：{}）暂未派到车，话务员正在为您安排，请保持电话畅通。",
                self.address
            ),
            MessageKind::Booked => match self.role {
                Recipient::Relative => format!(
                    "【95128叫车】已为{}叫车，上车地点：{}。派车后会再通知您。",
                    if self.name.is_empty() {
                        "您的家人"
                    } else {
                        &self.name
                    },
                    self.address
                ),
                _ => format!(
                    "【95128叫车】您的家人已为您叫了出租车，上车地点：{}。派车后会再通知您。",
                    self.address
                ),
            },
        }
    }
}

/// Minutes shown for an ETA: rounded up, at least 1.
pub fn eta_minutes(eta_s: u32) -> u32 {
    eta_s.div_ceil(60).max(1)
}

/// Cents as yuan with two decimals.
pub fn yuan(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// How often a failing message is tried and how long it waits between tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// No wait is longer than this.
    pub max: Duration,
    /// Failed attempts after which the message is a dead letter (at least 1).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
            attempts: 8,
        }
    }
}

/// What becomes of a message whose delivery failed for the `n`-th time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again after this wait.
    Retry(Duration),
    /// Give up: a dead letter for operators to see and replay.
    Dead,
}

impl Backoff {
    /// After the `failures`-th failed attempt (1-based): the wait doubles from `first`
    /// up to `max`; once `attempts` attempts failed, the message is dead.
    pub fn after(&self, failures: u32) -> AfterFailure {
        if failures >= self.attempts.max(1) {
            return AfterFailure::Dead;
        }
        let doublings = failures.saturating_sub(1).min(30);
        let wait = self.first.saturating_mul(1u32 << doublings).min(self.max);
        AfterFailure::Retry(wait)
    }

    /// Checks the limits; `prefix` names the configuration (for example `TAXI_NOTIFY`).
    pub fn check(&self, prefix: &str) -> Result<(), FieldError> {
        if self.attempts == 0 || self.attempts > 100 {
            return Err(FieldError::new(
                format!("{prefix}_MAX_ATTEMPTS"),
                "must be between 1 and 100",
            ));
        }
        if self.first.is_zero() {
            return Err(FieldError::new(
                format!("{prefix}_BACKOFF_FIRST_MS"),
                "must be more than 0",
            ));
        }
        if self.max < self.first {
            return Err(FieldError::new(
                format!("{prefix}_BACKOFF_MAX_MS"),
                "must be at least the first back-off",
            ));
        }
        Ok(())
    }
}

/// Checks a webhook URL: `https`, or `http` to a loopback host only (tests, the demo). A
/// secret travels in the signature, but messages carry phone numbers and names: they
/// must not cross a network in clear. `field` names the setting in the error.
pub fn check_webhook_url(field: &str, text: &str) -> Result<url::Url, FieldError> {
    let url = url::Url::parse(text.trim())
        .map_err(|e| FieldError::new(field, format!("is not a URL ({e})")))?;
    let host = url
        .host()
        .ok_or_else(|| FieldError::new(field, "has no host"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" => {
            let loopback = match host {
                url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => ip.is_loopback(),
            };
            if loopback {
                Ok(url)
            } else {
                Err(FieldError::new(
                    field,
                    "must be https (plain http is allowed only to a loopback host)",
                ))
            }
        }
        other => Err(FieldError::new(
            field,
            format!("must be https, not {other}"),
        )),
    }
}

/// Parses a channel preference as a request or configuration gives it.
pub fn parse_channel(field: &str, text: &str) -> Result<Channel, FieldError> {
    Channel::ALL
        .into_iter()
        .find(|c| c.code().eq_ignore_ascii_case(text.trim()))
        .ok_or_else(|| FieldError::new(field, format!("must be sms or voice, not {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: MessageKind) -> Message {
        Message {
            kind,
            to: "13800138000".into(),
            role: Recipient::Passenger,
            channel: Channel::Sms,
            order: "O1".into(),
            alert: "A1".into(),
            taxi: "T1".into(),
            plate: "渝A12345".into(),
            color: "白色".into(),
            eta_s: 200,
            fare_cents: 2350,
            name: "王奶奶".into(),
            phone: "13900139000".into(),
            address: "解放碑".into(),
            at_ms: 1,
        }
    }

    #[test]
    fn kinds_channels_and_roles_round_trip_their_codes() {
        for k in MessageKind::ALL {
            assert_eq!(MessageKind::from_code(k.code()), Some(k));
        }
        for c in Channel::ALL {
            assert_eq!(Channel::from_code(c.code()), c);
        }
        for r in Recipient::ALL {
            assert_eq!(Recipient::from_code(r.code()), Some(r));
        }
        assert_eq!(MessageKind::from_code("x"), None);
        assert_eq!(Channel::from_code(""), Channel::Sms);
    }

    #[test]
    fn every_kind_says_what_matters_in_chinese() {
        let t = |k| msg(k).text();
        assert!(t(MessageKind::Assigned).contains("车牌渝A12345，白色，约4分钟到达"));
        assert!(
            t(MessageKind::Arrived).contains("渝A12345")
                && t(MessageKind::Arrived).contains("已到达")
        );
        assert!(t(MessageKind::Completed).contains("车费23.50元"));
        assert!(t(MessageKind::Unfulfilled).contains("没有空车"));
        assert!(t(MessageKind::Late).contains("暂未派到车"));
        assert!(t(MessageKind::Emergency).contains("王奶奶（电话13900139000）"));
        assert!(t(MessageKind::Booked).contains("您的家人已为您叫了出租车，上车地点：解放碑"));
        let mut rel = msg(MessageKind::Booked);
        rel.role = Recipient::Relative;
        assert!(rel.text().contains("已为王奶奶叫车"));
        rel.kind = MessageKind::Assigned;
        assert!(rel.text().contains("您为王奶奶叫的车"));
    }

    #[test]
    fn a_voice_message_says_it_twice() {
        let mut m = msg(MessageKind::Arrived);
        let sms = m.text();
        m.channel = Channel::Voice;
        assert_eq!(m.text(), format!("{sms}重复一遍：{sms}"));
    }

    #[test]
    fn idempotency_keys_are_deterministic_and_tell_messages_apart() {
        let a = msg(MessageKind::Assigned);
        assert_eq!(a.idempotency_key(), "O1.T1:assigned:13800138000");
        assert_eq!(a.idempotency_key(), a.clone().idempotency_key());
        let mut other_taxi = a.clone();
        other_taxi.taxi = "T2".into();
        assert_ne!(a.idempotency_key(), other_taxi.idempotency_key());
        assert_eq!(
            msg(MessageKind::Completed).idempotency_key(),
            "O1:completed:13800138000"
        );
        assert_eq!(
            msg(MessageKind::Emergency).idempotency_key(),
            "A1:emergency:13800138000"
        );
        let mut rel = msg(MessageKind::Booked);
        rel.to = "13700137000".into();
        assert_ne!(
            rel.idempotency_key(),
            msg(MessageKind::Booked).idempotency_key()
        );
        // The channel or the time of writing do not change what the message is.
        let mut voice = msg(MessageKind::Completed);
        voice.channel = Channel::Voice;
        voice.at_ms = 99;
        assert_eq!(
            voice.idempotency_key(),
            msg(MessageKind::Completed).idempotency_key()
        );
    }

    #[test]
    fn entries_are_read_back_and_old_alert_entries_still_read() {
        let fields: HashMap<String, String> = [
            ("kind", "emergency"),
            ("to", "13800138000"),
            ("alert", "A7"),
            ("caller", "13900139000"),
            ("ts", "5"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let m = Message::from_fields(&fields).unwrap();
        assert_eq!(m.role, Recipient::Contact);
        assert_eq!(m.phone, "13900139000");
        assert_eq!(m.channel, Channel::Sms);
        assert_eq!(m.idempotency_key(), "A7:emergency:13800138000");
        let mut bad = fields.clone();
        bad.insert("kind".into(), "party".into());
        assert!(Message::from_fields(&bad).is_err());
        bad.insert("kind".into(), "arrived".into());
        bad.remove("to");
        assert!(Message::from_fields(&bad).is_err());
    }

    #[test]
    fn eta_and_fare_are_shown_plainly() {
        assert_eq!(eta_minutes(0), 1);
        assert_eq!(eta_minutes(60), 1);
        assert_eq!(eta_minutes(61), 2);
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(12345), "123.45");
        assert_eq!(yuan(-150), "-1.50");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_then_gives_up() {
        let b = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(500),
            attempts: 5,
        };
        let waits: Vec<AfterFailure> = (1..=5).map(|n| b.after(n)).collect();
        assert_eq!(
            waits,
            [
                AfterFailure::Retry(Duration::from_millis(100)),
                AfterFailure::Retry(Duration::from_millis(200)),
                AfterFailure::Retry(Duration::from_millis(400)),
                AfterFailure::Retry(Duration::from_millis(500)),
                AfterFailure::Dead,
            ]
        );
        assert_eq!(b.after(1000), AfterFailure::Dead);
        let one = Backoff { attempts: 1, ..b };
        assert_eq!(one.after(1), AfterFailure::Dead);
        let long = Backoff {
            attempts: 100,
            max: Duration::from_secs(3600),
            ..b
        };
        assert_eq!(
            long.after(99),
            AfterFailure::Retry(Duration::from_secs(3600))
        );
        assert!(Backoff::default().check("T").is_ok());
        assert_eq!(
            Backoff { attempts: 0, ..b }.check("T").unwrap_err().field,
            "T_MAX_ATTEMPTS"
        );
        assert_eq!(
            Backoff {
                first: Duration::ZERO,
                ..b
            }
            .check("T")
            .unwrap_err()
            .field,
            "T_BACKOFF_FIRST_MS"
        );
        assert_eq!(
            Backoff {
                max: Duration::from_millis(1),
                ..b
            }
            .check("T")
            .unwrap_err()
            .field,
            "T_BACKOFF_MAX_MS"
        );
    }

    #[test]
    fn webhook_urls_must_be_https_except_to_loopback() {
        let ok = [
            "https://sms.example.cn/hook",
            "http://127.0.0.1:8080/hook",
            "http://127.9.9.9/",
            "http://localhost:1/x",
            "http://[::1]:9/x",
        ];
        for u in ok {
            assert!(check_webhook_url("url", u).is_ok(), "{u}");
        }
        let bad = [
            "http://sms.example.cn/hook",
            "http://10.0.0.1/hook",
            "ftp://127.0.0.1/x",
            "not a url",
            "",
            "https://",
        ];
        for u in bad {
            let e = check_webhook_url("TAXI_NOTIFY_WEBHOOK_URL", u).unwrap_err();
            assert_eq!(e.field, "TAXI_NOTIFY_WEBHOOK_URL", "{u}");
        }
        assert!(
            check_webhook_url("f", "http://example.cn/")
                .unwrap_err()
                .reason
                .contains("https")
        );
    }

    #[test]
    fn channel_preferences_parse_or_name_the_field() {
        assert_eq!(parse_channel("f", "voice").unwrap(), Channel::Voice);
        assert_eq!(parse_channel("f", " SMS ").unwrap(), Channel::Sms);
        assert_eq!(
            parse_channel("notify_channel", "fax").unwrap_err().field,
            "notify_channel"
        );
    }
}
