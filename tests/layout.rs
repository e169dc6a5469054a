//! The source tree keeps the shape ARCHITECTURE.md draws: imports point down the layers, every
//! module says what it owns in a doc comment, no file grows much past 800 lines, and every
//! file and folder under `src/` is on the map. These read the sources, not the binary: they
//! guard the layout, which no behaviour test can see.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, top to bottom, and what each may import (itself included).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "cli",
        &[
            "cli",
            "transport",
            "gateway",
            "policy",
            "guards",
            "audit",
            "base",
        ],
    ),
    ("transport", &["transport", "gateway", "base"]),
    ("gateway", &["gateway", "policy", "guards", "audit", "base"]),
    ("policy", &["policy", "guards", "audit", "base"]),
    ("guards", &["guards", "base"]),
    ("audit", &["audit", "base"]),
    ("base", &["base"]),
];

/// Longest a source file may be (the design says "not much over 800").
const MAX_LINES: usize = 900;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    assert!(
        files.len() > 30,
        "found only {} files under src/",
        files.len()
    );
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root().join("src")).unwrap();
            let text = std::fs::read_to_string(&p).unwrap();
            (rel.to_string_lossy().replace('\\', "/"), text)
        })
        .collect()
}

/// The top-level modules a file names through `crate::` paths (`crate::a::b`, and each member
/// of a group `crate::{a::b, c}`, across lines), outside comments.
fn imports(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Members at the group's own depth: the first name of each.
            let (mut depth, mut start) = (0, true);
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_ascii_alphanumeric() || c == '_') => {
                        found.insert(ident(&group[k..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn imports_point_down_the_layers() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (path, text) in sources() {
        let Some((layer, allowed)) = LAYERS
            .iter()
            .find(|(l, _)| path.starts_with(&format!("{l}/")))
        else {
            assert_eq!(path, "main.rs", "{path} is in no layer of ARCHITECTURE.md");
            continue;
        };
        checked += 1;
        for name in imports(&text) {
            if !allowed.contains(&name.as_str()) {
                wrong.push(format!("src/{path} ({layer}) imports crate::{name}"));
            }
        }
    }
    assert!(checked > 30, "checked only {checked} files");
    assert!(
        wrong.is_empty(),
        "imports pointing up or sideways:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_import_scan_sees_imports_and_skips_comments() {
    // The check above is only as good as this scan.
    let text = "use crate::base::json;\nuse crate::{policy::{Live, x::Y}, \n    audit};\n// crate::cli in a comment\nlet x = crate::guards::sql::is_dialect(d); // crate::transport\n";
    let names: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(names, ["audit", "base", "guards", "policy"]);
}

#[test]
fn every_module_says_what_it_owns() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(path, _)| format!("src/{path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "no //! doc comment at the top of:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_source_file_is_much_over_800_lines() {
    let mut files = Vec::new();
    for dir in ["src", "benches", "tests"] {
        rust_files(&root().join(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .map(|p| (p, std::fs::read_to_string(p).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(p, n)| format!("{} ({n} lines)", p.strip_prefix(root()).unwrap().display()))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn architecture_md_names_every_file_and_folder_under_src() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for (path, _) in sources() {
        let mut parts: Vec<&str> = path.split('/').collect();
        let file = parts.pop().unwrap();
        for folder in &parts {
            if !map.contains(&format!("{folder}/")) {
                missing.push(format!("folder {folder}/"));
            }
        }
        if !map.contains(&format!("`{file}`")) && !map.contains(&format!("{file}`")) {
            missing.push(format!("src/{path}"));
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not mention:\n{}",
        missing.join("\n")
    );
}
