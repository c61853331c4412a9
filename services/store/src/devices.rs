//! One-key devices and the emergency alerts of their long presses.

use crate::orders::PlaceRec;
use crate::{Store, StoreError, now_ms};
use std::collections::HashMap;
use taxi_domain::Coordinates;

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
    /// Hex SHA-256 of salt and secret.
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
    /// The device.
    pub device: String,
    /// Its owner's phone.
    pub phone: String,
    /// Its owner's name.
    pub name: String,
    /// Where.
    pub location: PlaceRec,
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
}

/// An alert to raise.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// The device.
    pub device: String,
    /// Owner's phone.
    pub phone: String,
    /// Owner's name.
    pub name: String,
    /// Where.
    pub location: PlaceRec,
    /// Care contacts to tell.
    pub contacts: Vec<String>,
}

fn place(m: &HashMap<String, String>, p: &str) -> Option<PlaceRec> {
    let get = |f: String| m.get(&f).cloned().unwrap_or_default();
    let lat = get(format!("{p}_lat")).parse().ok()?;
    let lon = get(format!("{p}_lon")).parse().ok()?;
    Some(PlaceRec {
        at: Coordinates::new(lat, lon).ok()?,
        address: get(format!("{p}_addr")),
    })
}

impl AlertRecord {
    fn from_map(m: &HashMap<String, String>) -> Option<Self> {
        let get = |f: &str| m.get(f).cloned().unwrap_or_default();
        Some(Self {
            id: get("id"),
            device: get("device"),
            phone: get("phone"),
            name: get("name"),
            location: place(m, "l")?,
            contacts: get("contacts")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            raised_ms: get("raised").parse().unwrap_or(0),
            acknowledged: get("ack") == "1",
            acknowledged_by: get("ack_by"),
            acknowledged_ms: get("ack_ms").parse().unwrap_or(0),
            note: get("note"),
        })
    }
}

impl Store {
    /// Registers a device to its owner (creating the owner's profile if new). A device
    /// already registered to someone else is refused.
    pub async fn register_device(&self, d: &NewDevice) -> Result<DeviceRecord, StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .register_device
            .key(k.device(&d.id))
            .key(k.caller(&d.owner))
            .key(k.caller_devices(&d.owner))
            .key(&k.events)
            .arg(&d.id)
            .arg(&d.owner)
            .arg(now_ms())
            .arg(&d.owner_name)
            .arg("secret")
            .arg(&d.secret_hash)
            .arg("salt")
            .arg(&d.salt)
            .arg("h_lat")
            .arg(d.home.at.lat())
            .arg("h_lon")
            .arg(d.home.at.lon())
            .arg("h_addr")
            .arg(&d.home.address)
            .invoke_async(&mut conn)
            .await?;
        match reply.first().map(String::as_str) {
            Some("created" | "updated") => self
                .get_device(&d.id)
                .await?
                .ok_or_else(|| StoreError::Internal("device vanished".into())),
            Some("taken") => Err(StoreError::AlreadyExists(format!(
                "device_id: device {} is registered to another caller",
                d.id
            ))),
            _ => Err(StoreError::Internal(format!(
                "register_device replied {reply:?}"
            ))),
        }
    }

    /// A device, if registered.
    pub async fn get_device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.device(id))
            .query_async(&mut conn)
            .await?;
        if m.is_empty() {
            return Ok(None);
        }
        let get = |f: &str| m.get(f).cloned().unwrap_or_default();
        let home = place(&m, "h")
            .ok_or_else(|| StoreError::Internal(format!("device {id} has no home")))?;
        Ok(Some(DeviceRecord {
            id: id.to_string(),
            owner: get("owner"),
            secret_hash: get("secret"),
            salt: get("salt"),
            home,
        }))
    }

    /// Raises an alert, or returns the device's recent open one; tells the care contacts.
    /// Returns the alert and whether it is new.
    pub async fn raise_alert(
        &self,
        a: &NewAlert,
        repeat_window_ms: i64,
    ) -> Result<(AlertRecord, bool), StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let contacts = a.contacts.join(",");
        let reply: Vec<String> = self
            .scripts
            .raise_alert
            .key(k.device(&a.device))
            .key(k.seq("alert"))
            .key(&k.alerts_open)
            .key(&k.alerts_all)
            .key(&k.events)
            .key(&k.notifications)
            .arg(&a.device)
            .arg(now_ms())
            .arg(repeat_window_ms)
            .arg(&k.entity_prefix)
            .arg(&a.phone)
            .arg(&contacts)
            .arg("phone")
            .arg(&a.phone)
            .arg("name")
            .arg(&a.name)
            .arg("contacts")
            .arg(&contacts)
            .arg("l_lat")
            .arg(a.location.at.lat())
            .arg("l_lon")
            .arg(a.location.at.lon())
            .arg("l_addr")
            .arg(&a.location.address)
            .invoke_async(&mut conn)
            .await?;
        let (Some(kind), Some(id)) = (reply.first(), reply.get(1)) else {
            return Err(StoreError::Internal(format!(
                "raise_alert replied {reply:?}"
            )));
        };
        Ok((self.get_alert(id).await?, kind == "created"))
    }

    /// One alert.
    pub async fn get_alert(&self, id: &str) -> Result<AlertRecord, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.alert(id))
            .query_async(&mut conn)
            .await?;
        if m.is_empty() {
            return Err(StoreError::NotFound {
                what: "alert",
                id: id.to_string(),
            });
        }
        AlertRecord::from_map(&m)
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
        Ok(maps.iter().filter_map(AlertRecord::from_map).collect())
    }

    /// Acknowledges an alert (a second acknowledgement keeps the first).
    pub async fn acknowledge_alert(
        &self,
        id: &str,
        operator: &str,
        note: &str,
    ) -> Result<AlertRecord, StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let reply: String = self
            .scripts
            .ack_alert
            .key(k.alert(id))
            .key(&k.alerts_open)
            .key(&k.events)
            .arg(id)
            .arg(operator)
            .arg(note)
            .arg(now_ms())
            .invoke_async(&mut conn)
            .await?;
        if reply == "missing" {
            return Err(StoreError::NotFound {
                what: "alert",
                id: id.to_string(),
            });
        }
        self.get_alert(id).await
    }
}
