//! `register_device.lua`: a one-key device bound to its owner.

use super::{Call, Loaded, Scripts, json};
use crate::devices::NewDevice;
use crate::fields::place_fields;
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Registers `device`.
#[derive(Debug)]
pub(crate) struct RegisterDevice<'a> {
    pub(crate) device: &'a NewDevice,
}

/// What registering did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RegisterDeviceReply {
    Created,
    Updated,
    /// Registered to another caller.
    Taken,
}

impl Call for RegisterDevice<'_> {
    type Reply = RegisterDeviceReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.register_device
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        let d = self.device;
        vec![
            k.device(&d.id),
            k.caller(&d.owner),
            k.caller_devices(&d.owner),
            k.events.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        let d = self.device;
        inv.arg(&d.id).arg(&d.owner).arg(&d.owner_name);
        // No hash: a re-registration that keeps the device's secret.
        if !d.secret_hash.is_empty() {
            inv.arg("secret")
                .arg(&d.secret_hash)
                .arg("salt")
                .arg(&d.salt);
        }
        for (f, v) in place_fields("h", Some(&d.home)) {
            inv.arg(f).arg(v);
        }
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
