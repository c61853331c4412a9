//! `flag_stuck.lua`: the watchdog puts a trip past its stage's deadline on the operators'
//! list, once per stage.

use super::{Call, Loaded, Scripts, StepReply, json};
use crate::keys::Keys;
use redis::{ScriptInvocation, Value};

/// Flags `order` if its watch deadline has passed.
#[derive(Debug)]
pub(crate) struct FlagStuck<'a> {
    pub(crate) order: &'a str,
}

impl Call for FlagStuck<'_> {
    type Reply = StepReply;
    fn script(s: &Scripts) -> &Loaded {
        &s.flag_stuck
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.order(self.order)]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        inv.arg(self.order);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        json(v)
    }
}
