//! The codec against hand-written frames: every supported message decoded from bytes laid
//! out field by field from the standard's tables and encoded back to the same bytes;
//! escaping, sub-packages, a bad check code, a truncated frame and garbage between frames
//! through the stream codec; and arbitrary bytes, which must never panic or grow a buffer.

use bytes::BytesMut;
use proptest::prelude::*;
use taxi_jtt808::frame::{MAX_FRAME, write_frame};
use taxi_jtt808::header::{Header, Package};
use taxi_jtt808::message::*;
use taxi_jtt808::{Body, Codec, DecodeError, Packet};
use tokio_util::codec::{Decoder, Encoder};

/// The 2019 header of a `len`-byte body: phone 13912345678, serial 0x0001.
fn header(id: u16, len: u16) -> Vec<u8> {
    let mut h = id.to_be_bytes().to_vec();
    h.extend_from_slice(&(0x4000 | len).to_be_bytes());
    h.push(0x01); // protocol version
    // The phone number, BCD[10].
    h.extend_from_slice(&[0x00, 0x00, 0x00, 0x00, 0x01, 0x39, 0x12, 0x34, 0x56, 0x78]);
    h.extend_from_slice(&[0x00, 0x01]); // serial
    h
}

/// A frame of `content`: flags, check code, escapes (the escaping itself is checked against
/// the standard's example in `frame::tests`).
fn frame(content: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    write_frame(content, &mut f);
    f
}

fn decode_all(bytes: &[u8]) -> Vec<Result<Packet, DecodeError>> {
    let mut codec = Codec::default();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(item) = codec.decode(&mut buf).unwrap() {
        out.push(item);
    }
    out
}

fn one(bytes: &[u8]) -> Packet {
    let mut got = decode_all(bytes);
    assert_eq!(got.len(), 1, "{got:?}");
    got.remove(0).unwrap()
}

/// Decodes `body` of message `id` from its hand-laid bytes, checks it is `want`, and that
/// encoding `want` gives the same frame.
fn vector(id: u16, body: &[u8], want: Body) {
    let mut content = header(id, body.len() as u16);
    content.extend_from_slice(body);
    let f = frame(&content);
    let p = one(&f);
    assert_eq!(p.header.phone, "13912345678");
    assert_eq!(p.body, want, "{id:#06x}");
    assert_eq!(p.to_frame().unwrap(), f, "{id:#06x} encodes back");
}

#[test]
fn general_replies_and_heartbeat() {
    // Reply serial 0x0003, to 0x0200, result 0.
    let reply = Reply {
        serial: 3,
        id: 0x0200,
        result: result::OK,
    };
    vector(
        id::TERMINAL_REPLY,
        &[0x00, 0x03, 0x02, 0x00, 0x00],
        Body::TerminalReply(reply.clone()),
    );
    vector(
        id::PLATFORM_REPLY,
        &[0x00, 0x03, 0x02, 0x00, 0x00],
        Body::PlatformReply(reply),
    );
    vector(id::HEARTBEAT, &[], Body::Heartbeat);
}

#[test]
fn registration_and_its_reply_and_authentication() {
    let mut body = vec![0x00, 0x32, 0x01, 0x00]; // province 50 (Chongqing), city 0x0100
    body.extend_from_slice(b"70111\0\0\0\0\0\0"); // manufacturer, BYTE[11]
    body.extend_from_slice(b"TX-9\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"); // model, BYTE[30]
    body.extend_from_slice(b"T0001\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"); // terminal ID, BYTE[30]
    body.push(0x02); // plate colour: yellow
    body.extend_from_slice(&[0xD3, 0xE5, 0x41, 0x31, 0x32, 0x33, 0x34, 0x35]); // 渝A12345, GBK
    vector(
        id::REGISTER,
        &body,
        Body::Register(Register {
            province: 50,
            city: 0x0100,
            maker: "70111".into(),
            model: "TX-9".into(),
            terminal_id: "T0001".into(),
            plate_color: 2,
            plate: "渝A12345".into(),
        }),
    );
    vector(
        id::REGISTER_REPLY,
        &[0x00, 0x01, 0x00, b'A', b'B', b'C', b'1'],
        Body::RegisterReply(RegisterReply {
            serial: 1,
            result: register_result::OK,
            auth_code: "ABC1".into(),
        }),
    );
    let mut auth = vec![0x04, b'A', b'B', b'C', b'1'];
    auth.extend_from_slice(b"860000000000001"); // IMEI, BYTE[15]
    auth.extend_from_slice(b"V1.2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"); // software, BYTE[20]
    vector(
        id::AUTHENTICATE,
        &auth,
        Body::Authenticate(Authenticate {
            auth_code: "ABC1".into(),
            imei: "860000000000001".into(),
            software: "V1.2".into(),
        }),
    );
}

/// A location body: emergency alarm, fixed, 29.563000 N 106.551600 E, 250 m, 36.5 km/h,
/// heading 90, 2026-12-07 16:30:05, one extra item (0x01 mileage, DWORD 100).
fn location_bytes() -> Vec<u8> {
    let mut b = vec![0x00, 0x00, 0x00, 0x01]; // alarm: bit 0
    b.extend_from_slice(&[0x00, 0x00, 0x00, 0x02]); // status: fixed
    b.extend_from_slice(&29_563_000u32.to_be_bytes());
    b.extend_from_slice(&106_551_600u32.to_be_bytes());
    b.extend_from_slice(&[0x00, 0xFA, 0x01, 0x6D, 0x00, 0x5A]); // altitude 250, speed 365, 90
    b.extend_from_slice(&[0x26, 0x12, 0x07, 0x16, 0x30, 0x05]); // BCD time
    b.extend_from_slice(&[0x01, 0x04, 0x00, 0x00, 0x00, 0x64]); // extra: mileage
    b
}

fn location() -> Location {
    Location {
        alarm: alarm::EMERGENCY,
        status: status::FIXED,
        latitude: 29.563,
        longitude: 106.5516,
        altitude: 250,
        speed: 365,
        direction: 90,
        time: Time {
            year: 2026,
            month: 12,
            day: 7,
            hour: 16,
            minute: 30,
            second: 5,
        },
        extra: vec![(0x01, vec![0, 0, 0, 0x64])],
    }
}

#[test]
fn locations_and_batches() {
    let loc = location();
    assert!(loc.emergency() && loc.fixed());
    vector(id::LOCATION, &location_bytes(), Body::Location(loc.clone()));
    // Beijing 16:30:05 is 08:30:05 UTC.
    assert_eq!(loc.time.to_unix_ms(), 1_796_632_205_000);
    assert_eq!(Time::from_unix_ms(1_796_632_205_000), loc.time);
    let item = location_bytes();
    let mut batch = vec![0x00, 0x02, 0x01]; // two items, kept while out of coverage
    for _ in 0..2 {
        batch.extend_from_slice(&(item.len() as u16).to_be_bytes());
        batch.extend_from_slice(&item);
    }
    vector(
        id::LOCATION_BATCH,
        &batch,
        Body::LocationBatch(LocationBatch {
            kind: 1,
            items: vec![loc.clone(), loc],
        }),
    );
}

#[test]
fn the_905_order_flow() {
    let t = [0x26, 0x12, 0x07, 0x16, 0x45, 0x00];
    let time = Time {
        year: 2026,
        month: 12,
        day: 7,
        hour: 16,
        minute: 45,
        second: 0,
    };
    let mut offer = vec![0x00, 0x00, 0x01, 0x02, 0x00]; // business 258, now
    offer.extend_from_slice(&t);
    offer.extend_from_slice(&29_563_000u32.to_be_bytes());
    offer.extend_from_slice(&106_551_600u32.to_be_bytes());
    offer.extend_from_slice(&[0x04, 0xBD, 0xE2, 0xB7, 0xC5]); // 解放, GBK
    offer.extend_from_slice(&[0x02, 0xC0, 0xCF]); // 老
    vector(
        id::ORDER_OFFER,
        &offer,
        Body::OrderOffer(OrderOffer {
            business_id: 258,
            kind: 0,
            pickup_time: time,
            latitude: 29.563,
            longitude: 106.5516,
            address: "解放".into(),
            remark: "老".into(),
        }),
    );
    vector(id::GRAB, &[0x00, 0x00, 0x01, 0x02], Body::Grab(258));
    let mut details = vec![0x00, 0x00, 0x01, 0x02, 0x01];
    details.extend_from_slice(&t);
    details.extend_from_slice(&29_563_000u32.to_be_bytes());
    details.extend_from_slice(&106_551_600u32.to_be_bytes());
    details.extend_from_slice(&[0x0B]);
    details.extend_from_slice(b"139****5678");
    details.extend_from_slice(&[0x02, 0xD5, 0xC5]); // 张
    details.extend_from_slice(&[0x04, 0xBD, 0xE2, 0xB7, 0xC5]);
    details.extend_from_slice(&[0x00]);
    vector(
        id::ORDER_DETAILS,
        &details,
        Body::OrderDetails(OrderDetails {
            business_id: 258,
            kind: 1,
            pickup_time: time,
            latitude: 29.563,
            longitude: 106.5516,
            phone: "139****5678".into(),
            name: "张".into(),
            address: "解放".into(),
            remark: String::new(),
        }),
    );
    vector(
        id::ORDER_CANCELLED,
        &[0x00, 0x00, 0x01, 0x02, 0x01],
        Body::OrderCancelled(OrderCancelled {
            business_id: 258,
            reason: 1,
        }),
    );
    vector(
        id::ORDER_COMPLETED,
        &[0x00, 0x00, 0x01, 0x02],
        Body::OrderCompleted(258),
    );
    vector(
        id::DRIVER_CANCEL,
        &[0x00, 0x00, 0x01, 0x02, 0x02],
        Body::DriverCancel(DriverCancel {
            business_id: 258,
            reason: 2,
        }),
    );
    vector(
        0x0900,
        &[0x7C, 0x01],
        Body::Other {
            id: 0x0900,
            body: vec![0x7C, 0x01],
        },
    );
}

#[test]
fn a_2013_terminal_registers_and_authenticates_with_the_short_fields() {
    let mut content = vec![0x01, 0x00, 0x00, 0x00]; // 0x0100, no version flag, length below
    content.extend_from_slice(&[0x01, 0x39, 0x12, 0x34, 0x56, 0x78, 0x00, 0x09]);
    let mut body = vec![0x00, 0x32, 0x01, 0x00];
    body.extend_from_slice(b"70111"); // BYTE[5]
    body.extend_from_slice(b"TX-9\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"); // BYTE[20]
    body.extend_from_slice(b"T0001\0\0"); // BYTE[7]
    body.push(0x01);
    body.extend_from_slice(&[0xD3, 0xE5, 0x41, 0x31]);
    content[3] = body.len() as u8;
    content.extend_from_slice(&body);
    let p = one(&frame(&content));
    assert_eq!(
        (p.header.phone.as_str(), p.header.version, p.header.serial),
        ("13912345678", None, 9)
    );
    let Body::Register(r) = &p.body else {
        panic!("{p:?}")
    };
    assert_eq!(
        (r.model.as_str(), r.terminal_id.as_str(), r.plate.as_str()),
        ("TX-9", "T0001", "渝A1")
    );
    assert_eq!(p.to_frame().unwrap(), frame(&content));
}

#[test]
fn flags_and_escapes_inside_a_frame_are_escaped_on_the_wire() {
    // A reply whose serial is 0x7E7D: both bytes must be escaped.
    let p = Packet {
        header: Header::new(id::PLATFORM_REPLY, "13912345678", 1),
        body: Body::PlatformReply(Reply {
            serial: 0x7E7D,
            id: 0x0002,
            result: 0,
        }),
    };
    let f = p.to_frame().unwrap();
    let inner = &f[1..f.len() - 1];
    assert!(!inner.contains(&0x7E), "{f:02x?}");
    assert!(
        inner.windows(4).any(|w| w == [0x7D, 0x02, 0x7D, 0x01]),
        "{f:02x?}"
    );
    assert_eq!(one(&f), p);
}

#[test]
fn the_stream_survives_garbage_bad_frames_and_short_reads() {
    let good = Packet {
        header: Header::new(id::HEARTBEAT, "13912345678", 1),
        body: Body::Heartbeat,
    };
    let f = good.to_frame().unwrap();
    let mut bad_check = f.clone();
    let at = bad_check.len() - 2;
    bad_check[at] ^= 0xFF;
    let mut stream = b"garbage".to_vec();
    stream.extend_from_slice(&f);
    stream.extend_from_slice(&[0x00, 0x7E, 0x11, 0x22]); // noise with a stray flag
    stream.extend_from_slice(&bad_check);
    stream.extend_from_slice(&f);
    stream.extend_from_slice(&f[..5]); // truncated: the rest never came
    let got = decode_all(&stream);
    let oks = got
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|p| *p == good))
        .count();
    assert_eq!(oks, 2, "{got:?}");
    assert!(
        got.iter()
            .any(|r| matches!(r, Err(DecodeError::BadCheck { .. }))),
        "{got:?}"
    );

    // Byte by byte: the same messages come out.
    let mut codec = Codec::default();
    let mut buf = BytesMut::new();
    let mut seen = 0;
    for b in f.iter().chain(f.iter()) {
        buf.extend_from_slice(&[*b]);
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            assert_eq!(item.unwrap(), good);
            seen += 1;
        }
    }
    assert_eq!(seen, 2);

    // A truncated body (the header promises more) is an error item.
    let mut short = header(id::LOCATION, 28);
    short.extend_from_slice(&[0; 10]);
    assert!(matches!(
        decode_all(&frame(&short)).as_slice(),
        [Err(DecodeError::BodyLength {
            declared: 28,
            actual: 10
        })]
    ));
    let mut cut = header(id::LOCATION, 10);
    cut.extend_from_slice(&[0; 10]);
    assert!(matches!(
        decode_all(&frame(&cut)).as_slice(),
        [Err(DecodeError::Truncated(_))]
    ));
}

#[test]
fn sub_packages_arrive_as_one_message() {
    let batch = Body::LocationBatch(LocationBatch {
        kind: 0,
        items: vec![location(); 3],
    });
    let mut body = Vec::new();
    batch.write(true, &mut body);
    let chunks: Vec<&[u8]> = body.chunks(40).collect();
    let total = chunks.len() as u16;
    let mut stream = BytesMut::new();
    let mut codec = Codec::default();
    // Sent last package first.
    for (i, chunk) in chunks.iter().enumerate().rev() {
        let mut h = Header::new(id::LOCATION_BATCH, "13912345678", 100 + i as u16);
        h.package = Some(Package {
            total,
            index: i as u16 + 1,
        });
        let mut content = Vec::new();
        h.write(chunk.len(), &mut content).unwrap();
        content.extend_from_slice(chunk);
        let mut f = Vec::new();
        taxi_jtt808::frame::write_frame(&content, &mut f);
        stream.extend_from_slice(&f);
    }
    let mut got = Vec::new();
    while let Some(item) = codec.decode(&mut stream).unwrap() {
        got.push(item.unwrap());
    }
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body, batch);
    assert_eq!((got[0].header.serial, got[0].header.package), (100, None));
}

#[test]
fn the_encoder_writes_what_the_decoder_reads() {
    let mut codec = Codec::default();
    let mut buf = BytesMut::new();
    let p = Packet {
        header: Header::new(id::LOCATION, "13912345678", 65_535),
        body: Body::Location(location()),
    };
    codec.encode(p.clone(), &mut buf).unwrap();
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().unwrap(), p);
    let too_long = Packet {
        header: Header::new(0x0900, "1", 1),
        body: Body::Other {
            id: 0x0900,
            body: vec![0; 1024],
        },
    };
    assert!(codec.encode(too_long, &mut buf).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Any bytes, in any chunks: no panic, and the buffer never holds more than a frame.
    #[test]
    fn any_bytes_never_panic_or_grow_the_buffer(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..12),
        flags in proptest::collection::vec(0usize..7000, 0..8),
    ) {
        let mut codec = Codec::default();
        let mut buf = BytesMut::new();
        let mut all: Vec<u8> = chunks.concat();
        for at in flags {
            if at < all.len() { all[at] = 0x7E; }
        }
        for chunk in all.chunks(333) {
            buf.extend_from_slice(chunk);
            while let Some(_item) = codec.decode(&mut buf).unwrap() {}
            prop_assert!(buf.len() <= MAX_FRAME + 2, "{} bytes held", buf.len());
        }
    }

    /// Every location a terminal can send comes back as sent, through frame and codec.
    #[test]
    fn locations_round_trip(
        lat in -90_000_000i64..=90_000_000, lon in -180_000_000i64..=180_000_000,
        alarm in any::<u32>(), speed in any::<u16>(), serial in any::<u16>(),
        secs in 946_656_000i64..4_102_415_999,
        extra in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..20)), 0..4),
    ) {
        let loc = Location {
            alarm,
            status: status::FIXED,
            latitude: lat as f64 / 1e6,
            longitude: lon as f64 / 1e6,
            altitude: 1,
            speed,
            direction: 359,
            time: Time::from_unix_ms(secs * 1000),
            extra,
        };
        let p = Packet { header: Header::new(id::LOCATION, "13912345678", serial), body: Body::Location(loc) };
        let mut codec = Codec::default();
        let mut buf = BytesMut::new();
        codec.encode(p.clone(), &mut buf).unwrap();
        let back = codec.decode(&mut buf).unwrap().unwrap().unwrap();
        let (Body::Location(a), Body::Location(b)) = (&back.body, &p.body) else { unreachable!() };
        prop_assert!((a.latitude - b.latitude).abs() < 1e-9 && (a.longitude - b.longitude).abs() < 1e-9);
        prop_assert_eq!(a.time, b.time);
        prop_assert_eq!(&a.extra, &b.extra);
        prop_assert_eq!(back.header, p.header);
    }
}

#[test]
fn a_time_that_is_no_date_is_refused() {
    let mut body = location_bytes();
    body[22..28].copy_from_slice(&[0x26, 0x02, 0x30, 0x12, 0x00, 0x00]); // 30 February
    let mut content = header(id::LOCATION, body.len() as u16);
    content.extend_from_slice(&body);
    assert!(matches!(
        decode_all(&frame(&content)).as_slice(),
        [Err(DecodeError::Field {
            field: "location: time",
            ..
        })]
    ));
}
