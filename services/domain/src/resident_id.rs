//! The resident identity card number (居民身份证号码, GB 11643-1999).
//!
//! Eighteen characters: a 6-digit region code, the birth date as `YYYYMMDD`, a 3-digit
//! sequence and an ISO 7064 MOD 11-2 check character (`0`-`9` or `X`). Legacy 15-digit
//! numbers hold the birth date as `YYMMDD` of the 1900s and no check character.
//!
//! Only the birth date is kept: the number itself is never stored, logged or returned.

use crate::FieldError;
use chrono::{Datelike, NaiveDate};

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// A checked resident ID, reduced to what the system needs: the birth date.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ResidentId {
    birth_date: NaiveDate,
}

impl std::fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResidentId(<redacted>)")
    }
}

/// The check character an 18-character ID must end with, from its first 17 digits.
pub fn check_char(first17: &[u8]) -> Option<char> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(CHECK_CHARS[(sum % 11) as usize] as char)
}

impl ResidentId {
    /// Checks an ID's form, check character and birth date against `today`.
    pub fn parse(field: &str, text: &str, today: NaiveDate) -> Result<Self, FieldError> {
        let text = text.trim();
        let bytes = text.as_bytes();
        let birth = match bytes.len() {
            18 => {
                let Some(expected) = check_char(&bytes[..17]) else {
                    return Err(FieldError::new(
                        field,
                        "the first 17 characters must be digits",
                    ));
                };
                let given = (bytes[17] as char).to_ascii_uppercase();
                if given != expected {
                    return Err(FieldError::new(
                        field,
                        "check character does not match (GB 11643 MOD 11-2): the number is mistyped",
                    ));
                }
                &text[6..14]
            }
            15 => {
                if !bytes.iter().all(u8::is_ascii_digit) {
                    return Err(FieldError::new(field, "a 15-digit ID must be all digits"));
                }
                &text[6..12]
            }
            n => {
                return Err(FieldError::new(
                    field,
                    format!("has {n} characters; a resident ID has 18 (or 15 for old cards)"),
                ));
            }
        };
        let (year, rest) = if birth.len() == 8 {
            (birth[..4].parse::<i32>().ok(), &birth[4..])
        } else {
            (
                birth[..2].parse::<i32>().ok().map(|y| 1900 + y),
                &birth[2..],
            )
        };
        let month = rest[..2].parse::<u32>().ok();
        let day = rest[2..].parse::<u32>().ok();
        let date = match (year, month, day) {
            (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y, m, d),
            _ => None,
        };
        let Some(birth_date) = date else {
            return Err(FieldError::new(field, "holds an impossible birth date"));
        };
        if birth_date > today || birth_date.year() < 1890 {
            return Err(FieldError::new(
                field,
                "holds a birth date in the future or before 1890",
            ));
        }
        Ok(Self { birth_date })
    }

    /// The holder's birth date.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// Age in whole years on `today`.
    pub fn age_on(&self, today: NaiveDate) -> u32 {
        age_on(self.birth_date, today)
    }
}

/// Age in whole years of someone born on `birth` as of `today` (0 if not yet born).
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> u32 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age.max(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    /// Builds a valid 18-character ID for a birth date, for tests elsewhere too.
    fn make(birth: &str) -> String {
        let first17 = format!("500103{birth}123");
        let c = check_char(first17.as_bytes()).unwrap();
        format!("{first17}{c}")
    }

    #[test]
    fn check_character_of_the_standard_example() {
        // GB 11643-1999's worked example: 11010519491231002X.
        assert_eq!(check_char(b"11010519491231002"), Some('X'));
        let id = ResidentId::parse("id", "11010519491231002X", today()).unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.age_on(today()), 76);
        // A lower-case x is the same character.
        assert!(ResidentId::parse("id", "11010519491231002x", today()).is_ok());
    }

    #[test]
    fn rejects_bad_check_character() {
        let err =
            ResidentId::parse("caller.resident_id", "110105194912310021", today()).unwrap_err();
        assert_eq!(err.field, "caller.resident_id");
        assert!(err.reason.contains("check character"));
    }

    #[test]
    fn rejects_impossible_and_future_dates() {
        for birth in ["19500230", "19501301", "19500000", "20300101", "18000101"] {
            let err = ResidentId::parse("id", &make(birth), today()).unwrap_err();
            assert!(err.reason.contains("birth date"), "{birth}: {}", err.reason);
        }
        // 29 February exists in leap years only.
        assert!(ResidentId::parse("id", &make("19520229"), today()).is_ok());
        assert!(ResidentId::parse("id", &make("19530229"), today()).is_err());
    }

    #[test]
    fn rejects_wrong_length_and_letters() {
        for bad in ["", "12345", "11010519491231002XX", "1101051949123100AX"] {
            assert!(ResidentId::parse("id", bad, today()).is_err(), "{bad}");
        }
    }

    #[test]
    fn legacy_fifteen_digits() {
        let id = ResidentId::parse("id", "110105491231002", today()).unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert!(ResidentId::parse("id", "110105491331002", today()).is_err());
        assert!(ResidentId::parse("id", "11010549123100A", today()).is_err());
    }

    #[test]
    fn age_turns_on_the_birthday() {
        let birth = NaiveDate::from_ymd_opt(1966, 11, 22).unwrap();
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()),
            59
        );
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()),
            60
        );
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(1960, 1, 1).unwrap()),
            0
        );
    }

    #[test]
    fn debug_never_shows_the_number() {
        let id = ResidentId::parse("id", "11010519491231002X", today()).unwrap();
        assert_eq!(format!("{id:?}"), "ResidentId(<redacted>)");
    }
}
