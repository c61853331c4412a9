//! The principals `taxi demo` and `taxi bench` run with: made in the city's Redis the way
//! `taxi admin` makes them (`taxi_access::create_account`, `create_service_key`, with
//! random passwords and keys made here and never shown), then logged in through the
//! real `AuthService.Login`, so the clients hold tokens the server issued.

use rand::Rng;
use taxi_auth::Role;
use taxi_proto::v1 as pb;
use taxi_sim::{Credential, Principals, Session};
use taxi_store::Store;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Makes `operators` operators, a fleet admin, a terminal gateway and a phone switch in
/// `store`'s city and logs each in at `channel`; their tokens are refreshed until `stop`.
/// Names carry a random tag, so a second run on the same Redis makes its own.
pub(crate) async fn bootstrap(
    store: &Store,
    channel: Channel,
    operators: usize,
    stop: &CancellationToken,
) -> anyhow::Result<Principals> {
    let tag = format!("{:08x}", rand::rng().random::<u32>());
    let person = |name: String, role: Role| {
        let (store, channel, stop) = (store.clone(), channel.clone(), stop.clone());
        async move {
            let password = taxi_auth::key::new_secret();
            taxi_access::create_account(
                &store,
                &taxi_access::NewAccount {
                    username: name.clone(),
                    password: password.clone(),
                    role,
                    display_name: name.clone(),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating {role} {name}: {e}"))?;
            Session::login(
                channel,
                Credential::Password {
                    username: name,
                    password,
                },
                stop,
            )
            .await
        }
    };
    let service = |name: String, role: Role| {
        let (store, channel, stop) = (store.clone(), channel.clone(), stop.clone());
        async move {
            let secret = taxi_access::create_service_key(&store, &name, role)
                .await
                .map_err(|e| anyhow::anyhow!("creating the {role} key {name}: {e}"))?;
            Session::login(
                channel,
                Credential::Key {
                    kind: pb::KeyKind::Service,
                    id: name,
                    secret,
                },
                stop,
            )
            .await
        }
    };
    let mut ops = Vec::with_capacity(operators);
    for i in 0..operators.max(1) {
        ops.push(person(format!("sim-op{i}-{tag}"), Role::Operator).await?);
    }
    Ok(Principals {
        operators: ops,
        fleet_admin: person(format!("sim-fleet-{tag}"), Role::FleetAdmin).await?,
        gateway: service(format!("sim-gateway-{tag}"), Role::Gateway).await?,
        phone_switch: service(format!("sim-switch-{tag}"), Role::PhoneSwitch).await?,
    })
}

/// Principals that send no credential, for a server with `--auth off`.
pub(crate) fn anonymous(channel: Channel) -> Principals {
    let s = |id: &str| Session::anonymous(channel.clone(), id);
    Principals {
        operators: vec![s("bench")],
        fleet_admin: s("fleet"),
        gateway: s("gateway"),
        phone_switch: s("switch"),
    }
}
