//! The vocabulary of a booking: channels, payment, passenger needs, who cancelled.
//!
//! Each enum has a short stored code; `from_code` is the only parser, so an unknown code
//! in Redis is noticed rather than guessed.

macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code stored in Redis.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// Parses a stored code.
            pub fn from_code(code: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.code() == code)
            }
        }
    };
}

coded_enum! {
    /// How an order reached us.
    Channel {
        /// A 95128 operator.
        Operator => "operator",
        /// The voice menu.
        Ivr => "ivr",
        /// A family member or community worker.
        FamilyProxy => "family_proxy",
        /// A one-key device.
        OneKey => "one_key",
    }
}

coded_enum! {
    /// How a trip is paid.
    Payment {
        /// Cash: the default for phone and device orders.
        Cash => "cash",
        /// A bank card.
        Card => "card",
        /// A mobile wallet.
        Mobile => "mobile",
    }
}

coded_enum! {
    /// What a passenger needs from the taxi and its driver.
    Need {
        /// A wheelchair-accessible vehicle: a hard requirement for matching.
        Wheelchair => "wheelchair",
        /// Uses a walking aid.
        WalkingAid => "walking_aid",
        /// Hard of hearing.
        HardOfHearing => "hard_of_hearing",
    }
}

coded_enum! {
    /// Who cancelled an order.
    CancelledBy {
        /// The passenger (by phone).
        Passenger => "passenger",
        /// An operator.
        Operator => "operator",
        /// The driver.
        Driver => "driver",
        /// The passenger's one-key device.
        Device => "device",
        /// The system.
        System => "system",
    }
}

/// Joins codes with commas for storage.
pub fn join_codes<T: Copy>(values: &[T], code: impl Fn(T) -> &'static str) -> String {
    values
        .iter()
        .map(|v| code(*v))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses comma-separated needs, skipping unknown codes.
pub fn parse_needs(csv: &str) -> Vec<Need> {
    csv.split(',').filter_map(Need::from_code).collect()
}

/// Merges two lists of needs without repeats, keeping first-seen order.
pub fn merge_needs(a: &[Need], b: &[Need]) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::new();
    for n in a.iter().chain(b) {
        if !out.contains(n) {
            out.push(*n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::from_code(c.code()), Some(*c));
        }
        for p in Payment::ALL {
            assert_eq!(Payment::from_code(p.code()), Some(*p));
        }
        for n in Need::ALL {
            assert_eq!(Need::from_code(n.code()), Some(*n));
        }
        for b in CancelledBy::ALL {
            assert_eq!(CancelledBy::from_code(b.code()), Some(*b));
        }
        assert_eq!(Channel::from_code("fax"), None);
    }

    #[test]
    fn needs_csv() {
        let needs = [Need::Wheelchair, Need::HardOfHearing];
        let csv = join_codes(&needs, Need::code);
        assert_eq!(csv, "wheelchair,hard_of_hearing");
        assert_eq!(parse_needs(&csv), needs);
        assert_eq!(parse_needs(""), vec![]);
        assert_eq!(
            merge_needs(&[Need::WalkingAid], &[Need::Wheelchair, Need::WalkingAid]),
            vec![Need::WalkingAid, Need::Wheelchair]
        );
    }
}
