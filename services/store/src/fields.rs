//! One reader for the hashes the store keeps (orders, taxis, callers, devices, alerts):
//! missing fields read as empty or zero, places as `(prefix)_lat/_lon/_addr` triples.

use crate::orders::PlaceRec;
use std::collections::HashMap;
use taxi_domain::Coordinates;

/// A Redis hash as read by `HGETALL` (or a flat field/value list).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields(HashMap<String, String>);

impl Fields {
    /// From `HGETALL`'s map.
    pub(crate) fn new(map: HashMap<String, String>) -> Self {
        Self(map)
    }

    /// Whether the hash was empty (the key does not exist).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A text field, empty if missing.
    pub(crate) fn text(&self, field: &str) -> String {
        self.0.get(field).cloned().unwrap_or_default()
    }

    /// A text field, `None` if missing or empty.
    pub(crate) fn opt(&self, field: &str) -> Option<String> {
        self.0.get(field).filter(|v| !v.is_empty()).cloned()
    }

    /// An integer field, 0 if missing or malformed.
    pub(crate) fn int(&self, field: &str) -> i64 {
        self.0
            .get(field)
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as i64)
            .unwrap_or(0)
    }

    /// A `0`/`1` flag.
    pub(crate) fn flag(&self, field: &str) -> bool {
        self.0.get(field).is_some_and(|v| v == "1")
    }

    /// A comma-separated list.
    pub(crate) fn csv(&self, field: &str) -> Vec<String> {
        split_csv(self.0.get(field).map(String::as_str).unwrap_or(""))
    }

    /// The place stored as `<prefix>_lat`, `<prefix>_lon`, `<prefix>_addr`.
    pub(crate) fn place(&self, prefix: &str) -> Option<PlaceRec> {
        let num = |f: &str| self.0.get(&format!("{prefix}_{f}"))?.parse::<f64>().ok();
        Some(PlaceRec {
            at: Coordinates::new(num("lat")?, num("lon")?).ok()?,
            address: self.text(&format!("{prefix}_addr")),
        })
    }
}

/// The fields that store a place under `prefix` (`p_lat`, `p_lon`, `p_addr`); empty
/// values for no place.
pub(crate) fn place_fields(prefix: &str, place: Option<&PlaceRec>) -> [(String, String); 3] {
    let (lat, lon, addr) = match place {
        Some(p) => (
            p.at.lat().to_string(),
            p.at.lon().to_string(),
            p.address.clone(),
        ),
        None => Default::default(),
    };
    [
        (format!("{prefix}_lat"), lat),
        (format!("{prefix}_lon"), lon),
        (format!("{prefix}_addr"), addr),
    ]
}

/// The items of a comma-separated list.
pub(crate) fn split_csv(csv: &str) -> Vec<String> {
    csv.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_round_trip_and_missing_fields_are_empty() {
        let p = PlaceRec {
            at: Coordinates::new(29.5, 106.5).unwrap(),
            address: "解放碑".into(),
        };
        let f = Fields::new(place_fields("p", Some(&p)).into_iter().collect());
        assert_eq!(f.place("p"), Some(p));
        assert_eq!(f.place("d"), None);
        assert_eq!(f.int("nope"), 0);
        assert_eq!(f.text("nope"), "");
        assert!(f.csv("nope").is_empty());
    }
}
