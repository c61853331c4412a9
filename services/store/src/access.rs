//! What identity and access keep in Redis: the token signing key, people's accounts,
//! login sessions, the revocation list, the keys of taxis, relatives and services,
//! one-time codes, and relatives' grants. Hashing and policy live in `taxi-auth`; this
//! module only stores what it is given.

use crate::fields::Fields;
use crate::{Store, StoreError};
use std::collections::HashMap;

/// A person's account as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRecord {
    /// The login name.
    pub username: String,
    /// The role's code.
    pub role: String,
    /// The argon2 PHC string.
    pub phc: String,
    /// Shown name.
    pub name: String,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// Failed logins since the last success or lockout.
    pub failures: u32,
    /// Locked until (ms); 0 when not locked.
    pub locked_until_ms: i64,
}

/// A login session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The session id.
    pub sid: String,
    /// The role's code.
    pub role: String,
    /// The bound id.
    pub id: String,
    /// A relative's passenger.
    pub passenger: Option<String>,
    /// Hex SHA-256 of the current refresh secret.
    pub refresh_hash: String,
    /// When the refresh token expires (ms).
    pub expires_ms: i64,
}

/// The key of a taxi, relative or service.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialRecord {
    /// Hex salt.
    pub salt: String,
    /// Hex SHA-256 of salt and secret.
    pub hash: String,
    /// The role's code it logs in as.
    pub role: String,
    /// A relative's passenger.
    pub passenger: Option<String>,
}

/// A relative's grant.
#[derive(Debug, Clone, PartialEq)]
pub struct RelativeRecord {
    /// The relative's id.
    pub id: String,
    /// The older person's canonical phone.
    pub passenger: String,
    /// The relative's name.
    pub name: String,
    /// The relative's phone.
    pub phone: String,
    /// Who granted it (`<role>:<id>`).
    pub granted_by: String,
}

impl Store {
    /// The token signing key kept in Redis, made on first use (32 random bytes), so every
    /// process of the city signs alike without configuration.
    pub async fn auth_key(&self) -> Result<Vec<u8>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.auth_key();
        let fresh = hex::encode(rand::random::<[u8; 32]>());
        let _: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&fresh)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        let stored: String = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        hex::decode(stored).map_err(|_| StoreError::Internal("the auth key is not hex".into()))
    }

    /// Creates an account; `false` when the name is taken (nothing changed).
    pub async fn create_account(&self, a: &AccountRecord) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.account(&a.username);
        // The hash field decides who got the name; the rest follows.
        let won: bool = redis::cmd("HSETNX")
            .arg(&key)
            .arg("phc")
            .arg(&a.phc)
            .query_async(&mut conn)
            .await?;
        if !won {
            return Ok(false);
        }
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg("role")
            .arg(&a.role)
            .arg("name")
            .arg(&a.name)
            .arg("disabled")
            .arg(u8::from(a.disabled))
            .arg("created")
            .arg(self.now_ms())
            .query_async(&mut conn)
            .await?;
        Ok(true)
    }

    /// An account by name.
    pub async fn account(&self, username: &str) -> Result<Option<AccountRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.account(username))
            .query_async(&mut conn)
            .await?;
        let f = Fields::new(m);
        if f.is_empty() || f.text("role").is_empty() {
            return Ok(None);
        }
        Ok(Some(AccountRecord {
            username: username.to_string(),
            role: f.text("role"),
            phc: f.text("phc"),
            name: f.text("name"),
            disabled: f.int("disabled") != 0,
            failures: f.int("failures").max(0) as u32,
            locked_until_ms: f.int("locked"),
        }))
    }

    /// Counts a failed login; after `max` in a row the account is locked until
    /// `now + lock_ms` and the count starts again. Returns the lock's end (0: not locked).
    pub async fn record_login_failure(
        &self,
        username: &str,
        max: u32,
        lock_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.account(username);
        let n: i64 = redis::cmd("HINCRBY")
            .arg(&key)
            .arg("failures")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        if n < i64::from(max) {
            return Ok(0);
        }
        let until = self.now_ms() + lock_ms;
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg("failures")
            .arg(0)
            .arg("locked")
            .arg(until)
            .query_async(&mut conn)
            .await?;
        Ok(until)
    }

    /// A successful login clears the failure count.
    pub async fn clear_login_failures(&self, username: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("HSET")
            .arg(self.keys.account(username))
            .arg("failures")
            .arg(0)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Disables an account; `false` when there is none.
    pub async fn disable_account(&self, username: &str) -> Result<bool, StoreError> {
        if self.account(username).await?.is_none() {
            return Ok(false);
        }
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("HSET")
            .arg(self.keys.account(username))
            .arg("disabled")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        Ok(true)
    }

    /// Stores a session until its refresh token expires.
    pub async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.session(&s.sid);
        let subject = self.keys.subject_sessions(&s.role, &s.id);
        let _: () = redis::pipe()
            .cmd("HSET")
            .arg(&key)
            .arg("role")
            .arg(&s.role)
            .arg("id")
            .arg(&s.id)
            .arg("psg")
            .arg(s.passenger.as_deref().unwrap_or(""))
            .arg("refresh")
            .arg(&s.refresh_hash)
            .arg("exp")
            .arg(s.expires_ms)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(s.expires_ms.max(1))
            .ignore()
            // The subject's index stays as small as its live sessions: expired ones go at
            // every login, and the index lives as long as its longest session (NX sets an
            // expiry on a new index, GT only ever extends it).
            .cmd("ZADD")
            .arg(&subject)
            .arg(s.expires_ms)
            .arg(&s.sid)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&subject)
            .arg("-inf")
            .arg(self.now_ms())
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&subject)
            .arg(s.expires_ms.max(1))
            .arg("NX")
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&subject)
            .arg(s.expires_ms.max(1))
            .arg("GT")
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// A session by id.
    pub async fn session(&self, sid: &str) -> Result<Option<SessionRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.session(sid))
            .query_async(&mut conn)
            .await?;
        let f = Fields::new(m);
        if f.is_empty() {
            return Ok(None);
        }
        let psg = f.text("psg");
        Ok(Some(SessionRecord {
            sid: sid.to_string(),
            role: f.text("role"),
            id: f.text("id"),
            passenger: (!psg.is_empty()).then_some(psg),
            refresh_hash: f.text("refresh"),
            expires_ms: f.int("exp"),
        }))
    }

    /// Ends a session: its refresh token stops working, and it is put on the revocation
    /// list at `at_ms` so its access tokens are refused too.
    pub async fn end_session(
        &self,
        role: &str,
        id: &str,
        sid: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: () = redis::pipe()
            .cmd("ZADD")
            .arg(self.keys.revoked())
            .arg(at_ms)
            .arg(format!("sid:{sid}"))
            .ignore()
            .cmd("DEL")
            .arg(self.keys.session(sid))
            .ignore()
            .cmd("ZREM")
            .arg(self.keys.subject_sessions(role, id))
            .arg(sid)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Ends every session of a subject (see [`Store::end_session`]); their ids.
    pub async fn end_sessions_of(
        &self,
        role: &str,
        id: &str,
        at_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let sids: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.keys.subject_sessions(role, id))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        for sid in &sids {
            self.end_session(role, id, sid, at_ms).await?;
        }
        Ok(sids)
    }

    /// The revocation list, after dropping entries older than `keep_after_ms` (no token
    /// issued before then is still valid).
    pub async fn revocations(
        &self,
        keep_after_ms: i64,
    ) -> Result<HashMap<String, i64>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.revoked();
        let (list,): (Vec<(String, f64)>,) = redis::pipe()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(format!("({keep_after_ms}"))
            .ignore()
            .cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        Ok(list.into_iter().map(|(m, s)| (m, s as i64)).collect())
    }

    /// Stores the key of a taxi, relative or service (replacing any earlier one).
    pub async fn put_credential(
        &self,
        kind: &str,
        id: &str,
        c: &CredentialRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.credential(kind, id);
        let _: () = redis::pipe()
            .cmd("DEL")
            .arg(&key)
            .ignore()
            .cmd("HSET")
            .arg(&key)
            .arg("salt")
            .arg(&c.salt)
            .arg("hash")
            .arg(&c.hash)
            .arg("role")
            .arg(&c.role)
            .arg("psg")
            .arg(c.passenger.as_deref().unwrap_or(""))
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The key of a taxi, relative or service.
    pub async fn credential(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.credential(kind, id))
            .query_async(&mut conn)
            .await?;
        let f = Fields::new(m);
        if f.is_empty() {
            return Ok(None);
        }
        let psg = f.text("psg");
        Ok(Some(CredentialRecord {
            salt: f.text("salt"),
            hash: f.text("hash"),
            role: f.text("role"),
            passenger: (!psg.is_empty()).then_some(psg),
        }))
    }

    /// Removes the key of a taxi, relative or service; `true` if there was one.
    pub async fn delete_credential(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("DEL")
            .arg(self.keys.credential(kind, id))
            .query_async(&mut conn)
            .await?;
        Ok(n > 0)
    }

    /// Stores a one-time code (by its digest) for `ttl_ms`.
    pub async fn put_code(
        &self,
        kind: &str,
        digest: &str,
        value: &str,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("SET")
            .arg(self.keys.one_time_code(kind, digest))
            .arg(value)
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Stores a one-time code (by its digest) for `ttl_ms` as the only one valid for
    /// `value`: an older code for the same `value` stops working
    /// ([`Store::take_sole_code`] refuses it), as after [`Store::void_codes_for`].
    pub async fn put_sole_code(
        &self,
        kind: &str,
        digest: &str,
        value: &str,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let ttl = ttl_ms.max(1);
        let _: () = redis::pipe()
            .cmd("SET")
            .arg(self.keys.one_time_code(kind, digest))
            .arg(value)
            .arg("PX")
            .arg(ttl)
            .ignore()
            .cmd("SET")
            .arg(self.keys.one_time_code_of(kind, value))
            .arg(digest)
            .arg("PX")
            .arg(ttl)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Uses a code stored with [`Store::put_sole_code`]: what it was for, once, and only
    /// while it is still the one valid code for that; `None` otherwise.
    pub async fn take_sole_code(
        &self,
        kind: &str,
        digest: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(value) = self.take_code(kind, digest).await? else {
            return Ok(None);
        };
        let mut conn = self.conn.clone();
        let current: Option<String> = redis::cmd("GET")
            .arg(self.keys.one_time_code_of(kind, &value))
            .query_async(&mut conn)
            .await?;
        if current.as_deref() != Some(digest) {
            return Ok(None);
        }
        self.void_codes_for(kind, &value).await?;
        Ok(Some(value))
    }

    /// Voids every code of `kind` still outstanding for `value` (a revoked taxi).
    pub async fn void_codes_for(&self, kind: &str, value: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("DEL")
            .arg(self.keys.one_time_code_of(kind, value))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Uses a one-time code: what it was for, once; `None` ever after (or if unknown).
    pub async fn take_code(&self, kind: &str, digest: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("GETDEL")
            .arg(self.keys.one_time_code(kind, digest))
            .query_async(&mut conn)
            .await?)
    }

    /// Stores a relative's grant.
    pub async fn put_relative(&self, r: &RelativeRecord) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("HSET")
            .arg(self.keys.relative(&r.id))
            .arg("psg")
            .arg(&r.passenger)
            .arg("name")
            .arg(&r.name)
            .arg("phone")
            .arg(&r.phone)
            .arg("by")
            .arg(&r.granted_by)
            .arg("created")
            .arg(self.now_ms())
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// A relative's grant.
    pub async fn relative(&self, id: &str) -> Result<Option<RelativeRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.relative(id))
            .query_async(&mut conn)
            .await?;
        let f = Fields::new(m);
        if f.is_empty() {
            return Ok(None);
        }
        Ok(Some(RelativeRecord {
            id: id.to_string(),
            passenger: f.text("psg"),
            name: f.text("name"),
            phone: f.text("phone"),
            granted_by: f.text("by"),
        }))
    }

    /// Removes a relative's grant; `true` if there was one.
    pub async fn delete_relative(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("DEL")
            .arg(self.keys.relative(id))
            .query_async(&mut conn)
            .await?;
        Ok(n > 0)
    }
}
