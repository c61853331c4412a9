//! The operators' audit log: who did what, to what, when and from where, as a hash chain
//! that shows a removed or altered entry.
//!
//! Every write by a person (a booking, a cancel, an assignment, a caller's change, an
//! alert handled, an account changed) becomes one [`OplogEntry`]. Each stored entry
//! carries the hash of the one before it (`prev`) and its own hash:
//!
//! `hash = SHA-256(prev || canonical(entry))`, hex in storage,
//!
//! where `canonical` is every field length-prefixed in a fixed order (so no two entries,
//! nor an entry and a different split of its fields, share a text), and the first
//! entry's `prev` is [`GENESIS`]. [`verify`] (or [`Chain`], page by page) walks the log
//! and names the first problem: an entry whose hash does not match its contents, an entry
//! whose `prev` is not its predecessor's hash (entries removed between them), or a head
//! that is not the last entry (the last entries removed).
//!
//! The chain proves the log is whole relative to its head. Whoever can rewrite the head
//! too can rewrite history after it; operations therefore export the head (or the log)
//! regularly to somewhere else.

use crate::FieldError;
use sha2::{Digest, Sha256};

/// The `prev` of the first entry: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The most entries one page of the log may hold (the auditor's RPC).
pub const MAX_PAGE: usize = 500;

/// Bounds on each field, in characters: what a request could put into the log is capped.
pub mod bounds {
    /// `actor`: `operator:<id>`, `device:<id>`, ... (ids are at most 64 characters).
    pub const ACTOR: usize = 128;
    /// `role`.
    pub const ROLE: usize = 32;
    /// `action`: the RPC's name.
    pub const ACTION: usize = 64;
    /// `target`: an order id, a phone number, a taxi, a device, or nothing.
    pub const TARGET: usize = 128;
    /// `from`: the peer's address (an IPv6 address with its port fits).
    pub const FROM: usize = 128;
    /// `detail`: short text or JSON.
    pub const DETAIL: usize = 1024;
}

/// One write by a person.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OplogEntry {
    /// Who: `operator:alice`, `device:D1`, ... (from the credential, never the request).
    pub actor: String,
    /// The role the actor acted in.
    pub role: String,
    /// What: the RPC's name, e.g. `CreateBooking`.
    pub action: String,
    /// To what: an order id, a phone number, a taxi, a device, or `""`.
    pub target: String,
    /// When (epoch ms).
    pub at_ms: i64,
    /// From where: the peer's address.
    pub from: String,
    /// Anything else worth keeping: short text or JSON, at most [`bounds::DETAIL`].
    pub detail: String,
}

impl OplogEntry {
    /// Checks every field's bound (and that who and what are named): the error names the
    /// field as `oplog.<name>`.
    pub fn check(&self) -> Result<(), FieldError> {
        let fields = [
            ("actor", &self.actor, bounds::ACTOR, true),
            ("role", &self.role, bounds::ROLE, true),
            ("action", &self.action, bounds::ACTION, true),
            ("target", &self.target, bounds::TARGET, false),
            ("from", &self.from, bounds::FROM, false),
            ("detail", &self.detail, bounds::DETAIL, false),
        ];
        for (name, value, max, required) in fields {
            let field = format!("oplog.{name}");
            let count = value.chars().count();
            if required && value.trim().is_empty() {
                return Err(FieldError::new(field, "is required"));
            }
            if count > max {
                return Err(FieldError::new(
                    field,
                    format!("is {count} characters long; at most {max} are allowed"),
                ));
            }
            // Newlines are kept out too: one entry is one line in any export.
            if value.chars().any(char::is_control) {
                return Err(FieldError::new(field, "contains control characters"));
            }
        }
        Ok(())
    }

    /// The entry's unambiguous encoding: a version tag, then every field as a 4-byte
    /// big-endian length and its UTF-8 bytes, `at_ms` as 8 big-endian bytes, in the
    /// order of the struct.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.detail.len());
        frame(&mut out, b"oplog/v1");
        for text in [&self.actor, &self.role, &self.action, &self.target] {
            frame(&mut out, text.as_bytes());
        }
        out.extend_from_slice(&self.at_ms.to_be_bytes());
        frame(&mut out, self.from.as_bytes());
        frame(&mut out, self.detail.as_bytes());
        out
    }

    /// The hash this entry has when it follows `prev`: `SHA-256(prev || canonical)`, hex.
    /// `prev` is length-prefixed like every field, so an altered `prev` of any length
    /// still cannot run into the entry.
    pub fn chain_hash(&self, prev: &str) -> String {
        let mut h = Sha256::new();
        let mut framed = Vec::with_capacity(4 + prev.len());
        frame(&mut framed, prev.as_bytes());
        h.update(&framed);
        h.update(self.canonical());
        hex::encode(h.finalize())
    }
}

fn frame(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Checks a page cursor: a stream id such as `1700000000000-0`.
pub fn check_cursor(field: &str, cursor: &str) -> Result<(), FieldError> {
    let ok = cursor.len() <= 41
        && cursor.split_once('-').is_some_and(|(ms, seq)| {
            [ms, seq]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit()))
        });
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be an entry id such as 1700000000000-0",
        ))
    }
}

/// Checks a page size: 1 to [`MAX_PAGE`].
pub fn check_page_size(field: &str, limit: usize) -> Result<(), FieldError> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_PAGE}, not {limit}"),
        ))
    }
}

/// Where the log says it ends: the last entry's id and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The last entry's id.
    pub id: String,
    /// The last entry's hash.
    pub hash: String,
}

/// What walking the log found: intact, or the first problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry's hash matches its contents and its predecessor, and the head is the
    /// last entry.
    Intact {
        /// How many entries were checked.
        checked: u64,
    },
    /// Entry `id`'s hash does not match its contents (or its `prev`): it was altered.
    Edited {
        /// The altered entry.
        id: String,
        /// How many entries before it were intact.
        checked: u64,
    },
    /// Entry `after`'s `prev` is not the hash of the entry before it: one or more entries
    /// between them were removed (or `before` was rewritten with a new hash).
    Gap {
        /// The last intact entry before the gap; `None` at the start of the log.
        before: Option<String>,
        /// The first entry after the gap.
        after: String,
        /// How many entries before the gap were intact.
        checked: u64,
    },
    /// The head does not name the last entry: the entries after `last` were removed
    /// (or the head itself was lost).
    Truncated {
        /// The last entry the log still holds; `None` if it holds none.
        last: Option<String>,
        /// The entry the head names as the last; `None` if the head is missing.
        head: Option<String>,
        /// How many entries were checked (all intact).
        checked: u64,
    },
}

impl Verdict {
    /// Whether the log is whole.
    pub fn is_intact(&self) -> bool {
        matches!(self, Verdict::Intact { .. })
    }

    /// How many entries were checked and found intact.
    pub fn checked(&self) -> u64 {
        match self {
            Verdict::Intact { checked }
            | Verdict::Edited { checked, .. }
            | Verdict::Gap { checked, .. }
            | Verdict::Truncated { checked, .. } => *checked,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Intact { checked } => write!(f, "intact: {checked} entries checked"),
            Verdict::Edited { id, checked } => write!(
                f,
                "entry {id} was edited: its hash does not match its contents ({checked} entries before it intact)"
            ),
            Verdict::Gap {
                before,
                after,
                checked,
            } => write!(
                f,
                "entries removed between {} and {after}: its prev is not the hash of the entry before it ({checked} entries before the gap intact)",
                before.as_deref().unwrap_or("the start of the log")
            ),
            Verdict::Truncated {
                last,
                head,
                checked,
            } => match head {
                Some(head) => write!(
                    f,
                    "entries removed at the end: the head names entry {head} but the log ends at {} ({checked} entries intact)",
                    last.as_deref().unwrap_or("nothing")
                ),
                None => write!(
                    f,
                    "the head is missing but the log holds entries up to {} ({checked} entries intact)",
                    last.as_deref().unwrap_or("nothing")
                ),
            },
        }
    }
}

/// Walks the log entry by entry (so a long log can be read in pages), remembering only
/// the last intact entry.
#[derive(Debug, Clone)]
pub struct Chain {
    last: Option<(String, String)>,
    checked: u64,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// At the start of the log.
    pub fn new() -> Self {
        Self {
            last: None,
            checked: 0,
        }
    }

    /// The next stored entry: its id, the `prev` and `hash` stored with it, and its
    /// fields. The first problem ends the walk.
    pub fn push(
        &mut self,
        id: &str,
        prev: &str,
        hash: &str,
        entry: &OplogEntry,
    ) -> Result<(), Verdict> {
        if entry.chain_hash(prev) != hash {
            return Err(Verdict::Edited {
                id: id.to_string(),
                checked: self.checked,
            });
        }
        let expected = self.last.as_ref().map_or(GENESIS, |(_, h)| h.as_str());
        if prev != expected {
            return Err(Verdict::Gap {
                before: self.last.as_ref().map(|(id, _)| id.clone()),
                after: id.to_string(),
                checked: self.checked,
            });
        }
        self.last = Some((id.to_string(), hash.to_string()));
        self.checked += 1;
        Ok(())
    }

    /// An entry that could not even be read (a field missing or not a number): altered.
    pub fn unreadable(&self, id: &str) -> Verdict {
        Verdict::Edited {
            id: id.to_string(),
            checked: self.checked,
        }
    }

    /// The end of the log, against its head.
    pub fn finish(self, head: Option<&Head>) -> Verdict {
        let whole = match (&self.last, head) {
            (None, None) => true,
            (Some((id, hash)), Some(h)) => *id == h.id && *hash == h.hash,
            _ => false,
        };
        if whole {
            Verdict::Intact {
                checked: self.checked,
            }
        } else {
            Verdict::Truncated {
                last: self.last.map(|(id, _)| id),
                head: head.map(|h| h.id.clone()),
                checked: self.checked,
            }
        }
    }
}

/// Walks `entries` (id, prev, hash, entry; in log order) and then checks `head`.
pub fn verify<I, S>(entries: I, head: Option<&Head>) -> Verdict
where
    I: IntoIterator<Item = (S, S, S, OplogEntry)>,
    S: AsRef<str>,
{
    let mut chain = Chain::new();
    for (id, prev, hash, entry) in entries {
        if let Err(v) = chain.push(id.as_ref(), prev.as_ref(), hash.as_ref(), &entry) {
            return v;
        }
    }
    chain.finish(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> OplogEntry {
        OplogEntry {
            actor: "operator:alice".into(),
            role: "operator".into(),
            action: "CreateBooking".into(),
            target: format!("O{n}"),
            at_ms: 1_700_000_000_000 + n,
            from: "127.0.0.1:5000".into(),
            detail: format!("{{\"n\":{n}}}"),
        }
    }

    type Stored = (String, String, String, OplogEntry);

    /// A log of `n` entries chained as the store chains them, and its head.
    fn log(n: i64) -> (Vec<Stored>, Option<Head>) {
        let mut out: Vec<Stored> = Vec::new();
        let mut prev = GENESIS.to_string();
        for i in 1..=n {
            let e = entry(i);
            let hash = e.chain_hash(&prev);
            out.push((format!("{i}-0"), prev, hash.clone(), e));
            prev = hash;
        }
        let head = out.last().map(|(id, _, hash, _)| Head {
            id: id.clone(),
            hash: hash.clone(),
        });
        (out, head)
    }

    #[test]
    fn a_whole_log_is_intact() {
        let (entries, head) = log(5);
        assert_eq!(
            verify(entries, head.as_ref()),
            Verdict::Intact { checked: 5 }
        );
        assert_eq!(
            verify(Vec::<Stored>::new(), None),
            Verdict::Intact { checked: 0 }
        );
    }

    #[test]
    fn hashes_are_sha256_hex_and_depend_on_every_field_and_prev() {
        let e = entry(1);
        let h = e.chain_hash(GENESIS);
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(h, e.chain_hash(GENESIS), "deterministic");
        assert_ne!(h, e.chain_hash(&"1".repeat(64)));
        let changes: [fn(&mut OplogEntry); 7] = [
            |e| e.actor.push('x'),
            |e| e.role.push('x'),
            |e| e.action.push('x'),
            |e| e.target.push('x'),
            |e| e.at_ms += 1,
            |e| e.from.push('x'),
            |e| e.detail.push('x'),
        ];
        for change in changes {
            let mut other = e.clone();
            change(&mut other);
            assert_ne!(other.chain_hash(GENESIS), h, "{other:?}");
        }
    }

    #[test]
    fn the_encoding_is_unambiguous_where_fields_meet() {
        // Moving text from one field to its neighbour changes the hash.
        let a = OplogEntry {
            actor: "operator:al".into(),
            role: "ice".into(),
            ..entry(1)
        };
        let b = OplogEntry {
            actor: "operator:alice".into(),
            role: String::new(),
            ..entry(1)
        };
        assert_ne!(a.canonical(), b.canonical());
        assert_ne!(a.chain_hash(GENESIS), b.chain_hash(GENESIS));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let (mut entries, head) = log(5);
        entries[2].3.target = "O99".into();
        assert_eq!(
            verify(entries, head.as_ref()),
            Verdict::Edited {
                id: "3-0".into(),
                checked: 2
            }
        );
        // Its stored hash or prev altered instead: the same.
        let (mut entries, head) = log(5);
        entries[1].2 = "f".repeat(64);
        assert!(
            matches!(verify(entries, head.as_ref()), Verdict::Edited { id, .. } if id == "2-0")
        );
        let (mut entries, head) = log(5);
        entries[1].1 = GENESIS.into();
        assert!(
            matches!(verify(entries, head.as_ref()), Verdict::Edited { id, .. } if id == "2-0")
        );
    }

    #[test]
    fn a_removed_entry_is_named_by_the_entries_around_the_gap() {
        let (mut entries, head) = log(5);
        entries.remove(2);
        assert_eq!(
            verify(entries, head.as_ref()),
            Verdict::Gap {
                before: Some("2-0".into()),
                after: "4-0".into(),
                checked: 2
            }
        );
        // Several removed: the same two neighbours.
        let (mut entries, head) = log(6);
        entries.drain(1..4);
        assert!(matches!(
            verify(entries, head.as_ref()),
            Verdict::Gap { before: Some(b), after, .. } if b == "1-0" && after == "5-0"
        ));
        // The first removed: the gap is at the start.
        let (mut entries, head) = log(3);
        entries.remove(0);
        assert_eq!(
            verify(entries, head.as_ref()),
            Verdict::Gap {
                before: None,
                after: "2-0".into(),
                checked: 0
            }
        );
    }

    #[test]
    fn an_edited_entry_with_its_hash_recomputed_breaks_the_next_link() {
        let (mut entries, head) = log(4);
        entries[1].3.detail = "forged".into();
        entries[1].2 = entries[1].3.chain_hash(&entries[1].1);
        assert!(matches!(
            verify(entries, head.as_ref()),
            Verdict::Gap { before: Some(b), after, .. } if b == "2-0" && after == "3-0"
        ));
    }

    #[test]
    fn removed_last_entries_and_a_lost_head_are_named() {
        let (mut entries, head) = log(5);
        entries.truncate(3);
        assert_eq!(
            verify(entries, head.as_ref()),
            Verdict::Truncated {
                last: Some("3-0".into()),
                head: Some("5-0".into()),
                checked: 3
            }
        );
        let (_, head) = log(2);
        assert_eq!(
            verify(Vec::<Stored>::new(), head.as_ref()),
            Verdict::Truncated {
                last: None,
                head: Some("2-0".into()),
                checked: 0
            }
        );
        let (entries, _) = log(2);
        assert_eq!(
            verify(entries, None),
            Verdict::Truncated {
                last: Some("2-0".into()),
                head: None,
                checked: 2
            }
        );
        // A head with the right id but another hash (the last entry replaced whole).
        let (entries, head) = log(2);
        let head = head.map(|h| Head {
            hash: "0".repeat(64),
            ..h
        });
        assert!(matches!(
            verify(entries, head.as_ref()),
            Verdict::Truncated { .. }
        ));
    }

    #[test]
    fn verdicts_say_what_and_where() {
        let (mut entries, head) = log(3);
        entries.remove(1);
        let text = verify(entries, head.as_ref()).to_string();
        assert!(text.contains("1-0") && text.contains("3-0"), "{text}");
        let edited = Verdict::Edited {
            id: "7-0".into(),
            checked: 6,
        };
        assert!(edited.to_string().contains("entry 7-0 was edited"));
        assert_eq!(edited.checked(), 6);
        assert!(!edited.is_intact());
    }

    #[test]
    fn bounds_name_the_field() {
        assert_eq!(entry(1).check(), Ok(()));
        type Change = fn(&mut OplogEntry);
        let cases: [(Change, &str); 8] = [
            (|e| e.actor.clear(), "oplog.actor"),
            (|e| e.role = " ".into(), "oplog.role"),
            (|e| e.action.clear(), "oplog.action"),
            (|e| e.actor = "a".repeat(bounds::ACTOR + 1), "oplog.actor"),
            (
                |e| e.target = "t".repeat(bounds::TARGET + 1),
                "oplog.target",
            ),
            (|e| e.from = "f".repeat(bounds::FROM + 1), "oplog.from"),
            (
                |e| e.detail = "字".repeat(bounds::DETAIL + 1),
                "oplog.detail",
            ),
            (|e| e.detail = "a\nb".into(), "oplog.detail"),
        ];
        for (change, field) in cases {
            let mut e = entry(1);
            change(&mut e);
            assert_eq!(e.check().unwrap_err().field, field, "{e:?}");
        }
        // At the bound (in characters, not bytes) is fine; target, from, detail may be empty.
        let mut e = entry(1);
        e.detail = "字".repeat(bounds::DETAIL);
        e.target.clear();
        e.from.clear();
        assert_eq!(e.check(), Ok(()));
    }

    #[test]
    fn cursors_and_page_sizes() {
        for good in ["0-0", "1700000000000-12"] {
            assert_eq!(check_cursor("after", good), Ok(()));
        }
        for bad in ["", "-", "1-", "-1", "abc", "1-2-3", "1700000000000", "１-0"] {
            assert_eq!(check_cursor("after", bad).unwrap_err().field, "after");
        }
        assert_eq!(check_page_size("limit", 1), Ok(()));
        assert_eq!(check_page_size("limit", MAX_PAGE), Ok(()));
        assert!(check_page_size("limit", 0).is_err());
        assert!(check_page_size("limit", MAX_PAGE + 1).is_err());
    }
}
