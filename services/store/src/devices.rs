//! One-key devices and the emergency alerts of their long presses.

use crate::fields::Fields;
use crate::orders::{PlaceRec, ResolutionRec};
use crate::scripts::{
    AckAlert, AckAlertReply, RaiseAlert, RaiseAlertReply, RegisterDevice, RegisterDeviceReply,
    ResolveAlert, ResolveReply,
};
use crate::{Entity, Store, StoreError};
use std::collections::HashMap;
use taxi_domain::followup::AlertState;

/// A device as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    /// Its id.
    pub id: String,
    /// Owner's canonical phone.
    pub owner: String,
    /// Hex SHA-256 of salt and secret.
    pub secret_hash: String,
    /// Hex salt.
    pub salt: String,
    /// Home pickup point.
    pub home: PlaceRec,
    /// The last fix the device sent, and when it was taken (ms).
    pub last_fix: Option<(PlaceRec, i64)>,
}

/// A device to register.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Its id.
    pub id: String,
    /// Owner's canonical phone.
    pub owner: String,
    /// Owner's name, for a new caller profile.
    pub owner_name: String,
    /// Hex SHA-256 of salt and secret; empty keeps a registered device's secret.
    pub secret_hash: String,
    /// Hex salt.
    pub salt: String,
    /// Home pickup point.
    pub home: PlaceRec,
}

/// An emergency alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    /// `A<n>`.
    pub id: String,
    /// The device ('' for a recurring trip's T−15 alert).
    pub device: String,
    /// The recurring trip still unassigned at T−15 ('' for a long press; issue 14).
    pub order: String,
    /// The taxi whose in-car terminal raised it ('' otherwise; issue 17).
    pub taxi: String,
    /// Its owner's phone.
    pub phone: String,
    /// Its owner's name.
    pub name: String,
    /// Where.
    pub location: PlaceRec,
    /// When the device's fix was taken (ms); `None` when the location is its home.
    pub location_ms: Option<i64>,
    /// Care contacts told.
    pub contacts: Vec<String>,
    /// Raised (ms).
    pub raised_ms: i64,
    /// Acknowledged.
    pub acknowledged: bool,
    /// By whom.
    pub acknowledged_by: String,
    /// When (ms).
    pub acknowledged_ms: i64,
    /// Operator's note.
    pub note: String,
    /// Where it stands.
    pub state: AlertState,
    /// How it was resolved, once it is.
    pub resolution: Option<ResolutionRec>,
}

/// An alert to raise.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// The device ('' for a taxi's alarm).
    pub device: String,
    /// The taxi whose in-car terminal raised it ('' for a device's long press).
    pub taxi: String,
    /// Owner's phone.
    pub phone: String,
    /// Owner's name.
    pub name: String,
    /// Where.
    pub location: PlaceRec,
    /// When the device's fix was taken (ms); `None` when the location is its home.
    pub location_ms: Option<i64>,
    /// Care contacts to tell.
    pub contacts: Vec<String>,
}

impl AlertRecord {
    fn from_fields(f: &Fields) -> Option<Self> {
        Some(Self {
            id: f.text("id"),
            device: f.text("device"),
            order: f.text("order"),
            taxi: f.text("taxi"),
            phone: f.text("phone"),
            name: f.text("name"),
            location: f.place("l")?,
            location_ms: (f.int("l_ms") > 0).then(|| f.int("l_ms")),
            contacts: f.csv("contacts"),
            raised_ms: f.int("raised"),
            acknowledged: f.flag("ack"),
            acknowledged_by: f.text("ack_by"),
            acknowledged_ms: f.int("ack_ms"),
            note: f.text("note"),
            // Alerts stored before states were kept carry only the acknowledged flag.
            state: AlertState::from_code(&f.text("state")).unwrap_or(if f.flag("ack") {
                AlertState::Acknowledged
            } else {
                AlertState::Open
            }),
            resolution: (f.text("state") == AlertState::Resolved.code()).then(|| ResolutionRec {
                by: f.text("res_by"),
                at_ms: f.int("res_ms"),
                outcome: f.text("res_outcome"),
            }),
        })
    }
}

impl Store {
    /// Registers a device to its owner (creating the owner's profile if new). A device
    /// already registered to someone else is refused.
    pub async fn register_device(&self, d: &NewDevice) -> Result<DeviceRecord, StoreError> {
        match self.call(&RegisterDevice { device: d }).await? {
            RegisterDeviceReply::Created | RegisterDeviceReply::Updated => self
                .get_device(&d.id)
                .await?
                .ok_or_else(|| StoreError::Internal("device vanished".into())),
            RegisterDeviceReply::Taken => Err(StoreError::DeviceTaken {
                device: d.id.clone(),
            }),
        }
    }

    /// A device, if registered.
    pub async fn get_device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.device(id))
            .query_async(&mut conn)
            .await?;
        let f = Fields::new(m);
        if f.is_empty() {
            return Ok(None);
        }
        let home = f
            .place("h")
            .ok_or_else(|| StoreError::Internal(format!("device {id} has no home")))?;
        let last_fix = f.place("f").map(|p| (p, f.int("f_ms")));
        Ok(Some(DeviceRecord {
            id: id.to_string(),
            owner: f.text("owner"),
            secret_hash: f.text("secret"),
            salt: f.text("salt"),
            home,
            last_fix,
        }))
    }

    /// Remembers the fix a device sent (taken at `fix_ms`), unless it already holds a
    /// newer one, so a later press without a position still knows where the person was.
    pub async fn remember_device_fix(
        &self,
        id: &str,
        at: &PlaceRec,
        fix_ms: i64,
    ) -> Result<(), StoreError> {
        let key = self.keys.device(id);
        let mut conn = self.conn.clone();
        let stored: Option<i64> = redis::cmd("HGET")
            .arg(&key)
            .arg("f_ms")
            .query_async(&mut conn)
            .await?;
        if stored.is_some_and(|s| s >= fix_ms) {
            return Ok(());
        }
        let mut fields: Vec<(String, String)> = crate::fields::place_fields("f", Some(at)).into();
        fields.push(("f_ms".into(), fix_ms.to_string()));
        let () = redis::cmd("HSET")
            .arg(&key)
            .arg(fields)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Raises an alert, or returns the device's recent open one; tells the care contacts.
    /// Returns the alert and whether it is new.
    pub async fn raise_alert(
        &self,
        a: &NewAlert,
        repeat_window_ms: i64,
    ) -> Result<(AlertRecord, bool), StoreError> {
        let mut conn = self.conn.clone();
        // The new alert's key must be declared, so its id comes first (ids may skip).
        let n: i64 = redis::cmd("INCR")
            .arg(self.keys.seq("alert"))
            .query_async(&mut conn)
            .await?;
        let id = format!("A{n}");
        let reply = self
            .call(&RaiseAlert {
                id: &id,
                alert: a,
                repeat_window_ms,
            })
            .await?;
        let (id, created) = match reply {
            RaiseAlertReply::Created { alert } => (alert, true),
            RaiseAlertReply::Existing { alert } => (alert, false),
        };
        Ok((self.get_alert(&id).await?, created))
    }

    /// One alert.
    pub async fn get_alert(&self, id: &str) -> Result<AlertRecord, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.alert(id))
            .query_async(&mut conn)
            .await?;
        let f = Fields::new(m);
        if f.is_empty() {
            return Err(StoreError::not_found(Entity::Alert, id));
        }
        AlertRecord::from_fields(&f)
            .ok_or_else(|| StoreError::Internal(format!("alert {id} is malformed")))
    }

    /// Alerts, newest first: the open ones, or all.
    pub async fn list_alerts(
        &self,
        include_acknowledged: bool,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let k = &self.keys;
        let key = if include_acknowledged {
            &k.alerts_all
        } else {
            &k.alerts_open
        };
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(limit as i64 - 1)
            .arg("REV")
            .query_async(&mut conn)
            .await?;
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(k.alert(id));
        }
        let maps: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
        Ok(maps
            .into_iter()
            .filter_map(|m| AlertRecord::from_fields(&Fields::new(m)))
            .collect())
    }

    /// Resolves an alert, open or acknowledged (a second resolution keeps the first):
    /// it leaves the open list and is kept for the retention period.
    pub async fn resolve_alert(
        &self,
        id: &str,
        operator: &str,
        outcome: &str,
    ) -> Result<AlertRecord, StoreError> {
        match self
            .call(&ResolveAlert {
                id,
                operator,
                outcome,
            })
            .await?
        {
            ResolveReply::Resolved | ResolveReply::Already => self.get_alert(id).await,
            ResolveReply::Missing => Err(StoreError::not_found(Entity::Alert, id)),
            other => Err(StoreError::Internal(format!(
                "resolve_alert replied {other:?}"
            ))),
        }
    }

    /// Acknowledges an alert (a second acknowledgement keeps the first).
    pub async fn acknowledge_alert(
        &self,
        id: &str,
        operator: &str,
        note: &str,
    ) -> Result<AlertRecord, StoreError> {
        match self.call(&AckAlert { id, operator, note }).await? {
            AckAlertReply::Missing => Err(StoreError::not_found(Entity::Alert, id)),
            AckAlertReply::Acknowledged | AckAlertReply::Already => self.get_alert(id).await,
        }
    }
}
