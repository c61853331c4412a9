//! The gateway to the services: connections, the principals a simulation calls as, the
//! in-car terminal gateway's position stream, and the conversions between the simulation's
//! points and the wire's places.

use crate::Observed;
use crate::auth::{Authed, Session};
use std::sync::Arc;
use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_proto::v1::driver_service_client::DriverServiceClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// The logged-in principals a simulation runs with.
#[derive(Debug, Clone)]
pub struct Principals {
    /// The call centre's operators (at least one): screen pops, caller records, desk and
    /// family bookings, cancels; their turns go round.
    pub operators: Vec<Session>,
    /// Registers taxis and provisions devices.
    pub fleet_admin: Session,
    /// The in-car terminal gateway: positions, dispatch streams and offer answers.
    pub gateway: Session,
    /// The phone switch: call classification and voice-menu bookings.
    pub phone_switch: Session,
}

impl Principals {
    /// The operator whose turn `n` is.
    pub(crate) fn operator(&self, n: usize) -> &Session {
        &self.operators[n % self.operators.len()]
    }
}

/// A channel to the services at `addr`: TLS trusting only the CA certificate(s) in
/// `ca_pem` when given (the server's certificate must name `addr`'s IP address), else
/// plain TCP.
pub async fn connect(addr: std::net::SocketAddr, ca_pem: Option<&str>) -> anyhow::Result<Channel> {
    let endpoint = match ca_pem {
        Some(ca) => Endpoint::from_shared(format!("https://{addr}"))?.tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca))
                .domain_name(addr.ip().to_string()),
        )?,
        None => Endpoint::from_shared(format!("http://{addr}"))?,
    };
    Ok(endpoint
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await?)
}

pub(crate) fn wgs(p: (f64, f64)) -> pb::LatLng {
    pb::LatLng {
        latitude: p.0,
        longitude: p.1,
        datum: pb::Datum::Wgs84 as i32,
    }
}

pub(crate) fn place(p: (f64, f64), address: &str) -> pb::Place {
    pb::Place {
        location: Some(wgs(p)),
        address: address.to_string(),
    }
}

/// A wire timestamp as epoch milliseconds (the services' clock), if it is set.
pub(crate) fn epoch_ms(t: &Option<taxi_proto::Timestamp>) -> Option<i64> {
    t.as_ref()
        .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

/// The (latitude, longitude) of a wire place, if it has a location.
pub(crate) fn point(p: &Option<pb::Place>) -> Option<(f64, f64)> {
    p.as_ref()
        .and_then(|p| p.location.as_ref())
        .map(|l| (l.latitude, l.longitude))
}

/// Reports every taxi's position over one long-lived client stream, like an in-car
/// terminal gateway, in batches of up to 1,000.
pub(crate) async fn report_positions(
    channel: Authed,
    observed: Arc<Observed>,
    every: Duration,
    stop: CancellationToken,
) {
    let driver = DriverServiceClient::new(channel);
    while !stop.is_cancelled() {
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::ReportPositionsRequest>(16);
        let call = {
            let mut d = driver.clone();
            tokio::spawn(async move {
                d.report_positions(tokio_stream::wrappers::ReceiverStream::new(rx))
                    .await
            })
        };
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => break,
            }
            let spots: Vec<(String, (f64, f64))> = observed
                .taxis
                .lock()
                .expect("lock")
                .iter()
                .map(|(id, (at, _))| (id.clone(), *at))
                .collect();
            observed.reported(spots.iter().map(|(id, at)| (id.as_str(), *at)));
            let reports: Vec<pb::PositionReport> = spots
                .iter()
                .map(|(id, at)| pb::PositionReport {
                    taxi_id: id.clone(),
                    position: Some(wgs(*at)),
                    heading_degrees: 0.0,
                    speed_kmh: 30.0,
                    fix_time: None,
                })
                .collect();
            let mut failed = false;
            for chunk in reports.chunks(1000) {
                if tx
                    .send(pb::ReportPositionsRequest {
                        positions: chunk.to_vec(),
                    })
                    .await
                    .is_err()
                {
                    failed = true;
                    break;
                }
            }
            if failed {
                break;
            }
        }
        drop(tx);
        let _ = call.await;
        if !stop.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
