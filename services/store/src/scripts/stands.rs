//! `stand_write.lua` and `stand_board.lua`: a stand record written (its queue emptied
//! when it goes), and a walk-up passenger boarding a taxi of a stand's queue.

use super::{Call, Loaded, Scripts, codec, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};
use taxi_domain::taxi::TaxiState;

/// What a stand write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StandOp {
    /// A new stand (refused if the id is taken).
    Create,
    /// Replaces a stand (refused if unknown).
    Update,
    /// Deletes a stand and empties its queue (refused if unknown).
    Delete,
}

/// Writes stand `id` (`record`: its JSON; empty to delete).
#[derive(Debug)]
pub(crate) struct StandWrite<'a> {
    pub(crate) op: StandOp,
    pub(crate) id: &'a str,
    pub(crate) record: &'a str,
}

/// What the write did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum StandWriteReply {
    /// Written.
    Done,
    /// A create found the id taken.
    Exists,
    /// An update or delete found no such stand.
    Missing,
}

impl Call for StandWrite<'_> {
    type Reply = StandWriteReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.stand_write
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![
            k.stands.clone(),
            k.stands_version.clone(),
            k.stand_queues.clone(),
            k.stand_of.clone(),
        ]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        let op = match self.op {
            StandOp::Create => "create",
            StandOp::Update => "update",
            StandOp::Delete => "delete",
        };
        inv.arg(op).arg(self.id).arg(self.record);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}

/// A walk-up passenger boards `taxi` (or the head, when `None`) of `stand`'s queue.
#[derive(Debug)]
pub(crate) struct StandBoard<'a> {
    pub(crate) stand: &'a str,
    pub(crate) taxi: Option<&'a str>,
}

/// What boarding did.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum StandBoardReply {
    /// `taxi` took the passenger after waiting `waited_ms` in the queue.
    Boarded { taxi: String, waited_ms: i64 },
    /// The queue is empty.
    Empty,
    /// The named taxi is not in this stand's queue.
    NotQueued { taxi: String },
    /// The taxi cannot take a street passenger in `state`.
    Refused {
        taxi: String,
        #[serde(deserialize_with = "codec::taxi_state")]
        state: TaxiState,
    },
}

impl Call for StandBoard<'_> {
    type Reply = StandBoardReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.stand_board
    }
    fn keys(&self, _k: &Keys) -> Vec<String> {
        vec![]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.stand).arg(self.taxi.unwrap_or(""));
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
