//! Callers: the profiles behind phone numbers.

use crate::{Store, StoreError, now_ms};
use chrono::NaiveDate;
use std::collections::HashMap;
use taxi_domain::booking::{Need, join_codes, parse_needs};

/// A named place a caller uses often.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedPlace {
    /// Unique per caller.
    pub name: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Address text for the driver.
    pub address: String,
}

/// A caller's profile as an operator enters it (checked).
#[derive(Debug, Clone, Default)]
pub struct CallerProfile {
    /// Canonical phone number: the key.
    pub phone: String,
    /// Name.
    pub name: String,
    /// Birth date from a checked resident ID; `None` keeps what is stored.
    pub birth: Option<NaiveDate>,
    /// Care contacts' canonical phone numbers.
    pub contacts: Vec<String>,
    /// Saved places.
    pub places: Vec<SavedPlace>,
    /// Needs.
    pub needs: Vec<Need>,
    /// Operator's older-person flag.
    pub elderly_flag: bool,
    /// Operator's notes.
    pub notes: String,
}

/// A caller as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallerRecord {
    /// Canonical phone number.
    pub phone: String,
    /// Name.
    pub name: String,
    /// Birth date, if a resident ID was given.
    pub birth: Option<NaiveDate>,
    /// Care contacts.
    pub contacts: Vec<String>,
    /// Saved places.
    pub places: Vec<SavedPlace>,
    /// Needs.
    pub needs: Vec<Need>,
    /// Operator's flag.
    pub elderly_flag: bool,
    /// Notes.
    pub notes: String,
    /// One-key devices owned.
    pub devices: Vec<String>,
    /// Created (ms).
    pub created_ms: i64,
    /// Updated (ms).
    pub updated_ms: i64,
}

impl CallerRecord {
    /// The saved place called `name`.
    pub fn place(&self, name: &str) -> Option<&SavedPlace> {
        self.places.iter().find(|p| p.name == name)
    }

    pub(crate) fn from_map(phone: &str, m: &HashMap<String, String>, devices: Vec<String>) -> Self {
        let get = |f: &str| m.get(f).cloned().unwrap_or_default();
        let csv = |f: &str| -> Vec<String> {
            get(f)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        Self {
            phone: phone.to_string(),
            name: get("name"),
            birth: NaiveDate::parse_from_str(&get("birth"), "%Y-%m-%d").ok(),
            contacts: csv("contacts"),
            places: serde_json::from_str(&get("places")).unwrap_or_default(),
            needs: parse_needs(&get("needs")),
            elderly_flag: get("flag") == "1",
            notes: get("notes"),
            devices,
            created_ms: get("created").parse().unwrap_or(0),
            updated_ms: get("updated").parse().unwrap_or(0),
        }
    }
}

/// The replies of `caller_screen.lua`: profile, devices, recent ids, active ids, orders
/// (each a flat field/value list).
type ScreenRows = (
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<Vec<String>>,
);

/// What the screen pop shows: see [`Store::caller_screen`].
#[derive(Debug, Clone)]
pub struct CallerScreen {
    /// The caller, if the number is known.
    pub caller: Option<CallerRecord>,
    /// Newest order ids first.
    pub recent: Vec<String>,
    /// Ids of orders not yet ended.
    pub active: Vec<String>,
    /// The orders named in `recent` and `active`.
    pub orders: Vec<crate::orders::OrderRecord>,
}

impl Store {
    /// Creates or updates a caller in one atomic step; says whether it was new.
    ///
    /// A profile without a birth date keeps the stored one: the resident ID is write-only,
    /// so an operator correcting a name must not erase it.
    pub async fn upsert_caller(
        &self,
        p: &CallerProfile,
    ) -> Result<(CallerRecord, bool), StoreError> {
        let key = self.keys.caller(&p.phone);
        let now = now_ms();
        let places =
            serde_json::to_string(&p.places).map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut fields: Vec<(&str, String)> = vec![
            ("name", p.name.clone()),
            ("contacts", p.contacts.join(",")),
            ("places", places),
            ("needs", join_codes(&p.needs, Need::code)),
            ("flag", if p.elderly_flag { "1" } else { "0" }.to_string()),
            ("notes", p.notes.clone()),
            ("updated", now.to_string()),
        ];
        if let Some(b) = p.birth {
            fields.push(("birth", b.format("%Y-%m-%d").to_string()));
        }
        let mut conn = self.conn.clone();
        let (created,): (i64,) = redis::pipe()
            .atomic()
            .hset_nx(&key, "created", now)
            .hset_multiple(&key, &fields)
            .ignore()
            .query_async(&mut conn)
            .await?;
        let rec = self
            .get_caller(&p.phone)
            .await?
            .ok_or_else(|| StoreError::Internal("caller vanished".into()))?;
        Ok((rec, created == 1))
    }

    /// The caller behind a phone number, if known.
    pub async fn get_caller(&self, phone: &str) -> Result<Option<CallerRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let (m, devices): (HashMap<String, String>, Vec<String>) = redis::pipe()
            .hgetall(self.keys.caller(phone))
            .smembers(self.keys.caller_devices(phone))
            .query_async(&mut conn)
            .await?;
        if m.is_empty() {
            return Ok(None);
        }
        let mut devices = devices;
        devices.sort();
        Ok(Some(CallerRecord::from_map(phone, &m, devices)))
    }

    /// The screen pop in one round trip: the caller (if known), their `recent` newest
    /// order ids, their active order ids, and all those orders.
    pub async fn caller_screen(
        &self,
        phone: &str,
        recent: usize,
    ) -> Result<CallerScreen, StoreError> {
        let mut conn = self.conn.clone();
        let (profile, devices, recent_ids, active, orders): ScreenRows = self
            .scripts
            .caller_screen
            .key(self.keys.caller(phone))
            .arg(&self.keys.entity_prefix)
            .arg(phone)
            .arg(recent)
            .invoke_async(&mut conn)
            .await?;
        let pairs = |flat: Vec<String>| -> HashMap<String, String> {
            flat.chunks_exact(2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect()
        };
        let caller = (!profile.is_empty()).then(|| {
            let mut devices = devices;
            devices.sort();
            CallerRecord::from_map(phone, &pairs(profile), devices)
        });
        let orders = orders
            .into_iter()
            .filter(|o| !o.is_empty())
            .map(|o| crate::orders::OrderRecord::from_map(&pairs(o)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CallerScreen {
            caller,
            recent: recent_ids,
            active,
            orders,
        })
    }

    /// A page of a caller's order ids, newest first, and the total.
    pub async fn caller_order_ids(
        &self,
        phone: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<String>, usize), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.caller_orders(phone);
        let (ids, total): (Vec<String>, usize) = redis::pipe()
            .zrevrange(&key, offset as isize, (offset + limit) as isize - 1)
            .zcard(&key)
            .query_async(&mut conn)
            .await?;
        Ok((ids, total))
    }
}
