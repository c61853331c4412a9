//! Callers: the profiles behind phone numbers.

use crate::fields::Fields;
use crate::{Store, StoreError};
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
    /// How the caller is told about their orders (copied onto each order they book).
    pub notify: taxi_domain::notify::Channel,
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
    /// How the caller is told about their orders.
    pub notify: taxi_domain::notify::Channel,
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

    pub(crate) fn from_fields(phone: &str, f: &Fields, devices: Vec<String>) -> Self {
        Self {
            phone: phone.to_string(),
            name: f.text("name"),
            birth: NaiveDate::parse_from_str(&f.text("birth"), "%Y-%m-%d").ok(),
            contacts: f.csv("contacts"),
            places: serde_json::from_str(&f.text("places")).unwrap_or_default(),
            needs: parse_needs(&f.text("needs")),
            elderly_flag: f.flag("flag"),
            notes: f.text("notes"),
            notify: taxi_domain::notify::Channel::from_code(&f.text("notify")),
            devices,
            created_ms: f.int("created"),
            updated_ms: f.int("updated"),
        }
    }
}

/// The first read of the screen pop: profile, devices, recent ids, active ids.
type ScreenRows = (
    HashMap<String, String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
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
        let now = self.now_ms();
        let places =
            serde_json::to_string(&p.places).map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut fields: Vec<(&str, String)> = vec![
            ("name", p.name.clone()),
            ("contacts", p.contacts.join(",")),
            ("places", places),
            ("needs", join_codes(&p.needs, Need::code)),
            ("flag", if p.elderly_flag { "1" } else { "0" }.to_string()),
            ("notes", p.notes.clone()),
            ("notify", p.notify.code().to_string()),
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
        let f = Fields::new(m);
        if f.is_empty() {
            return Ok(None);
        }
        let mut devices = devices;
        devices.sort();
        Ok(Some(CallerRecord::from_fields(phone, &f, devices)))
    }

    /// The screen pop in two pipelined round trips: the caller (if known), their
    /// `recent` newest order ids and their active order ids; then those orders.
    pub async fn caller_screen(
        &self,
        phone: &str,
        recent: usize,
    ) -> Result<CallerScreen, StoreError> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let (profile, devices, recent_ids, active): ScreenRows = redis::pipe()
            .hgetall(k.caller(phone))
            .smembers(k.caller_devices(phone))
            .zrevrange(k.caller_orders(phone), 0, recent as isize - 1)
            .zrange(k.caller_active(phone), 0, -1)
            .query_async(&mut conn)
            .await?;
        let profile = Fields::new(profile);
        let caller = (!profile.is_empty()).then(|| {
            let mut devices = devices;
            devices.sort();
            CallerRecord::from_fields(phone, &profile, devices)
        });
        let mut ids: Vec<String> = Vec::with_capacity(recent_ids.len() + active.len());
        for id in recent_ids.iter().chain(&active) {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        let recent_ids = if recent == 0 { vec![] } else { recent_ids };
        let orders = self.get_orders(&ids).await?;
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
            .zrevrange(
                &key,
                isize::try_from(offset).unwrap_or(isize::MAX),
                isize::try_from(offset.saturating_add(limit))
                    .unwrap_or(isize::MAX)
                    .saturating_sub(1),
            )
            .zcard(&key)
            .query_async(&mut conn)
            .await?;
        Ok((ids, total))
    }
}
