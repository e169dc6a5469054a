//! The policy library in `policies/`, driving the real `sentinel` binary: every policy file
//! validates (`sentinel policy check`) and passes its own cases (`sentinel policy test`), and
//! every policy has a cases file, so a policy added without tests fails CI. The library's
//! conventions are checked too: a header comment saying how to run the file, a reason and a
//! hint on every rule the file writes (SQL guard rules keep the guard's per-finding text), and
//! cases that exercise every verdict the policy can give.

mod util;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How a cases file is named next to its policy: `sqlite.yaml` -> `sqlite.tests.yaml`.
const CASES_SUFFIX: &str = ".tests.yaml";
/// Fewest passing cases a policy may have.
const MIN_PASSED: usize = 5;
/// The policies README.md documents; deleting one should not go unnoticed.
const DOCUMENTED: &[&str] = &[
    "sqlite.yaml",
    "postgres.yaml",
    "filesystem.yaml",
    "github.yaml",
    "readonly-db.yaml",
    "web-fetch.yaml",
];

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

fn file_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(library())
        .expect("read policies/")
        .map(|e| {
            e.expect("read a policies/ entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The policy files: `*.yaml` that are not cases files, sorted.
fn policies() -> Vec<String> {
    let list: Vec<String> = file_names()
        .into_iter()
        .filter(|n| n.ends_with(".yaml") && !n.ends_with(CASES_SUFFIX))
        .collect();
    assert!(
        !list.is_empty(),
        "no policy files in {}",
        library().display()
    );
    list
}

/// `sqlite.yaml` -> `sqlite.tests.yaml`.
fn cases_name(policy: &str) -> String {
    format!(
        "{}{CASES_SUFFIX}",
        policy.strip_suffix(".yaml").expect("a .yaml name")
    )
}

/// Runs `sentinel ARGS` in the repository root: (exit code, stdout, stderr).
fn sentinel(args: &[&str]) -> (Option<i32>, String, String) {
    let out = util::bare(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .output()
        .expect("run sentinel");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads a YAML file of the library as JSON values.
fn yaml(name: &str) -> Value {
    let text = std::fs::read_to_string(library().join(name)).expect("read a policies/ file");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("policies/{name}: {e}"))
}

/// Fails with every problem at once, so one run shows all that is wrong with the library.
fn report(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} problem(s) in policies/:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_documented_policy_is_there() {
    let have = policies();
    let missing: Vec<String> = DOCUMENTED
        .iter()
        .filter(|d| !have.iter().any(|h| h == *d))
        .map(|d| format!("policies/{d} is documented in README.md but missing"))
        .collect();
    report(missing);
}

#[test]
fn every_file_is_a_policy_or_its_cases() {
    let policies = policies();
    let mut problems = Vec::new();
    for name in file_names() {
        if let Some(stem) = name.strip_suffix(CASES_SUFFIX) {
            if !policies.contains(&format!("{stem}.yaml")) {
                problems.push(format!("policies/{name}: no policies/{stem}.yaml to test"));
            }
        } else if !name.ends_with(".yaml") {
            // A policy named .yml or .json would escape every test below.
            problems.push(format!(
                "policies/{name}: the library holds NAME.yaml policies and NAME{CASES_SUFFIX} cases only"
            ));
        }
    }
    report(problems);
}

#[test]
fn every_policy_has_a_cases_file() {
    let problems = policies()
        .iter()
        .filter(|p| !library().join(cases_name(p)).is_file())
        .map(|p| {
            format!(
                "policies/{p} has no cases file: add policies/{} (see README: `sentinel policy test`)",
                cases_name(p)
            )
        })
        .collect();
    report(problems);
}

#[test]
fn every_policy_checks_clean() {
    let mut problems = Vec::new();
    for p in policies() {
        let path = format!("policies/{p}");
        let (code, out, err) = sentinel(&["policy", "check", &path]);
        if code != Some(0) || !out.starts_with(&format!("{path}: ok")) {
            problems.push(format!(
                "sentinel policy check {path}: exit {code:?}\n{out}{err}"
            ));
        }
    }
    report(problems);
}

#[test]
fn every_policy_passes_its_cases() {
    let mut problems = Vec::new();
    for p in policies() {
        let cases = cases_name(&p);
        if !library().join(&cases).is_file() {
            continue; // every_policy_has_a_cases_file says so
        }
        let (policy, cases) = (format!("policies/{p}"), format!("policies/{cases}"));
        let (code, out, err) = sentinel(&["policy", "test", &policy, &cases]);
        let summary = out
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("policy test: "))
            .and_then(|s| {
                let (passed, failed) = s.split_once(" passed, ")?;
                let failed = failed.strip_suffix(" failed")?;
                Some((passed.parse::<usize>().ok()?, failed.parse::<usize>().ok()?))
            });
        let ok = code == Some(0) && matches!(summary, Some((passed, 0)) if passed >= MIN_PASSED);
        if !ok {
            let failures: String = out
                .lines()
                .filter(|l| l.starts_with("not ok"))
                .map(|l| format!("  {l}\n"))
                .collect();
            problems.push(format!(
                "sentinel policy test {policy} {cases}: exit {code:?}, {summary:?} (want at \
                 least {MIN_PASSED} passed, 0 failed)\n{failures}{err}"
            ));
        }
    }
    report(problems);
}

#[test]
fn every_policy_says_how_to_use_it() {
    let mut problems = Vec::new();
    for p in policies() {
        let text = std::fs::read_to_string(library().join(&p)).expect("read a policy");
        if !text.starts_with('#') {
            problems.push(format!(
                "policies/{p}: start with a comment saying what it is for"
            ));
        }
        for usage in [
            format!("sentinel --policy policies/{p} "),
            format!(
                "sentinel policy test policies/{p} policies/{}",
                cases_name(&p)
            ),
        ] {
            if !text.contains(&usage) {
                problems.push(format!("policies/{p}: the header should show `{usage}...`"));
            }
        }
    }
    report(problems);
}

/// The rule ids a profile inherits through `extends:`.
fn inherited_ids(profiles: &serde_json::Map<String, Value>, name: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut parent = profiles[name].get("extends").and_then(Value::as_str);
    while let Some(p) = parent {
        if !seen.insert(p.to_owned()) {
            break; // a cycle: `policy check` reports it
        }
        let Some(profile) = profiles.get(p) else {
            break;
        };
        for r in profile["rules"].as_array().into_iter().flatten() {
            if let Some(id) = r["id"].as_str() {
                ids.insert(id.to_owned());
            }
        }
        parent = profile.get("extends").and_then(Value::as_str);
    }
    ids
}

#[test]
fn every_rule_tells_the_agent_why_and_what_to_do() {
    let mut problems = Vec::new();
    for p in policies() {
        let doc = yaml(&p);
        let Some(profiles) = doc["profiles"].as_object() else {
            problems.push(format!("policies/{p}: no profiles"));
            continue;
        };
        for (name, profile) in profiles {
            let inherited = inherited_ids(profiles, name);
            for rule in profile["rules"].as_array().into_iter().flatten() {
                let id = rule["id"].as_str().unwrap_or("?");
                // Overrides of an inherited rule change a field or two; SQL and egress guard
                // rules keep the guard's reason and hint, which are specific to each finding.
                if inherited.contains(id)
                    || rule.get("sql").is_some()
                    || rule.get("egress").is_some()
                {
                    continue;
                }
                for field in ["reason", "hint"] {
                    if rule[field].as_str().is_none_or(|s| s.trim().is_empty()) {
                        problems.push(format!(
                            "policies/{p}: profile {name}, rule {id}: no `{field}`"
                        ));
                    }
                }
            }
        }
    }
    report(problems);
}

/// The verdicts a policy can give, from what its file says: `block` always (the SQL guard,
/// a rule or `default_action`) and `allow` always (a call no rule refuses), `approve` when a
/// rule approves, `monitor` when a rule monitors or a profile runs in monitor mode.
fn verdicts(doc: &Value) -> BTreeSet<&'static str> {
    let mut v: BTreeSet<&'static str> = ["allow", "block"].into();
    let profiles = doc["profiles"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values());
    for profile in profiles {
        if profile["mode"] == "monitor" {
            v.insert("monitor");
        }
        for rule in profile["rules"].as_array().into_iter().flatten() {
            match rule["action"].as_str() {
                Some("approve") => {
                    v.insert("approve");
                }
                Some("monitor") => {
                    v.insert("monitor");
                }
                _ => {}
            }
            if rule["mode"] == "monitor" {
                v.insert("monitor");
            }
        }
    }
    v
}

#[test]
fn every_verdict_a_policy_gives_has_a_case() {
    let mut problems = Vec::new();
    for p in policies() {
        let cases = cases_name(&p);
        if !library().join(&cases).is_file() {
            continue;
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut blocks_naming_a_rule = 0;
        for case in yaml(&cases)["cases"].as_array().into_iter().flatten() {
            let expect = case["expect"].as_str().unwrap_or("").to_owned();
            if expect == "block" && case.get("rule").is_some() {
                blocks_naming_a_rule += 1;
            }
            *seen.entry(expect).or_default() += 1;
        }
        for verdict in verdicts(&yaml(&p)) {
            if !seen.contains_key(verdict) {
                problems.push(format!(
                    "policies/{cases}: no case expects {verdict}, which policies/{p} can give"
                ));
            }
        }
        if blocks_naming_a_rule == 0 {
            problems.push(format!(
                "policies/{cases}: no `expect: block` case names the `rule:` that blocks"
            ));
        }
    }
    report(problems);
}

/// The YAML block that follows `marker` in README.md.
fn readme_yaml_after(marker: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let at = readme
        .find(marker)
        .unwrap_or_else(|| panic!("README.md no longer has {marker:?}"));
    let start = readme[at..].find("```yaml\n").expect("a yaml block") + at + "```yaml\n".len();
    let end = readme[start..].find("```").expect("the block ends") + start;
    readme[start..end].to_owned()
}

#[test]
fn the_readme_policy_example_and_its_cases_work() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-policy");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let policy = dir.join("example.yaml");
    let cases = dir.join("cases.yaml");
    std::fs::write(&policy, readme_yaml_after("A complete, annotated example:")).unwrap();
    std::fs::write(
        &cases,
        readme_yaml_after("`sentinel policy test FILE CASES` puts a policy under CI."),
    )
    .unwrap();
    let (code, out, err) = sentinel(&["policy", "check", policy.to_str().unwrap()]);
    assert_eq!(
        code,
        Some(0),
        "README example fails policy check: {out}{err}"
    );
    let (code, out, err) = sentinel(&[
        "policy",
        "test",
        policy.to_str().unwrap(),
        cases.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "README cases fail: {out}{err}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

/// The breaker and egress examples in README.md load (a typo in documentation is a bug too).
#[test]
fn the_readme_breaker_and_egress_examples_load() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-guards");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    for (name, marker) in [
        ("breaker.yaml", "a profile's `breaker:` section tunes it."),
        ("egress.yaml", "policy that enforces:"),
    ] {
        let policy = dir.join(name);
        std::fs::write(&policy, readme_yaml_after(marker)).unwrap();
        let (code, out, err) = sentinel(&["policy", "check", policy.to_str().unwrap()]);
        assert_eq!(
            code,
            Some(0),
            "README {name} example fails policy check: {out}{err}"
        );
    }
}
