//! Field checks shared by every service: phone numbers, bounded text, identifiers.

use crate::FieldError;

/// A phone number in its canonical form: `13812345678` for mobiles, `023-12345678` for
/// landlines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// Parses a mainland mobile number or a landline with its area code.
    ///
    /// Spaces and dashes are ignored and a leading `+86` or `86` is dropped. Mobiles are
    /// eleven digits starting 13 to 19. Landlines are an area code (010 and 02x have three
    /// digits, the others four) followed by a 7- or 8-digit local number.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        if text.trim().is_empty() {
            return Err(FieldError::new(field, "is required"));
        }
        if text.chars().count() > 20 {
            return Err(FieldError::new(field, "is longer than 20 characters"));
        }
        let mut digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if let Some(rest) = digits.strip_prefix('+') {
            digits = rest.to_string();
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new(
                field,
                "may hold only digits, spaces, dashes and a leading +",
            ));
        }
        if digits.len() == 13 && digits.starts_with("86") {
            digits.drain(..2);
        }
        let b = digits.as_bytes();
        if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
            return Ok(Self(digits));
        }
        if b.first() == Some(&b'0') {
            let area_len = if digits.starts_with("010") || digits.starts_with("02") {
                3
            } else {
                4
            };
            let local = digits.len().saturating_sub(area_len);
            if digits.len() > area_len && (7..=8).contains(&local) && b[area_len] != b'0' {
                return Ok(Self(format!(
                    "{}-{}",
                    &digits[..area_len],
                    &digits[area_len..]
                )));
            }
            return Err(FieldError::new(
                field,
                "is not a landline number with area code (for example 023-12345678)",
            ));
        }
        Err(FieldError::new(
            field,
            "is not a mainland mobile number (11 digits, 13x-19x) or a landline with area code",
        ))
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with its middle hidden, for logs and replies not meant for operators:
    /// `138****5678`, `023-****5678`.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

impl std::fmt::Display for Phone {
    /// Displays masked: a `Phone` in a log line never shows the whole number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks any stored phone text: keeps the first three and the last four characters.
pub fn mask_phone(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    if let Some(dash) = text.find('-') {
        let area = &text[..dash];
        return format!("{area}-****{tail}");
    }
    format!("{head}****{tail}")
}

/// Checks free text: at most `max_chars` characters and no control characters
/// (newlines are allowed in notes).
pub fn text(field: &str, value: &str, max_chars: usize) -> Result<String, FieldError> {
    let count = value.chars().count();
    if count > max_chars {
        return Err(FieldError::new(
            field,
            format!("is {count} characters long; at most {max_chars} are allowed"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldError::new(field, "contains control characters"));
    }
    if let Some(c) = value.chars().find(|c| is_invisible_format(*c)) {
        return Err(FieldError::new(
            field,
            format!(
                "contains the invisible formatting character U+{:04X}, which could disguise what a driver or an operator reads",
                c as u32
            ),
        ));
    }
    Ok(value.trim().to_string())
}

/// Bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069), zero-width
/// characters (U+200B–U+200F, U+2060) and the byte-order mark: they change how text
/// reads without being seen.
fn is_invisible_format(c: char) -> bool {
    matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060 | 0x2066..=0x2069 | 0xFEFF)
}

/// The provinces' one-character abbreviations that start a mainland plate.
const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// Like [`text`], and not empty.
pub fn required_text(field: &str, value: &str, max_chars: usize) -> Result<String, FieldError> {
    let value = text(field, value, max_chars)?;
    if value.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    Ok(value)
}

/// Checks an identifier: 1 to 64 characters of ASCII letters, digits, `-`, `_`, `.` or `:`.
pub fn id(field: &str, value: &str) -> Result<String, FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    if value.len() > 64 {
        return Err(FieldError::new(field, "is longer than 64 characters"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err(FieldError::new(
            field,
            "may hold only ASCII letters, digits and - _ . :",
        ));
    }
    Ok(value.to_string())
}

/// Checks a licence plate such as `渝A12345` or `渝AD12345` and returns it in one form:
/// NFKC-normalised (fullwidth `渝Ａ１２３４５` is `渝A12345`, so a plate cannot be
/// registered twice in two spellings), upper-cased, without separators; a province
/// character, a letter, then letters and digits.
pub fn plate(field: &str, value: &str) -> Result<String, FieldError> {
    use unicode_normalization::UnicodeNormalization;
    let value: String = value
        .nfkc()
        .filter(|c| !matches!(c, ' ' | '·' | '-' | '・'))
        .collect::<String>()
        .to_uppercase();
    let count = value.chars().count();
    if count == 0 {
        return Err(FieldError::new(field, "is required"));
    }
    if !(6..=10).contains(&count) {
        return Err(FieldError::new(
            field,
            format!("has {count} characters; a plate has 6 to 10"),
        ));
    }
    let mut chars = value.chars();
    let (first, second) = (chars.next(), chars.next());
    let well_formed = first.is_some_and(|c| PROVINCES.contains(c))
        && second.is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric());
    if !well_formed {
        return Err(FieldError::new(
            field,
            "must be a province character, a letter, then letters and digits (e.g. 渝A12345)",
        ));
    }
    Ok(value)
}

/// Checks a fleet tag: 1 to 32 lower-case ASCII letters, digits or `-`.
pub fn tag(field: &str, value: &str) -> Result<String, FieldError> {
    let value = value.trim().to_ascii_lowercase();
    if value.is_empty() || value.len() > 32 {
        return Err(FieldError::new(field, "must be 1 to 32 characters"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(FieldError::new(
            field,
            "may hold only ASCII letters, digits and -",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers() {
        for (input, canonical) in [
            ("13812345678", "13812345678"),
            ("138 1234 5678", "13812345678"),
            ("138-1234-5678", "13812345678"),
            ("+8613812345678", "13812345678"),
            ("8619912345678", "19912345678"),
        ] {
            assert_eq!(Phone::parse("phone", input).unwrap().as_str(), canonical);
        }
        for bad in [
            "12812345678",
            "1381234567",
            "138123456789",
            "1381234567a",
            "",
            "   ",
        ] {
            let err = Phone::parse("caller.phone", bad).unwrap_err();
            assert_eq!(err.field, "caller.phone", "{bad}");
        }
    }

    #[test]
    fn landline_numbers() {
        for (input, canonical) in [
            ("023-12345678", "023-12345678"),
            ("02312345678", "023-12345678"),
            ("010-1234567", "010-1234567"),
            ("0772-2123456", "0772-2123456"),
            ("07722123456", "0772-2123456"),
        ] {
            assert_eq!(Phone::parse("p", input).unwrap().as_str(), canonical);
        }
        for bad in ["023-123", "023-0234567", "0231234567890", "0"] {
            assert!(Phone::parse("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("023-12345678"), "023-****5678");
        assert_eq!(mask_phone("12345"), "*****");
        let p = Phone::parse("p", "13812345678").unwrap();
        assert_eq!(format!("{p}"), "138****5678");
    }

    #[test]
    fn text_bounds() {
        assert_eq!(text("notes", " hi ", 10).unwrap(), "hi");
        assert_eq!(text("notes", "两行\n文字", 10).unwrap(), "两行\n文字");
        assert!(
            text("notes", "abc", 2)
                .unwrap_err()
                .reason
                .contains("at most 2")
        );
        assert!(text("notes", "a\u{0}b", 10).is_err());
        assert!(required_text("name", "  ", 10).is_err());
        // Characters, not bytes: six Chinese characters fit in six.
        assert!(text("name", "重庆市渝中区", 6).is_ok());
    }

    #[test]
    fn invisible_formatting_is_refused() {
        for bad in ["司机\u{202E}看", "a\u{200B}b", "\u{FEFF}x", "x\u{2066}y"] {
            let e = text("notes", bad, 100).unwrap_err();
            assert!(e.to_string().contains("notes"), "{e}");
        }
        assert!(text("notes", "拄拐杖，请帮忙", 100).is_ok());
    }

    #[test]
    fn ids_plates_tags() {
        assert!(id("taxi_id", "T42").is_ok());
        assert!(id("taxi_id", "").is_err());
        assert!(id("taxi_id", "a b").is_err());
        assert!(id("taxi_id", &"x".repeat(65)).is_err());
        assert_eq!(plate("plate", "渝a·12345").unwrap(), "渝A12345");
        assert!(plate("plate", "渝A1").is_err());
        assert!(plate("plate", "渝A12$45").is_err());
        assert_eq!(plate("plate", "渝Ａ１２３４５").unwrap(), "渝A12345");
        assert_eq!(plate("plate", "渝ＡＤ１２３４５").unwrap(), "渝AD12345");
        assert!(plate("plate", "AB12345").is_err(), "no province");
        assert!(
            plate("plate", "渝123456").is_err(),
            "no letter after the province"
        );
        assert!(plate("plate", "渝A1234好").is_err());
        assert_eq!(tag("fleet_tags[0]", "Caring").unwrap(), "caring");
        assert!(tag("fleet_tags[0]", "no spaces").is_err());
    }
}

/// The alphabet of generated ids and codes: Crockford's base 32 (no I, L, O, U).
pub const ID_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Length of a generated id after its prefix: 128 bits in base 32.
pub const GENERATED_ID_LEN: usize = 26;

/// An unguessable id: `prefix` and 128 random bits (`bits`, from the caller's generator)
/// in 26 base-32 characters. Orders, taxis, devices, relatives and sessions are named
/// this way, so no id can be guessed or counted.
pub fn generated_id(prefix: &str, bits: u128) -> String {
    let mut n = bits;
    let mut out = String::with_capacity(prefix.len() + GENERATED_ID_LEN);
    out.push_str(prefix);
    for _ in 0..GENERATED_ID_LEN {
        out.push(ID_ALPHABET[(n & 31) as usize] as char);
        n >>= 5;
    }
    out
}

#[cfg(test)]
mod generated_id_tests {
    use super::*;

    #[test]
    fn every_bit_counts_and_the_form_is_an_id() {
        let a = generated_id("O", 0);
        assert_eq!(a, format!("O{}", "0".repeat(26)));
        assert_ne!(generated_id("O", 1 << 127), a, "the top bit is kept");
        assert_ne!(generated_id("O", 1), a);
        let max = generated_id("T", u128::MAX);
        assert_eq!(max.len(), 27);
        assert!(id("taxi_id", &max).is_ok());
    }
}
