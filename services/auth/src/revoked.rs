//! The process's view of what has been revoked: sessions. Logging out revokes one; revoking
//! a subject (a taxi's key, a disabled account, a withdrawn grant) revokes every session
//! it has (the store keeps each subject's sessions).
//!
//! The store holds the list; the server reloads it every [`POLL`] and calls
//! [`Revocations::replace`]. A token is refused once its session is revoked. Open streams
//! wait on [`Revocations::until_revoked`] and end when it returns.

use crate::role::Identity;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;
use tokio::sync::watch;

/// How often each process reloads the list: a revocation takes effect within this (plus a
/// round trip) everywhere.
pub const POLL: Duration = Duration::from_millis(500);

/// The list member that revokes one session.
pub fn session_member(session: &str) -> String {
    format!("sid:{session}")
}

/// What is revoked, by member, with when (ms).
#[derive(Debug)]
pub struct Revocations {
    map: RwLock<HashMap<String, i64>>,
    changed: watch::Sender<u64>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            changed: watch::Sender::new(0),
        }
    }
}

impl Revocations {
    /// Replaces the list with the store's; wakes the streams when it changed.
    pub fn replace(&self, now: HashMap<String, i64>) {
        let mut map = self.map.write().expect("not poisoned");
        if *map != now {
            *map = now;
            drop(map);
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Adds one member at once (the process that revoked need not wait for its poll).
    pub fn add(&self, member: String, at_ms: i64) {
        self.map
            .write()
            .expect("not poisoned")
            .insert(member, at_ms);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Whether `who`'s token is revoked.
    pub fn is_revoked(&self, who: &Identity) -> bool {
        self.map
            .read()
            .expect("not poisoned")
            .contains_key(&session_member(&who.session))
    }

    /// Returns once `who` is revoked (never, if it is not).
    pub async fn until_revoked(&self, who: &Identity) {
        let mut rx = self.changed.subscribe();
        loop {
            if self.is_revoked(who) {
                return;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;

    fn driver(issued_ms: i64) -> Identity {
        Identity {
            role: Role::Driver,
            id: "T1".into(),
            city: "500100".into(),
            session: "s1".into(),
            passenger: None,
            issued_ms,
            expires_ms: issued_ms + 1,
        }
    }

    #[test]
    fn sessions() {
        let r = Revocations::default();
        assert!(!r.is_revoked(&driver(10)));
        r.add(session_member("s2"), 20);
        assert!(!r.is_revoked(&driver(10)));
        r.replace(HashMap::from([(session_member("s1"), 5)]));
        assert!(r.is_revoked(&driver(30)));
        r.replace(HashMap::new());
        assert!(!r.is_revoked(&driver(30)));
    }

    #[tokio::test]
    async fn a_waiting_stream_is_woken() {
        let r = std::sync::Arc::new(Revocations::default());
        let waiter = tokio::spawn({
            let r = r.clone();
            async move { r.until_revoked(&driver(10)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        r.replace(HashMap::from([(session_member("s1"), 11)]));
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
