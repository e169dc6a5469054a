//! Server-side inspection (issue 11): the real `sentinel` in front of the fake server playing
//! a tools file (`--tools FILE`, read again for every list, so a test can change the server's
//! tools mid-session). Each test checks what the client sees, what the server received, and
//! the audit log: hidden tools, response caps, and (in the other files) description findings,
//! pins and row caps.

#[path = "../util/mod.rs"]
mod util;

mod caps;
mod descriptions;
mod hidden;
mod pins;
mod requests;
mod rows;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use util::Session;

const T: Duration = Duration::from_secs(10);

/// A proxy session over the fake server with a tools file and a policy of the test's.
struct Proxy {
    s: Session,
    dir: PathBuf,
    next_id: u64,
}

/// The tools file `tools` (an array) with optional prompts and resources.
fn write_tools(dir: &Path, doc: &Value) -> PathBuf {
    let p = dir.join("tools.json");
    std::fs::write(&p, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    p
}

fn tool(name: &str, description: &str) -> Value {
    json!({"name": name, "description": description,
           "inputSchema": {"type": "object", "properties": {"query": {"type": "string"}}}})
}

impl Proxy {
    /// `sentinel --policy P -- fake_server --tools FILE --log LOG`, where P holds `profile` (the
    /// body of profile `default`) and FILE `tools`.
    fn start(name: &str, profile: &str, tools: &Value) -> Proxy {
        Proxy::start_with(name, profile, tools, |_| {})
    }

    fn start_with(
        name: &str,
        profile: &str,
        tools: &Value,
        setup: impl FnOnce(&mut Command),
    ) -> Proxy {
        let dir = util::scratch(name);
        let policy = dir.join("policy.yaml");
        let mut text = "version: 1\nprofiles:\n  default:\n".to_owned();
        for line in profile.lines() {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&policy, text).unwrap();
        let tools = write_tools(&dir, tools);
        let mut cmd = util::command(&dir);
        setup(&mut cmd);
        cmd.arg("--policy")
            .arg(&policy)
            .arg("--server-name")
            .arg("fake")
            .arg("--")
            .arg(util::fake_server())
            .arg("--tools")
            .arg(&tools)
            .arg("--log")
            .arg(dir.join("server.log"))
            .arg("--flush-each");
        let mut p = Proxy {
            s: Session::spawn(&mut cmd),
            dir,
            next_id: 1,
        };
        p.initialize();
        p
    }

    fn initialize(&mut self) {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},
            "clientInfo":{"name":"scripted-client","version":"1"}}});
        self.s.send(&init.to_string());
        let answer = self.s.recv(T);
        assert_eq!(answer["id"], 0, "{answer}");
        self.s
            .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    }

    /// Changes the server's tools file (what its next list answers).
    fn set_tools(&self, doc: &Value) {
        write_tools(&self.dir, doc);
    }

    /// Sends a request and returns its answer.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.s
            .send(&json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}).to_string());
        let answer = self.s.recv(T);
        assert_eq!(answer["id"], id, "answer to another request: {answer}");
        answer
    }

    /// The names the client sees in `tools/list`.
    fn tool_names(&mut self) -> Vec<String> {
        let answer = self.request("tools/list", json!({}));
        answer["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("no tools: {answer}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
    }

    /// The `tools/call` requests the server received, by tool name.
    fn server_calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["method"] == "tools/call")
            .map(|v| v["params"]["name"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    fn audit(&self) -> Vec<Value> {
        util::audit_entries(&self.dir)
    }

    /// Ends the session; returns its stderr.
    fn finish(mut self) -> String {
        self.s.close_stdin();
        assert!(self.s.wait(T).success());
        self.s.stderr()
    }
}

/// The text of a tool result's first content item.
fn text_of(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {answer}"))
}
