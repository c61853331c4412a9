//! Emergency alerts: now and then an older person holds a one-key device's button (a long
//! press); a simulated operator calls back, acknowledges the alert, and after a while
//! resolves it. A console open on the demo sees alerts arrive, sound and clear, and a
//! person at it may take one first (the simulated operator then leaves it be).

use crate::gateway::Principals;
use crate::population::Device;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_proto::v1::one_key_service_client::OneKeyServiceClient;
use tokio_util::sync::CancellationToken;

/// How often alerts come and how the desk answers them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertsConfig {
    /// Mean time between alerts (Poisson); `None`: no alerts.
    pub every: Option<Duration>,
    /// How long the desk takes to acknowledge one (calling back).
    pub acknowledge_after: Duration,
    /// How long after that it is resolved.
    pub resolve_after: Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            every: None,
            // Long enough for a person at a console to see it and take it first.
            acknowledge_after: Duration::from_secs(25),
            resolve_after: Duration::from_secs(15),
        }
    }
}

/// What happened to the alerts.
#[derive(Debug, Default)]
pub struct AlertsObserved {
    /// Long presses that raised an alert.
    pub raised: AtomicU64,
    /// Alerts the simulated desk acknowledged.
    pub acknowledged: AtomicU64,
    /// Alerts it resolved.
    pub resolved: AtomicU64,
    /// Presses or answers the services refused (another hand first counts here too).
    pub refused: AtomicU64,
}

/// Raises alerts from `devices` until `stop`; each is answered by the operator whose turn
/// it is.
pub(crate) async fn run(
    principals: Principals,
    config: AlertsConfig,
    seed: u64,
    devices: Vec<Device>,
    observed: Arc<AlertsObserved>,
    stop: CancellationToken,
) {
    let Some(every) = config.every else { return };
    if devices.is_empty() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(911));
    let mut n = 0usize;
    loop {
        // The first comes soon (someone watching the demo sees one within seconds), the
        // rest at random.
        let gap = if n == 0 {
            every / 4
        } else {
            every.mul_f64(-rng.random::<f64>().max(1e-9).ln())
        };
        tokio::select! {
            () = tokio::time::sleep(gap.min(every * 4)) => {}
            () = stop.cancelled() => return,
        }
        n += 1;
        let device = &devices[rng.random_range(0..devices.len())];
        let pressed = OneKeyServiceClient::new(device.session.channel())
            .press_button(pb::PressButtonRequest {
                press: pb::PressType::Long as i32,
                ..Default::default()
            })
            .await;
        let alert = match pressed.map(|r| r.into_inner().alert) {
            Ok(Some(a)) => a,
            _ => {
                observed.refused.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        observed.raised.fetch_add(1, Ordering::Relaxed);
        let desk = HotlineServiceClient::new(principals.operator(n).channel());
        tokio::spawn(answer(
            desk,
            alert.alert_id,
            config,
            observed.clone(),
            stop.clone(),
        ));
    }
}

/// The desk's side of one alert: acknowledge, then resolve.
async fn answer(
    mut desk: HotlineServiceClient<crate::auth::Authed>,
    alert_id: String,
    config: AlertsConfig,
    observed: Arc<AlertsObserved>,
    stop: CancellationToken,
) {
    tokio::select! {
        () = tokio::time::sleep(config.acknowledge_after) => {}
        () = stop.cancelled() => return,
    }
    let ack = desk
        .acknowledge_alert(pb::AcknowledgeAlertRequest {
            alert_id: alert_id.clone(),
            note: "已回电：老人在家，身体不适".into(),
            ..Default::default()
        })
        .await;
    if ack.is_err() {
        observed.refused.fetch_add(1, Ordering::Relaxed);
        return;
    }
    observed.acknowledged.fetch_add(1, Ordering::Relaxed);
    tokio::select! {
        () = tokio::time::sleep(config.resolve_after) => {}
        () = stop.cancelled() => return,
    }
    match desk
        .resolve_alert(pb::ResolveAlertRequest {
            alert_id,
            outcome: "已通知家属陪同就医".into(),
            ..Default::default()
        })
        .await
    {
        Ok(_) => observed.resolved.fetch_add(1, Ordering::Relaxed),
        Err(_) => observed.refused.fetch_add(1, Ordering::Relaxed),
    };
}
