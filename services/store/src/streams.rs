//! Reading a capped stream page by page from an id a reader resumed at: the call queue's
//! routing decisions and the consoles' classified calls share it.

use crate::{Store, StoreError};
use std::collections::HashMap;

/// One stream entry: its id and its fields.
pub(crate) type Entry = (String, HashMap<String, String>);

impl Store {
    /// At most `count` entries of `key` after id `after` ("" from the oldest kept), oldest
    /// first. Entries trimmed meanwhile are simply gone.
    pub(crate) async fn entries_after(
        &self,
        key: &str,
        after: &str,
        count: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let start = if after.is_empty() {
            "-".to_string()
        } else {
            format!("({after}")
        };
        let mut conn = self.conn.clone();
        Ok(redis::cmd("XRANGE")
            .arg(key)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await?)
    }
}
