//! In-car terminals (JT/T 808): which taxi each terminal's phone number drives, and the
//! hash of the authentication code its last registration got. A fleet admin binds a
//! terminal to a taxi (`taxi admin bind-terminal`); the gateway reads the binding when the
//! terminal registers and authenticates.

use crate::keys::Keys;
use crate::{Entity, Store, StoreError};
use redis::AsyncCommands;
use taxi_domain::FieldError;

impl Store {
    /// Binds the terminal with phone number `phone` to taxi `taxi_id`. A taxi has one
    /// terminal: binding another replaces it (its old phone number and code are
    /// forgotten). A phone number already bound to another taxi is refused.
    pub async fn bind_terminal(&self, taxi_id: &str, phone: &str) -> Result<(), StoreError> {
        let k: &Keys = &self.keys;
        let mut conn = self.conn.clone();
        let (exists, old, holder): (bool, Option<String>, Option<String>) = redis::pipe()
            .exists(k.taxi(taxi_id))
            .hget(k.taxi(taxi_id), "terminal")
            .hget(&k.terminals, phone)
            .query_async(&mut conn)
            .await?;
        if !exists {
            return Err(StoreError::not_found(Entity::Taxi, taxi_id));
        }
        if let Some(other) = holder.filter(|t| t != taxi_id) {
            return Err(StoreError::Invalid(FieldError::new(
                "phone",
                format!("terminal {phone} is bound to taxi {other}; unbind it there first"),
            )));
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(old) = old.filter(|o| o != phone) {
            pipe.hdel(&k.terminals, &old).hdel(&k.terminal_auth, &old);
        }
        pipe.hset(&k.terminals, phone, taxi_id)
            .hset(k.taxi(taxi_id), "terminal", phone);
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// The taxi the terminal with phone number `phone` is bound to.
    pub async fn terminal_taxi(&self, phone: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.hget(&self.keys.terminals, phone).await?)
    }

    /// Stores the hash of a terminal's new authentication code (a registration).
    pub async fn set_terminal_code(&self, phone: &str, hashed: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let () = conn.hset(&self.keys.terminal_auth, phone, hashed).await?;
        Ok(())
    }

    /// The hash of a terminal's authentication code, if it registered.
    pub async fn terminal_code(&self, phone: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.hget(&self.keys.terminal_auth, phone).await?)
    }
}
