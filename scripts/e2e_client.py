#!/usr/bin/env python3
"""End-to-end test: official MCP Python SDK client -> sentinel -> mcp-server-sqlite.

Run by scripts/e2e.sh with the .venv-e2e interpreter. Can also be run by hand:

    .venv-e2e/bin/python scripts/e2e_client.py [--sentinel PATH] [--server PATH] [--keep]

Prints one line per check ("ok - ..." / "FAIL - ...") and a final line
"e2e: N passed, M failed". Exits 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import mcp.client.stdio as mcp_stdio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e_approvals  # noqa: E402
import e2e_filesystem  # noqa: E402
from e2e_common import Results, leaf_errors, short, text_of

REPO_ROOT = Path(__file__).resolve().parent.parent
OVERALL_TIMEOUT_S = 120
REQUEST_TIMEOUT_S = 15
ROWS = 50
BLOCK_CODE = -32010
# Destructive SQL needs a person's approval in the built-in policy; with no approval channel
# open (the first session's client has no elicitation, nobody watches) it is refused at once.
APPROVAL_CODE = -32012
EXPECTED_TOOLS = {"read_query", "write_query", "list_tables", "describe_table"}
# Markers that only exist inside the table's rows. None of them may ever reach
# the client through a blocked request, nor be written to the audit log.
ROW_MARKERS = ("SSN-", "@example.test", "Person-")


# --------------------------------------------------------------------------- #
# Fixtures
# --------------------------------------------------------------------------- #
# Entries that are evidence about the log and the server, not decisions about calls: the
# server's tools pinned at first sight, the hash chain's checkpoints.
EVIDENCE_ACTIONS = ("pinned", "checkpoint")


def is_evidence(line: str) -> bool:
    try:
        return json.loads(line).get("action") in EVIDENCE_ACTIONS
    except ValueError:
        return False


def decisions(audit: Path) -> list[dict[str, Any]]:
    """The audit log's entries about calls (see EVIDENCE_ACTIONS)."""
    if not audit.exists():
        return []
    return [json.loads(ln) for ln in audit.read_text().splitlines() if ln.strip() and not is_evidence(ln)]


def private_env(tmp: Path) -> dict[str, str]:
    """The environment for a sentinel session: a runtime directory of its own, so a
    `sentinel approvals watch` of the caller's cannot answer approvals here."""
    runtime = tmp / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return e2e_approvals.session_env(runtime)


def make_db(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT, ssn TEXT)")
    con.executemany(
        "INSERT INTO users(id, name, email, ssn) VALUES (?, ?, ?, ?)",
        [(i, f"Person-{i:04d}", f"user{i:04d}@example.test", f"SSN-{i:04d}") for i in range(1, ROWS + 1)],
    )
    con.commit()
    con.close()


def db_count(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        con.close()


# Capture the spawned process so we can read its exit status after the SDK's
# stdio_client has shut it down. This is an internal helper of mcp 1.x
# (pinned in e2e.sh); if it is missing we fall back to timing only.
SPAWNED: list[Any] = []
_orig_create = getattr(mcp_stdio, "_create_platform_compatible_process", None)
if _orig_create is not None:

    async def _capturing_create(*a: Any, **kw: Any) -> Any:
        proc = await _orig_create(*a, **kw)
        SPAWNED.append(proc)
        return proc

    mcp_stdio._create_platform_compatible_process = _capturing_create  # type: ignore[attr-defined]


def rows_of(result: Any) -> Any:
    """mcp-server-sqlite returns str(list_of_dicts), i.e. a Python literal."""
    return ast.literal_eval(text_of(result))


def procs_mentioning(needle: str) -> list[tuple[int, str]]:
    found = []
    me = os.getpid()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == me:
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if needle in cmd and state != "Z":
            found.append((int(d.name), cmd.strip()))
    return found


# --------------------------------------------------------------------------- #
# The session
# --------------------------------------------------------------------------- #
class Traffic:
    """Everything that crossed the client <-> sentinel boundary, as the SDK saw it."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.stream_errors: list[str] = []

    def last_request_id(self, method: str) -> Any:
        for m in reversed(self.sent):
            if m.get("method") == method and "id" in m:
                return m["id"]
        return None

    def response_for(self, req_id: Any) -> dict[str, Any] | None:
        for m in self.received:
            if "method" not in m and m.get("id") == req_id and type(m.get("id")) is type(req_id):
                return m
        return None


def dump(msg: Any) -> dict[str, Any]:
    return json.loads(msg.message.model_dump_json(by_alias=True, exclude_none=True))


async def run_session(r: Results, sentinel: Path, server: Path, tmp: Path, traffic: Traffic, state: dict) -> None:
    db = tmp / "test.db"
    audit = tmp / "audit.log"
    params = StdioServerParameters(
        command=str(sentinel),
        args=["--no-color", "--audit-log", str(audit), "--", str(server), "--db-path", str(db)],
        cwd=str(tmp),
        env=private_env(tmp),
    )
    errlog = open(tmp / "sentinel.stderr", "w")
    try:
        async with stdio_client(params, errlog=errlog) as (raw_read, raw_write):
            # Interpose recording pipes between the SDK transport and the session.
            c2s_send, c2s_recv = anyio.create_memory_object_stream(0)
            s2c_send, s2c_recv = anyio.create_memory_object_stream(0)

            async def pump_out() -> None:
                async with c2s_recv:
                    async for msg in c2s_recv:
                        traffic.sent.append(dump(msg))
                        await raw_write.send(msg)

            async def pump_in() -> None:
                async with s2c_send:
                    async for msg in raw_read:
                        if isinstance(msg, Exception):
                            traffic.stream_errors.append(repr(msg))
                        else:
                            traffic.received.append(dump(msg))
                        await s2c_send.send(msg)

            async with anyio.create_task_group() as pumps:
                pumps.start_soon(pump_out)
                pumps.start_soon(pump_in)
                async with ClientSession(
                    s2c_recv, c2s_send, read_timeout_seconds=timedelta(seconds=REQUEST_TIMEOUT_S)
                ) as session:
                    await session_checks(r, session, db, traffic, state)
                pumps.cancel_scope.cancel()
            state["step"] = "closing the session (stdin EOF -> sentinel exit)"
            state["close_started"] = time.monotonic()
        state["close_finished"] = time.monotonic()
    finally:
        errlog.close()


async def session_checks(r: Results, session: ClientSession, db: Path, traffic: Traffic, state: dict) -> None:
    state["step"] = "initialize"
    init = await session.initialize()
    r.check(
        "initialize: server name is 'sqlite' and protocol version is set",
        init.serverInfo.name == "sqlite" and bool(init.protocolVersion),
        f"serverInfo={init.serverInfo!r} protocolVersion={init.protocolVersion!r}",
    )

    state["step"] = "tools/list"
    tools = await session.list_tools()
    names = {t.name for t in tools.tools}
    r.check(f"tools/list includes {sorted(EXPECTED_TOOLS)}", EXPECTED_TOOLS <= names, f"got {sorted(names)}")

    state["step"] = "bounded read_query"
    q = "SELECT id, name FROM users ORDER BY id LIMIT 5"
    try:
        res = await session.call_tool("read_query", {"query": q})
        rows = rows_of(res)
        r.check(
            "bounded read_query (LIMIT 5) returns 5 rows",
            not res.isError and isinstance(rows, list) and [row.get("id") for row in rows] == [1, 2, 3, 4, 5],
            f"isError={res.isError} text={short(text_of(res))}",
        )
    except Exception as e:  # noqa: BLE001
        r.check("bounded read_query (LIMIT 5) returns 5 rows", False, repr(e))

    await expect_block(r, session, traffic, state, "read_query", "SELECT * FROM users", "sql.unbounded_read")

    state["step"] = "destructive write_query"
    await expect_block(r, session, traffic, state, "write_query", "DELETE FROM users", "sql.destructive", APPROVAL_CODE)
    await expect_count(r, session, state, db, 50, "after blocked DELETE: count(*) via MCP is 50 and DB still has 50 rows")

    state["step"] = "DELETE ... WHERE id = 50"
    try:
        res = await session.call_tool("write_query", {"query": "DELETE FROM users WHERE id = 50"})
        txt = text_of(res)
        ok = not res.isError
        try:
            ok = ok and rows_of(res) == [{"affected_rows": 1}]
        except (ValueError, SyntaxError):
            ok = False
        r.check("write_query 'DELETE FROM users WHERE id = 50' passes (affected_rows 1)", ok, f"isError={res.isError} text={short(txt)}")
    except Exception as e:  # noqa: BLE001
        r.check("write_query 'DELETE FROM users WHERE id = 50' passes", False, repr(e))
    await expect_count(r, session, state, db, 49, "after DELETE ... WHERE id = 50: count(*) is 49")

    state["step"] = "list_tables"
    try:
        res = await session.call_tool("list_tables", {})
        r.check("list_tables works and lists 'users'", not res.isError and "users" in text_of(res), short(text_of(res)))
    except Exception as e:  # noqa: BLE001
        r.check("list_tables works and lists 'users'", False, repr(e))

    state["step"] = "describe_table"
    try:
        res = await session.call_tool("describe_table", {"table_name": "users"})
        cols = {c.get("name") for c in rows_of(res)} if not res.isError else set()
        r.check(
            "describe_table users lists id/name/email/ssn",
            {"id", "name", "email", "ssn"} <= cols,
            short(text_of(res)),
        )
    except Exception as e:  # noqa: BLE001
        r.check("describe_table users lists id/name/email/ssn", False, repr(e))

    state["step"] = "bounded read after blocks"
    try:
        res = await session.call_tool("read_query", {"query": "SELECT id, name FROM users WHERE id <= 3 ORDER BY id LIMIT 3"})
        rows = rows_of(res)
        r.check(
            "session still usable after blocks (bounded read returns 3 rows)",
            not res.isError and [row.get("id") for row in rows] == [1, 2, 3],
            short(text_of(res)),
        )
    except Exception as e:  # noqa: BLE001
        r.check("session still usable after blocks (bounded read returns 3 rows)", False, repr(e))

    state["step"] = "end of session"


async def expect_block(
    r: Results, session: ClientSession, traffic: Traffic, state: dict, tool: str, query: str, rule: str,
    code: int = BLOCK_CODE,
) -> None:
    state["step"] = f"blocked {tool} {query!r}"
    label = f"{tool} {query!r} is blocked with {code} / {rule}"
    try:
        res = await session.call_tool(tool, {"query": query})
    except McpError as e:
        err = e.error
        data = err.data if isinstance(err.data, dict) else {}
        r.check(
            label,
            err.code == code
            and err.message.startswith("Blocked by Sentinel")
            and data.get("rule") == rule
            and isinstance(data.get("hint"), str)
            and bool(data.get("hint")),
            f"code={err.code} message={err.message!r} data={err.data!r}",
        )
    except Exception as e:  # noqa: BLE001
        r.check(label, False, f"unexpected exception {e!r}")
    else:
        r.check(label, False, f"call was NOT blocked; isError={res.isError} text={short(text_of(res))}")
        return

    req_id = traffic.last_request_id("tools/call")
    resp = traffic.response_for(req_id)
    r.check(
        f"block response for {query!r} carries the request id ({req_id!r}, same JSON type)",
        resp is not None and "error" in resp,
        f"received={short([m for m in traffic.received if m.get('id') == req_id or str(m.get('id')) == str(req_id)])}",
    )
    state.setdefault("blocked", []).append({"id": req_id, "tool": tool, "query": query, "rule": rule})


async def expect_count(r: Results, session: ClientSession, state: dict, db: Path, n: int, label: str) -> None:
    state["step"] = f"count == {n}"
    try:
        res = await session.call_tool("read_query", {"query": "SELECT count(*) FROM users"})
        rows = rows_of(res)
        via_mcp = next(iter(rows[0].values()), None) if rows else None
        on_disk = db_count(db)
        r.check(label, not res.isError and via_mcp == n and on_disk == n, f"via MCP: {short(text_of(res))}; on disk: {on_disk}")
    except Exception as e:  # noqa: BLE001
        r.check(label, False, repr(e))


# --------------------------------------------------------------------------- #
# Post-session checks
# --------------------------------------------------------------------------- #
def after_checks(r: Results, tmp: Path, traffic: Traffic, state: dict) -> None:
    r.check(
        "no malformed/unparseable messages arrived from sentinel",
        not traffic.stream_errors,
        short(traffic.stream_errors, 600),
    )

    received_blob = json.dumps(traffic.received)
    stderr_text = (tmp / "sentinel.stderr").read_text(errors="replace") if (tmp / "sentinel.stderr").exists() else ""
    leaked = [m for m in ROW_MARKERS[:1] if m in received_blob or m in stderr_text]
    r.check("no 'SSN-' marker in anything the client received (or in sentinel stderr)", not leaked, leaked)

    # Shutdown behaviour: the SDK closes stdin, waits up to 2 s, then SIGTERMs.
    started, finished = state.get("close_started"), state.get("close_finished")
    proc = SPAWNED[0] if SPAWNED else None
    rc = getattr(proc, "returncode", None)
    if started is not None and finished is not None:
        took = finished - started
        budget = getattr(mcp_stdio, "PROCESS_TERMINATION_TIMEOUT", 2.0)
        ok = took < budget and (proc is None or rc == 0)
        r.check(
            "sentinel exits cleanly (status 0, on its own) after client closes stdin",
            ok,
            f"close took {took:.2f}s (SDK kills after {budget}s), exit status {rc!r}",
        )
    else:
        r.check("sentinel exits cleanly after client closes stdin", False, "session did not reach close")

    leftovers = procs_mentioning(str(tmp))
    deadline = time.monotonic() + 3
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.1)
        leftovers = procs_mentioning(str(tmp))
    r.check("no sentinel / mcp-server-sqlite processes left behind", not leftovers, leftovers)
    for pid, _ in leftovers:  # clean up what we started
        try:
            os.kill(pid, 9)
        except OSError:
            pass

    audit = tmp / "audit.log"
    blocked = state.get("blocked", [])
    if not r.check("audit log exists", audit.exists(), str(audit)):
        return
    raw = audit.read_text(errors="replace")
    lines = [ln for ln in raw.splitlines() if ln.strip() and not is_evidence(ln)]
    entries: list[Any] = []
    bad = []
    for ln in lines:
        try:
            entries.append(json.loads(ln))
        except ValueError as e:
            bad.append(f"{e}: {short(ln)}")
    r.check(
        "audit log holds exactly 2 JSON lines (one per block)",
        len(lines) == 2 and not bad and raw.endswith("\n"),
        f"{len(lines)} lines, unparseable={bad}, content={short(raw, 800)}",
    )
    for i, b in enumerate(blocked):
        e = entries[i] if i < len(entries) and isinstance(entries[i], dict) else {}
        args = (((e.get("details") or {}).get("params") or {}).get("arguments") or {}) if isinstance(e.get("details"), dict) else {}
        problems = []
        if e.get("rule") != b["rule"]:
            problems.append(f"rule={e.get('rule')!r}")
        if not (e.get("message_id") == b["id"] or str(e.get("message_id")) == str(b["id"])):
            problems.append(f"message_id={e.get('message_id')!r} (request id {b['id']!r})")
        if e.get("method") != "tools/call":
            problems.append(f"method={e.get('method')!r}")
        if e.get("tool") != b["tool"]:
            problems.append(f"tool={e.get('tool')!r}")
        if not isinstance(e.get("timestamp"), str) or not e.get("timestamp"):
            problems.append(f"timestamp={e.get('timestamp')!r}")
        if args.get("query") != b["query"]:
            problems.append(f"details.params.arguments.query={args.get('query')!r}")
        for f in ("reason", "action", "server"):
            if f not in e:
                problems.append(f"missing {f}")
        r.check(f"audit entry {i + 1} describes the blocked {b['tool']} ({b['rule']})", not problems, f"{problems}; entry={short(e, 600)}")
    leaked = [m for m in ROW_MARKERS if m in raw]
    r.check("audit log contains no row data", not leaked, leaked)


# --------------------------------------------------------------------------- #
async def run_policy_session(r: Results, sentinel: Path, server: Path, tmp: Path, state: dict) -> None:
    """A second session behind the policy library's sqlite.yaml (production profile)."""
    db = tmp / "policy.db"
    make_db(db)
    audit = tmp / "policy-audit.log"
    policy = REPO_ROOT / "policies" / "sqlite.yaml"
    params = StdioServerParameters(
        command=str(sentinel),
        args=["--no-color", "--audit-log", str(audit), "--policy", str(policy), "--profile", "production",
              "--", str(server), "--db-path", str(db)],
        cwd=str(tmp),
        env=private_env(tmp),
    )

    async def refused(session: ClientSession, tool: str, query: str, code: int, rule: str) -> None:
        state["step"] = f"policy: {tool} {query!r}"
        label = f"policy sqlite.yaml: {tool} {query!r} is refused with {code} / {rule}"
        try:
            res = await session.call_tool(tool, {"query": query})
        except McpError as e:
            data = e.error.data if isinstance(e.error.data, dict) else {}
            r.check(label, e.error.code == code and data.get("rule") == rule, f"code={e.error.code} data={data!r}")
        else:
            r.check(label, False, f"not refused: isError={res.isError} text={short(text_of(res))}")

    with open(tmp / "policy-sentinel.stderr", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=REQUEST_TIMEOUT_S)) as session:
                await session.initialize()
                await refused(session, "read_query", "SELECT id FROM users LIMIT 500", BLOCK_CODE, "sqlite.unbounded_read")
                state["step"] = "policy: bounded read"
                res = await session.call_tool("read_query", {"query": "SELECT id FROM users ORDER BY id LIMIT 5"})
                rows = rows_of(res)
                r.check("policy sqlite.yaml: read_query with LIMIT 5 (under max_rows 100) returns 5 rows",
                        not res.isError and isinstance(rows, list) and len(rows) == 5, short(text_of(res)))
                await refused(session, "write_query", "DROP TABLE users", -32012, "approve-drop")
                state["step"] = "policy: insert"
                res = await session.call_tool(
                    "write_query", {"query": "INSERT INTO users (name, email, ssn) VALUES ('New', 'n@example.test', 'SSN-X')"})
                r.check("policy sqlite.yaml: an INSERT through write_query is allowed", not res.isError, short(text_of(res)))
    r.check("policy sqlite.yaml: the table survived and holds 51 rows", db_count(db) == 51, f"count={db_count(db)}")
    entries = decisions(audit)
    got = [(e.get("rule"), e.get("action")) for e in entries]
    want = [("sqlite.unbounded_read", "blocked"), ("approve-drop", "approval_required"), ("audit-writes", "monitored")]
    r.check("policy sqlite.yaml: audit log holds the block, the approval refusal and the monitored write", got == want, f"got {got}")


GUARD_POLICY = """\
version: 1
profiles:
  default:
    rules:
      - id: egress
        egress:
          allowed_domains: ["*.corp.example", example.test]
          denied_domains: [pastebin.com]
        action: block
      - id: sql
        sql: {}
        action: block
    breaker:
      consecutive_errors: 3
      cooldown: 1h
"""


async def run_guard_session(r: Results, sentinel: Path, server: Path, tmp: Path, state: dict) -> None:
    """A third session: the circuit breaker and an enforcing egress guard in front of the real server."""
    db = tmp / "guard.db"
    make_db(db)
    audit = tmp / "guard-audit.log"
    policy = tmp / "guard.yaml"
    policy.write_text(GUARD_POLICY)
    # Built at run time so that no secret scanner flags this file.
    secret = "AKIA" + "IOSFODNN7" + "EXAMPLE"
    params = StdioServerParameters(
        command=str(sentinel),
        args=["--no-color", "--audit-log", str(audit), "--policy", str(policy), "--", str(server), "--db-path", str(db)],
        cwd=str(tmp),
        env=private_env(tmp),
    )

    async def refused(session: ClientSession, tool: str, args: dict, rule: str, what: str) -> None:
        state["step"] = f"guard: {what}"
        label = f"guard: {what} is refused with {BLOCK_CODE} / {rule}"
        try:
            res = await session.call_tool(tool, args)
        except McpError as e:
            data = e.error.data if isinstance(e.error.data, dict) else {}
            r.check(label, e.error.code == BLOCK_CODE and data.get("rule") == rule, f"code={e.error.code} data={data!r}")
        else:
            r.check(label, False, f"not refused: isError={res.isError} text={short(text_of(res))}")

    stderr_path = tmp / "guard-sentinel.stderr"
    with open(stderr_path, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=REQUEST_TIMEOUT_S)) as session:
                await session.initialize()
                await refused(session, "read_query", {"query": "SELECT 'http://169.254.169.254/latest/meta-data/' AS u LIMIT 1"},
                              "egress.metadata", "a metadata URL inside SQL")
                await refused(session, "write_query", {"query": "INSERT INTO users (name, email, ssn) VALUES ('x', 'x@pastebin.com', 'SSN-P')"},
                              "egress.denied", "an e-mail at a denied domain inside SQL")
                await refused(session, "write_query", {"query": f"INSERT INTO users (name, email, ssn) VALUES ('{secret}', 'none', 'SSN-K')"},
                              "egress.secret", "an AWS key inside SQL")
                state["step"] = "guard: allowed destination"
                res = await session.call_tool(
                    "write_query", {"query": "INSERT INTO users (name, email, ssn) VALUES ('Ok', 'ok@example.test', 'SSN-O')"})
                r.check("guard: an INSERT naming only an allow-listed domain is forwarded", not res.isError, short(text_of(res)))
                # Loop detection: the 5th identical call within 5 s is refused.
                for i in range(4):
                    state["step"] = f"guard: loop call {i + 1}"
                    res = await session.call_tool("read_query", {"query": "SELECT count(*) AS n FROM users"})
                    r.check(f"guard: identical read_query #{i + 1} of 4 is forwarded", not res.isError, short(text_of(res)))
                await refused(session, "read_query", {"query": "SELECT count(*) AS n FROM users"},
                              "breaker.loop", "the 5th identical read_query within 5 s")
                await refused(session, "read_query", {"query": "SELECT id FROM users LIMIT 1"}, "breaker.open",
                              "another read_query while its circuit is open")
                # Failures reported by the server (the SDK refuses calls that miss a required argument
                # with isError) open the tool's circuit after 3 in a row.
                for i in range(3):
                    state["step"] = f"guard: failing describe_table {i + 1}"
                    res = await session.call_tool("describe_table", {"table": f"t{i}"})
                    r.check(f"guard: the server reports describe_table without table_name as an error (#{i + 1})",
                            bool(res.isError), short(text_of(res)))
                await refused(session, "describe_table", {"table_name": "users"}, "breaker.open",
                              "describe_table after 3 failures in a row")
                state["step"] = "guard: other tools still work"
                res = await session.call_tool("list_tables", {})
                r.check("guard: list_tables still works", not res.isError and "users" in text_of(res), short(text_of(res)))
    r.check("guard: the denied and secret INSERTs never reached the database (51 rows)", db_count(db) == 51, f"count={db_count(db)}")
    entries = decisions(audit)
    got = [(e.get("rule"), e.get("action"), e.get("tool")) for e in entries]
    want = [
        ("egress.metadata", "blocked", "read_query"),
        ("egress.denied", "blocked", "write_query"),
        ("egress.secret", "blocked", "write_query"),
        ("breaker.state", "breaker_open", "read_query"),
        ("breaker.loop", "blocked", "read_query"),
        ("breaker.open", "blocked", "read_query"),
        ("breaker.state", "breaker_open", "describe_table"),
        ("breaker.open", "blocked", "describe_table"),
    ]
    r.check("guard: the audit log holds each refusal and each circuit opening, in order", got == want, f"got {got}")
    leaks = [p.name for p in (audit, stderr_path) if p.exists() and secret in p.read_text(errors="replace")]
    r.check("guard: the AWS key is in neither the audit log nor sentinel's stderr", not leaks, leaks)
    r.check("guard: the audit entry of the secret shows it redacted",
            any("[REDACTED aws_access_key_id]" in json.dumps(e.get("details")) for e in entries), "no redacted entry")


def main() -> int:
    venv_bin = Path(sys.executable).parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentinel", default=str(REPO_ROOT / "target" / "release" / "sentinel"))
    ap.add_argument("--server", default=str(venv_bin / "mcp-server-sqlite"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (db, audit log, sentinel stderr)")
    ap.add_argument("--fs-old", help="server-filesystem's dist/index.js, the older release")
    ap.add_argument("--fs-new", help="server-filesystem's dist/index.js, the newer release")
    opts = ap.parse_args()

    sentinel, server = Path(opts.sentinel).resolve(), Path(opts.server).absolute()
    r = Results()
    for what, p in (("sentinel binary", sentinel), ("mcp-server-sqlite", server)):
        if not (p.is_file() and os.access(p, os.X_OK)):
            r.check(f"{what} is present at {p}", False, "not found / not executable")
            print(f"e2e: {r.passed} passed, {r.failed} failed", flush=True)
            return 1

    tmp = Path(tempfile.mkdtemp(prefix="sentinel-e2e-"))
    make_db(tmp / "test.db")
    traffic = Traffic()
    state: dict[str, Any] = {"step": "spawn"}

    async def go() -> None:
        with anyio.fail_after(OVERALL_TIMEOUT_S):
            await run_session(r, sentinel, server, tmp, traffic, state)
            await run_policy_session(r, sentinel, server, tmp, state)
            await run_guard_session(r, sentinel, server, tmp, state)
            await e2e_approvals.run_elicitation_session(r, sentinel, server, tmp, state, make_db)
            await e2e_approvals.run_local_session(r, sentinel, server, tmp, state, make_db)
            if opts.fs_old and opts.fs_new:
                await e2e_filesystem.run_filesystem_sessions(
                    r, sentinel, Path(opts.fs_old).absolute(), Path(opts.fs_new).absolute(), tmp, state)
            else:
                r.check("server-filesystem releases given (--fs-old, --fs-new)", False, "missing")

    try:
        anyio.run(go)
    except TimeoutError:
        r.check(f"session finished within {OVERALL_TIMEOUT_S}s", False, f"timed out during: {state.get('step')}")
    except BaseException as e:  # noqa: BLE001 - report, don't crash
        if isinstance(e, KeyboardInterrupt):
            raise
        leaves = leaf_errors(e)
        if any(isinstance(x, TimeoutError) for x in leaves):
            r.check(f"session finished within {OVERALL_TIMEOUT_S}s", False, f"timed out during: {state.get('step')}")
        else:
            r.check("session ran without crashing", False, f"during {state.get('step')}: {leaves!r}")

    after_checks(r, tmp, traffic, state)

    if r.failed:
        err = (tmp / "sentinel.stderr").read_text(errors="replace").splitlines()
        if err:
            print("# sentinel stderr (last 20 lines):", flush=True)
            for ln in err[-20:]:
                print(f"#   {ln}", flush=True)
    if r.failed or opts.keep:
        print(f"# artifacts kept in {tmp} (test.db, audit.log, sentinel.stderr)", flush=True)
        if r.failed:
            (tmp / "traffic.json").write_text(json.dumps({"sent": traffic.sent, "received": traffic.received}, indent=1))
    else:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"e2e: {r.passed} passed, {r.failed} failed", flush=True)
    return 0 if r.failed == 0 and r.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
