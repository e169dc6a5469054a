//! The traffic corpora, judged by the real `sentinel` under the built-in policy: a benign
//! corpus of `tools/call`s as models write them to widely used MCP servers (whose real tool
//! definitions are in `servers/`), which must never be refused, and an adversarial corpus (one
//! class of attack per file) on the SQL and fetch servers' tools, which must always be. Every
//! case is decided four ways, in demo mode, in proxy mode in front of a fake server that
//! plays the real server's `tools/list`, by `sentinel explain` and by `sentinel policy test`,
//! and the four decisions must agree. The figures (false blocks per server, attacks that
//! pass, disagreements) are printed whatever the outcome; see `tests/corpus/README.md`.

#[path = "../util/mod.rs"]
mod util;

mod modes;

use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The largest number of calls one gateway process judges. The default breaker allows bursts
/// of 200 calls (all tools together); the library's web-fetch policy 10 fetches. Cases are
/// split into sessions below those so that every decision is the rules' own, not a rate limit.
const BUILTIN_SESSION: usize = 150;
const POLICY_SESSION: usize = 10;

/// A real server's tool definitions, `tests/corpus/servers/NAME.json`.
pub struct Server {
    pub name: String,
    pub path: PathBuf,
    /// The command line the real server is started with (given as `--server-name`).
    pub command: String,
    pub server_info: Value,
    pub tools: Value,
}

/// One call of the corpus.
pub struct Case {
    /// `benign/NAME.jsonl` or `adversarial/NAME.jsonl`, and the line number.
    pub file: String,
    pub line: usize,
    pub server: String,
    pub tool: String,
    pub arguments: Value,
    /// Adversarial: the rule family that must refuse it (`sql.*`, `egress.*`).
    pub rule_family: Option<String>,
    /// A policy file of the library (relative to the repository); None: the built-in policy.
    pub policy: Option<String>,
}

impl Case {
    fn benign(&self) -> bool {
        self.rule_family.is_none()
    }

    fn label(&self) -> String {
        format!(
            "{}:{} {} {}",
            self.file, self.line, self.tool, self.arguments
        )
    }
}

/// The cases one session judges: one server, one policy.
pub struct Group<'a> {
    pub server: &'a Server,
    pub policy: Option<PathBuf>,
}

/// A verdict (`allow`, `block`, `approve`, `monitor`; `?` when it could not be read) and the
/// rule that decided it (none for a plain allow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: String,
    pub rule: Option<String>,
}

impl Decision {
    pub fn new(verdict: &str, rule: Option<String>) -> Decision {
        Decision {
            verdict: verdict.to_owned(),
            rule,
        }
    }

    pub fn missing(why: &str) -> Decision {
        Decision::new("?", Some(why.to_owned()))
    }

    fn refused(&self) -> bool {
        self.verdict == "block" || self.verdict == "approve"
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rule {
            Some(r) => write!(f, "{} ({r})", self.verdict),
            None => f.write_str(&self.verdict),
        }
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    root().join("tests").join("corpus")
}

/// The `.EXT` files of a corpus folder, sorted.
fn files(sub: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir().join(sub))
        .unwrap_or_else(|e| panic!("tests/corpus/{sub}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

fn load_servers() -> BTreeMap<String, Server> {
    files("servers", "json")
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read server file");
            let doc: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = stem(&path);
            assert!(
                doc["_source"]["repo"].is_string() && doc["_source"]["path"].is_string(),
                "{name}: `_source` names the repository and path the definitions come from"
            );
            let server = Server {
                name: name.clone(),
                command: doc["command"].as_str().expect("command").to_owned(),
                server_info: doc["serverInfo"].clone(),
                tools: doc["tools"].clone(),
                path,
            };
            (name, server)
        })
        .collect()
}

fn load_cases(sub: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for path in files(sub, "jsonl") {
        let file = format!("{sub}/{}.jsonl", stem(&path));
        let text = std::fs::read_to_string(&path).expect("read corpus file");
        for (i, line) in text.lines().enumerate() {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{file}:{}: {e}", i + 1));
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
            let adversarial = sub == "adversarial";
            if adversarial {
                assert_eq!(s("expect").as_deref(), Some("block"), "{file}:{}", i + 1);
            }
            cases.push(Case {
                line: i + 1,
                server: if adversarial {
                    s("server").unwrap_or_else(|| panic!("{file}:{}: no server", i + 1))
                } else {
                    stem(&path)
                },
                tool: s("tool").unwrap_or_else(|| panic!("{file}:{}: no tool", i + 1)),
                arguments: v["arguments"].clone(),
                rule_family: if adversarial { s("rule") } else { None },
                policy: s("policy"),
                file: file.clone(),
            });
        }
    }
    cases
}

/// Every case's decision in each of the four modes.
struct Run {
    cases: Vec<Case>,
    /// demo, proxy, explain, policy test; indexed like `cases`.
    decisions: Vec<[Decision; 4]>,
}

const MODES: [&str; 4] = ["demo", "proxy", "explain", "policy test"];

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let servers = load_servers();
        let mut cases = load_cases("benign");
        cases.extend(load_cases("adversarial"));
        let mut decisions: Vec<Option<[Decision; 4]>> = vec![None; cases.len()];
        // Group by (server, policy), keeping file order inside a group.
        let mut groups: BTreeMap<(String, Option<String>), Vec<usize>> = BTreeMap::new();
        for (i, c) in cases.iter().enumerate() {
            groups
                .entry((c.server.clone(), c.policy.clone()))
                .or_default()
                .push(i);
        }
        for ((server, policy), idx) in &groups {
            let server = servers
                .get(server)
                .unwrap_or_else(|| panic!("no tests/corpus/servers/{server}.json"));
            let group = Group {
                server,
                policy: policy.as_ref().map(|p| root().join(p)),
            };
            let size = if policy.is_some() {
                POLICY_SESSION
            } else {
                BUILTIN_SESSION
            };
            for chunk in idx.chunks(size) {
                let these: Vec<&Case> = chunk.iter().map(|&i| &cases[i]).collect();
                let demo = modes::demo(&group, &these);
                let proxy = modes::proxy(&group, &these);
                let explain = modes::explain(&group, &these);
                let test = modes::policy_test(&group, &these, &demo);
                for (k, &i) in chunk.iter().enumerate() {
                    decisions[i] = Some([
                        demo[k].clone(),
                        proxy[k].clone(),
                        explain[k].clone(),
                        test[k].clone(),
                    ]);
                }
            }
        }
        let run = Run {
            decisions: decisions.into_iter().map(Option::unwrap).collect(),
            cases,
        };
        report(&run);
        run
    })
}

/// The figures, printed to stderr (`cargo test --test corpus -- --nocapture`).
fn report(run: &Run) {
    let mut per_server: BTreeMap<&str, (usize, Vec<String>)> = BTreeMap::new();
    let mut passing = Vec::new();
    let mut per_class: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (case, d) in run.cases.iter().zip(&run.decisions) {
        let refused_in: Vec<&str> = MODES
            .iter()
            .zip(d)
            .filter(|(_, d)| d.refused())
            .map(|(m, _)| *m)
            .collect();
        if case.benign() {
            let e = per_server.entry(&case.server).or_default();
            e.0 += 1;
            if !refused_in.is_empty() {
                e.1.push(format!(
                    "  {} -> {} [{}]",
                    case.label(),
                    d[1],
                    refused_in.join(", ")
                ));
            }
        } else {
            let e = per_class.entry(&case.file).or_default();
            e.0 += 1;
            if d.iter().any(|d| !refuses_as(d, case)) {
                e.1 += 1;
                passing.push(format!(
                    "  {} -> demo {}, proxy {}, explain {}, policy test {}",
                    case.label(),
                    d[0],
                    d[1],
                    d[2],
                    d[3]
                ));
            }
        }
    }
    eprintln!("== benign corpus: falsely refused / total, per server (any mode)");
    for (server, (total, blocked)) in &per_server {
        eprintln!("{server}: {}/{total}", blocked.len());
        for b in blocked {
            eprintln!("{b}");
        }
    }
    eprintln!("== adversarial corpus: not refused (in some mode) / total, per class");
    for (class, (total, pass)) in &per_class {
        eprintln!("{class}: {pass}/{total}");
    }
    for p in &passing {
        eprintln!("{p}");
    }
    let disagreements = disagreements(run);
    eprintln!("== modes that disagree: {} case(s)", disagreements.len());
    for d in &disagreements {
        eprintln!("{d}");
    }
}

/// Whether `d` refuses `case` with a rule of its family (`sql.*`: any `sql.` rule).
fn refuses_as(d: &Decision, case: &Case) -> bool {
    let family = case.rule_family.as_deref().unwrap_or("");
    let prefix = family.strip_suffix('*').unwrap_or(family);
    d.refused() && d.rule.as_deref().is_some_and(|r| r.starts_with(prefix))
}

fn disagreements(run: &Run) -> Vec<String> {
    run.cases
        .iter()
        .zip(&run.decisions)
        .filter(|(_, d)| d.iter().any(|x| x != &d[0]))
        .map(|(c, d)| {
            let each: Vec<String> = MODES
                .iter()
                .zip(d)
                .map(|(m, d)| format!("{m} {d}"))
                .collect();
            format!("  {}: {}", c.label(), each.join(", "))
        })
        .collect()
}

/// The corpus is what it claims to be: every call names a tool its server really lists, with
/// the arguments that tool requires and no argument its schema does not know; no call repeats
/// (the breaker would rightly refuse the fifth copy); there are several hundred benign calls.
#[test]
fn the_corpus_speaks_the_real_servers_tools() {
    let servers = load_servers();
    let mut cases = load_cases("benign");
    let benign = cases.len();
    cases.extend(load_cases("adversarial"));
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for c in &cases {
        let Some(server) = servers.get(&c.server) else {
            problems.push(format!("{}: no server {}", c.label(), c.server));
            continue;
        };
        let tools = server.tools.as_array().expect("tools array");
        let Some(tool) = tools.iter().find(|t| t["name"] == c.tool.as_str()) else {
            problems.push(format!(
                "{}: {} lists no tool {}",
                c.label(),
                c.server,
                c.tool
            ));
            continue;
        };
        let schema = &tool["inputSchema"];
        let args = c.arguments.as_object().expect("arguments are an object");
        for req in schema["required"].as_array().into_iter().flatten() {
            if !args.contains_key(req.as_str().unwrap_or("")) {
                problems.push(format!("{}: missing required {req}", c.label()));
            }
        }
        let props = schema["properties"].as_object();
        for key in args.keys() {
            if !props.is_some_and(|p| p.contains_key(key)) {
                problems.push(format!("{}: {key} is not in the tool's schema", c.label()));
            }
        }
        if !seen.insert((c.server.clone(), c.tool.clone(), c.arguments.to_string())) {
            problems.push(format!("{}: a repeated call", c.label()));
        }
        if let Some(p) = &c.policy {
            assert!(root().join(p).is_file(), "{}: no policy {p}", c.label());
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(benign >= 300, "only {benign} benign calls");
    let servers_used: HashSet<&str> = cases.iter().map(|c| c.server.as_str()).collect();
    assert_eq!(
        servers_used.len(),
        servers.len(),
        "every server file is used"
    );
}

/// No benign call is refused (blocked or sent to approval) in any mode.
#[test]
fn benign_traffic_is_never_refused() {
    let run = run();
    let refused: Vec<String> = run
        .cases
        .iter()
        .zip(&run.decisions)
        .filter(|(c, d)| c.benign() && d.iter().any(Decision::refused))
        .map(|(c, d)| format!("  {} -> {}", c.label(), d[1]))
        .collect();
    let total = run.cases.iter().filter(|c| c.benign()).count();
    assert!(
        refused.is_empty(),
        "{} of {total} benign calls refused:\n{}",
        refused.len(),
        refused.join("\n")
    );
}

/// Every adversarial call is refused, by a rule of its family, in every mode.
#[test]
fn every_attack_is_refused() {
    let run = run();
    let passing: Vec<String> = run
        .cases
        .iter()
        .zip(&run.decisions)
        .filter(|(c, d)| !c.benign() && d.iter().any(|d| !refuses_as(d, c)))
        .map(|(c, d)| format!("  {} -> {}", c.label(), d[1]))
        .collect();
    let total = run.cases.iter().filter(|c| !c.benign()).count();
    assert!(
        passing.is_empty(),
        "{} of {total} attacks not refused:\n{}",
        passing.len(),
        passing.join("\n")
    );
}

/// Demo mode, proxy mode, `explain` and `policy test` reach the same decision on every case.
#[test]
fn the_four_modes_agree() {
    let run = run();
    let d = disagreements(run);
    assert!(
        d.is_empty(),
        "{} case(s) decided differently:\n{}",
        d.len(),
        d.join("\n")
    );
}
