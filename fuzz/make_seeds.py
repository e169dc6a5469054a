#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/seed-*) from the project's own
test inputs: string literals in tests/**/*.rs, the arguments of policies/*.tests.yaml, and the
policy files themselves. Deterministic; rerun after the tests change:

    python3 fuzz/make_seeds.py        (needs PyYAML)

Each seed starts with the bytes the target reads as settings (see fuzz/fuzz_targets/), then
the input itself."""

import hashlib
import pathlib
import re
import shutil

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"
MAX_SEEDS = 80
MAX_LEN = 4000

RAW = re.compile(r'r(#+)"(.*?)"\1', re.S)
PLAIN = re.compile(r'(?<![r#\w])"((?:[^"\\\n]|\\.)*)"')


def unescape(s):
    out, i = [], 0
    simple = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in simple:
                out.append(simple[n])
                i += 2
                continue
            m = re.match(r"u\{([0-9a-fA-F]+)\}", s[i + 1 :])
            if m:
                out.append(chr(int(m.group(1), 16)))
                i += 1 + len(m.group(0))
                continue
            m = re.match(r"x([0-9a-fA-F]{2})", s[i + 1 :])
            if m:
                out.append(chr(int(m.group(1), 16)))
                i += 3
                continue
        out.append(c)
        i += 1
    return "".join(out)


def literals(paths):
    for p in paths:
        text = p.read_text()
        for m in RAW.finditer(text):
            yield m.group(2)
        for m in PLAIN.finditer(RAW.sub("", text)):
            yield unescape(m.group(1))


def yaml_strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from yaml_strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from yaml_strings(x)


def case_arguments():
    for p in sorted((ROOT / "policies").glob("*.tests.yaml")):
        for case in yaml.safe_load(p.read_text()).get("cases", []):
            yield from yaml_strings(case.get("arguments", {}))


SQL_START = re.compile(
    r"\s*(/\*|--|\(|;)?\s*(select|with|insert|update|delete|merge|replace|drop|truncate|alter|"
    r"copy|attach|grant|table|explain|create|vacuum|pragma|show|exec|do|prepare|values)\b",
    re.I,
)
EGRESS = re.compile(r"://|@|\d+\.\d+|localhost|\[[0-9a-f:]+\]|AKIA|ghp_|xox|sk-|eyJ|BEGIN|Bearer", re.I)


def write(target, seeds):
    d = OUT / target
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    seen = set()
    for s in seeds:
        if len(s) > MAX_LEN or s in seen:
            continue
        seen.add(s)
        if len(seen) > MAX_SEEDS:
            break
        (d / ("seed-" + hashlib.sha1(s).hexdigest()[:16])).write_bytes(s)
    print(f"{target}: {len(list(d.iterdir()))} seeds")


def main():
    tests = sorted(ROOT.glob("tests/**/*.rs"))
    lits = list(literals(tests + sorted(ROOT.glob("src/base/**/*.rs"))))

    # Client lines: two setting bytes (reader capacity, size bound), then the lines.
    client = [l for l in lits if l.lstrip().startswith(("{", "[")) and ('"method"' in l or '"jsonrpc"' in l)]
    write("client_line", [b"\x07\xff" + l.encode() + b"\n" for l in client])

    # Server output: two bytes of chunking seed, then lines of responses.
    server = [l for l in lits if l.lstrip().startswith(("{", "[")) and ('"result"' in l or '"error"' in l)]
    write("server_output", [bytes([i % 256, 5]) + l.encode() + b"\n" for i, l in enumerate(server)])

    # SQL: a settings byte (max_rows, SQL-named key), then the text.
    sql_lits = list(literals(sorted(ROOT.glob("tests/sql_rules/*.rs"))))
    sql = [s for s in sql_lits + list(case_arguments()) if SQL_START.match(s)]
    write("sql_guard", [bytes([6 - (i % 2) * 4]) + s.encode() for i, s in enumerate(sql)])

    # Egress and secrets: a settings byte, then the text.
    eg_lits = list(literals(sorted(ROOT.glob("tests/egress/*.rs"))))
    eg = [s for s in eg_lits + list(case_arguments()) if EGRESS.search(s)]
    write("egress_secrets", [bytes([4 + i % 3]) + s.encode() for i, s in enumerate(eg)])

    # Policy files: a settings byte (0: YAML), then the file.
    pol = [p.read_bytes() for p in sorted((ROOT / "policies").glob("*.yaml")) if ".tests." not in p.name]
    pol_lits = [l for l in lits if l.lstrip().startswith(("version:", "profiles:", "{\"version\""))]
    write("policy_file", [b"\0" + p for p in pol] + [b"\1" + l.encode() for l in pol_lits if l.lstrip().startswith("{")]
          + [b"\0" + l.encode() for l in pol_lits if not l.lstrip().startswith("{")])


if __name__ == "__main__":
    main()
