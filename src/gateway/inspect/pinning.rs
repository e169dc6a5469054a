//! Pinning in the gateway: the tools of each `tools/list` answer checked against the pins of
//! this server (placeholder until the pin store lands: every tool is trusted).

use super::lists::PinNote;
use crate::gateway::Gateway;
use crate::guards::Mode;
use serde_json::Value;
use std::collections::HashMap;

impl Gateway {
    /// What pinning says of each listed tool, by name.
    pub(super) fn pin_notes(&self, tools: &[Value], mode: Mode) -> HashMap<String, PinNote> {
        let _ = (tools, mode);
        HashMap::new()
    }

    /// The name the pins of this server are kept under.
    pub(super) fn pins_identity(&self) -> String {
        self.server_name.clone()
    }
}
