//! Looking behind the API: what the city has stored, for tests that prove something was
//! (or was not) written, and for operators' tools. Never on a request path: these read
//! whole collections.

use crate::{Store, StoreError};
use redis::Value;

impl Store {
    /// Every key of the city with the text of every value it holds (hash values, set and
    /// sorted-set members, list items, stream field values, strings).
    pub async fn stored_text(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let pattern = format!("{}*", glob_escape(self.keys.prefix()));
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, page): (u64, Vec<String>) = self.on_city_node(cmd).await?;
            keys.extend(page);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut out = Vec::with_capacity(keys.len());
        let mut conn = self.conn.clone();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut conn).await?;
            let values: Vec<String> = match kind.as_str() {
                "hash" => redis::cmd("HVALS").arg(&key).query_async(&mut conn).await?,
                "set" => {
                    redis::cmd("SMEMBERS")
                        .arg(&key)
                        .query_async(&mut conn)
                        .await?
                }
                "zset" => {
                    redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut conn)
                        .await?
                }
                "list" => {
                    redis::cmd("LRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut conn)
                        .await?
                }
                "string" => vec![redis::cmd("GET").arg(&key).query_async(&mut conn).await?],
                "stream" => {
                    let r: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                        .arg(&key)
                        .arg("-")
                        .arg("+")
                        .query_async(&mut conn)
                        .await?;
                    r.ids
                        .iter()
                        .flat_map(|e| e.map.values())
                        .map(|v| redis::from_redis_value_ref::<String>(v).unwrap_or_default())
                        .collect()
                }
                _ => vec![],
            };
            out.push((key, values));
        }
        Ok(out)
    }

    /// Redis' own count of calls and microseconds per command since its start
    /// (`INFO commandstats`), for the benchmark's "Redis time per ..." figures. On a
    /// cluster, the node holding the city's slot.
    pub async fn command_stats(
        &self,
    ) -> Result<std::collections::HashMap<String, (u64, u64)>, StoreError> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("commandstats");
        let info: String = self.on_city_node(cmd).await?;
        let mut out = std::collections::HashMap::new();
        for line in info.lines().filter(|l| l.starts_with("cmdstat_")) {
            let (name, rest) = line.split_once(':').unwrap_or_default();
            let get = |k: &str| {
                rest.split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(key, _)| *key == k)
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            out.insert(
                name.trim_start_matches("cmdstat_").to_string(),
                (get("calls"), get("usec")),
            );
        }
        Ok(out)
    }

    /// The memory Redis has allocated, in bytes (`INFO memory`'s `used_memory`; the
    /// bench's memory per taxi). On a cluster, the node holding the city's slot.
    pub async fn used_memory(&self) -> Result<u64, StoreError> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("memory");
        let info: String = self.on_city_node(cmd).await?;
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Turns the AOF off (`CONFIG SET appendonly no`) on the node holding the city's slot.
    /// For the bench only, before its baselines: position writes never reach the AOF
    /// (`report_positions.lua` does not replicate them), so the fair limit to compare them
    /// with is Redis taking GEOADDs without an fsync per write.
    pub async fn stop_appending(&self) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET").arg("appendonly").arg("no");
        let _: redis::Value = self.on_city_node(cmd).await?;
        Ok(())
    }

    /// The size of the AOF in bytes (`INFO persistence`), 0 with AOF off. On a cluster,
    /// the node holding the city's slot.
    pub async fn aof_bytes(&self) -> Result<u64, StoreError> {
        self.persistence_field("aof_current_size").await
    }

    /// A numeric field of `INFO persistence` (0 when absent) on the node holding the
    /// city's slot: `aof_rewrite_in_progress`, `aof_rewrites`, ...
    pub async fn persistence_field(&self, field: &str) -> Result<u64, StoreError> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("persistence");
        let info: String = self.on_city_node(cmd).await?;
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Starts Redis' latency monitor afresh on the city's node: from now on it keeps, at
    /// most once a second, every event slower than `threshold_ms` (`LATENCY RESET`, then
    /// `latency-monitor-threshold`). For the bench, which reads the AOF's fsyncs back with
    /// [`Store::slow_fsyncs`].
    pub async fn watch_latency(&self, threshold_ms: u64) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET")
            .arg("latency-monitor-threshold")
            .arg(threshold_ms);
        let _: redis::Value = self.on_city_node(cmd).await?;
        let mut cmd = redis::cmd("LATENCY");
        cmd.arg("RESET");
        let _: redis::Value = self.on_city_node(cmd).await?;
        Ok(())
    }

    /// The `appendfsync always` fsyncs slower than the threshold since
    /// [`Store::watch_latency`]: one (unix seconds, ms) sample per second that had one
    /// (`LATENCY HISTORY aof-fsync-always`).
    pub async fn slow_fsyncs(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut cmd = redis::cmd("LATENCY");
        cmd.arg("HISTORY").arg("aof-fsync-always");
        self.on_city_node(cmd).await
    }

    /// Trims the driver feed to its newest `keep` notices at once (an operator's tool, and
    /// how tests reach a resume point the feed no longer holds).
    pub async fn trim_driver_feed(&self, keep: u64) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("XTRIM")
            .arg(&self.keys.feed)
            .arg("MAXLEN")
            .arg(keep)
            .query_async(&mut conn)
            .await?)
    }

    /// Removes entry `id` from the audit log, as someone covering their tracks would
    /// (tests of `verify`). Whether it was there.
    pub async fn oplog_delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let n: u64 = redis::cmd("XDEL")
            .arg(&self.keys.oplog)
            .arg(id)
            .query_async(&mut conn)
            .await?;
        Ok(n == 1)
    }

    /// Rewrites one stored field of audit log entry `id` (tests of `verify`). A stream
    /// entry cannot be changed in place, so the log is written again under the same ids,
    /// that entry altered: as a tamperer would, and not while the log is being written.
    pub async fn oplog_edit(&self, id: &str, field: &str, value: &str) -> Result<(), StoreError> {
        if !crate::oplog::FIELDS.contains(&field) {
            return Err(StoreError::Invalid(taxi_domain::FieldError::new(
                "field",
                format!("is not a field of an audit log entry: {field}"),
            )));
        }
        let mut entries: Vec<(String, std::collections::HashMap<String, String>)> = Vec::new();
        loop {
            let after = entries.last().map(|(id, _)| id.clone());
            let page = self.oplog_range(after.as_deref(), "+", 1_000).await?;
            if page.is_empty() {
                break;
            }
            entries.extend(page);
        }
        let Some((_, fields)) = entries.iter_mut().find(|(e, _)| e == id) else {
            return Err(StoreError::Invalid(taxi_domain::FieldError::new(
                "id",
                format!("the audit log holds no entry {id}"),
            )));
        };
        fields.insert(field.to_string(), value.to_string());
        let mut pipe = redis::pipe();
        pipe.del(&self.keys.oplog).ignore();
        for (id, fields) in &entries {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(&self.keys.oplog).arg(id);
            for name in crate::oplog::FIELDS {
                if let Some(v) = fields.get(name) {
                    cmd.arg(name).arg(v);
                }
            }
            pipe.add_command(cmd).ignore();
        }
        let mut conn = self.conn.clone();
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// How many plates are registered.
    pub async fn plate_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HLEN")
            .arg(&self.keys.plates)
            .query_async(&mut conn)
            .await?)
    }

    /// How many messages for care contacts are in the notifications feed.
    pub async fn notification_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("XLEN")
            .arg(&self.keys.notifications)
            .query_async(&mut conn)
            .await?)
    }

    /// How many records the audit trail holds.
    pub async fn event_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("XLEN")
            .arg(&self.keys.events)
            .query_async(&mut conn)
            .await?)
    }

    /// How many orders are in the dispatch queue itself (not those waiting to search again).
    pub async fn queued_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZCARD")
            .arg(&self.keys.pending)
            .query_async(&mut conn)
            .await?)
    }

    /// Runs a keyless command on the node that holds the city's slot (on one server,
    /// simply on it).
    async fn on_city_node<T: redis::FromRedisValue>(
        &self,
        cmd: redis::Cmd,
    ) -> Result<T, StoreError> {
        let value: Value = self.conn.on_slot(cmd, self.keys.slot()).await?;
        redis::from_redis_value(value).map_err(|e| StoreError::Internal(e.to_string()))
    }
}

/// `{c:500100}` as a SCAN pattern: braces are literal, but escape glob specials anyway.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
