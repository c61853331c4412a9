//! `raise_alert.lua`: an emergency alert of a long press, told to the care contacts.

use super::{Call, Loaded, Scripts, json};
use crate::devices::NewAlert;
use crate::fields::place_fields;
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Raises `alert` as `id` (allocated), unless the device has a recent open one.
#[derive(Debug)]
pub(crate) struct RaiseAlert<'a> {
    pub(crate) id: &'a str,
    pub(crate) alert: &'a NewAlert,
    pub(crate) repeat_window_ms: i64,
}

/// Which alert stands.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RaiseAlertReply {
    Created { alert: String },
    Existing { alert: String },
}

impl Call for RaiseAlert<'_> {
    type Reply = RaiseAlertReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.raise_alert
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        // The source's hash remembers its last alert (a repeat within the window returns
        // it): the device's, or the taxi's for a terminal's alarm.
        let source = if self.alert.taxi.is_empty() {
            k.device(&self.alert.device)
        } else {
            k.taxi(&self.alert.taxi)
        };
        vec![
            source,
            k.alert(self.id),
            k.alerts_open.clone(),
            k.alerts_all.clone(),
            k.events.clone(),
            k.notifications.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        let a = self.alert;
        let contacts = a.contacts.join(",");
        inv.arg(&a.device)
            .arg(self.repeat_window_ms)
            .arg(self.id)
            .arg(&a.phone)
            .arg(&contacts);
        inv.arg("phone").arg(&a.phone).arg("name").arg(&a.name);
        inv.arg("contacts").arg(&contacts);
        if !a.taxi.is_empty() {
            inv.arg("taxi").arg(&a.taxi);
        }
        for (f, v) in place_fields("l", Some(&a.location)) {
            inv.arg(f).arg(v);
        }
        inv.arg("l_ms").arg(a.location_ms.unwrap_or(0));
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
