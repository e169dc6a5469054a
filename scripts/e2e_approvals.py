"""End-to-end approval sessions (issue 10), run by scripts/e2e_client.py.

Two sessions of the official MCP Python SDK client with the real mcp-server-sqlite behind
sentinel's built-in policy (destructive SQL needs a person's approval):

* a client with an ``elicitation_callback``: a ``DROP TABLE`` it declines leaves the table,
  the same ``DROP TABLE`` it approves drops it;
* a client without elicitation, while ``sentinel approvals watch`` runs on this host: its
  ``DELETE FROM users`` is held, listed by ``sentinel approvals list --json`` and approved by
  a second process running ``sentinel approvals approve ID``.

Each session has its own runtime directory (``XDG_RUNTIME_DIR``), so nothing of the caller's
(a watch of their own) takes part.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import anyio
import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError

REQUEST_TIMEOUT_S = 40
APPROVAL_CODE = -32012


def tables(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


def count(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        con.close()


def audit_entries(path: Path) -> list[dict[str, Any]]:
    """The entries about calls (not the evidence entries: pins taken, chain checkpoints)."""
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in entries if e.get("action") not in ("pinned", "checkpoint")]


def session_env(runtime: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    # Pins (and the audit log's fallback) in the run's own state directory, never the caller's.
    env["XDG_STATE_HOME"] = str(runtime.parent / "state")
    return env


async def run_elicitation_session(r: Any, sentinel: Path, server: Path, tmp: Path, state: dict,
                                  make_db: Callable[[Path], None]) -> None:
    """A client whose elicitation callback answers Sentinel's approval request."""
    db = tmp / "elicit.db"
    make_db(db)
    audit = tmp / "elicit-audit.log"
    runtime = tmp / "run-elicit"
    runtime.mkdir(mode=0o700)
    seen: list[types.ElicitRequestParams] = []
    answers = ["decline", "approve"]

    async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        seen.append(params)
        answer = answers.pop(0) if answers else "decline"
        if answer == "decline":
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"decision": "approve"})

    params = StdioServerParameters(
        command=str(sentinel),
        args=["--no-color", "--audit-log", str(audit), "--", str(server), "--db-path", str(db)],
        cwd=str(tmp),
        env=session_env(runtime),
    )
    with open(tmp / "elicit-sentinel.stderr", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=REQUEST_TIMEOUT_S),
                                     elicitation_callback=on_elicit) as session:
                await session.initialize()
                state["step"] = "approval (elicitation): declined DROP TABLE"
                label = "elicitation: a declined DROP TABLE users is refused with -32012 and the table stays"
                try:
                    res = await session.call_tool("write_query", {"query": "DROP TABLE users"})
                    r.check(label, False, f"not refused: isError={res.isError}")
                except McpError as e:
                    r.check(label, e.error.code == APPROVAL_CODE and e.error.message.startswith("Not approved")
                            and "users" in tables(db), f"code={e.error.code} message={e.error.message!r}")
                msg = seen[0].message if seen else ""
                r.check("elicitation: the request shows the tool, the rule and the whole statement",
                        "write_query" in msg and "sql.destructive" in msg and "DROP TABLE users" in msg, msg)
                state["step"] = "approval (elicitation): approved DROP TABLE"
                label = "elicitation: an approved DROP TABLE users reaches the server and drops the table"
                try:
                    res = await session.call_tool("write_query", {"query": "DROP TABLE users"})
                    r.check(label, not res.isError and "users" not in tables(db), f"isError={res.isError} tables={tables(db)}")
                except McpError as e:
                    r.check(label, False, f"code={e.error.code} message={e.error.message!r}")
                state["step"] = "approval (elicitation): session still usable"
                res = await session.call_tool("list_tables", {})
                r.check("elicitation: the session goes on after the approvals", not res.isError, res)
    entries = audit_entries(audit)
    got = [(e.get("action"), (e.get("approval") or {}).get("answer")) for e in entries]
    r.check("elicitation: the audit log holds held/denied then held/approved, answered by the client",
            got == [("held", None), ("denied", "deny"), ("held", None), ("approved", "approve")]
            and all((e.get("approval") or {}).get("channel") == "client" for e in entries), got)


async def run_local_session(r: Any, sentinel: Path, server: Path, tmp: Path, state: dict,
                            make_db: Callable[[Path], None]) -> None:
    """A client without elicitation; a person on this host approves with `sentinel approvals`."""
    db = tmp / "local.db"
    make_db(db)
    before = count(db)
    audit = tmp / "local-audit.log"
    runtime = tmp / "run-local"
    runtime.mkdir(mode=0o700)
    env = session_env(runtime)
    watch_out = open(tmp / "watch.out", "w")
    watch = subprocess.Popen([str(sentinel), "approvals", "watch"], stdin=subprocess.PIPE,
                             stdout=watch_out, stderr=subprocess.STDOUT, env=env, cwd=str(tmp))
    try:
        marker = runtime / "mcp-sentinel" / f"watch-{watch.pid}.sock"
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline and watch.poll() is None:
            time.sleep(0.05)
        r.check("local: `sentinel approvals watch` is running and has its marker", marker.exists(),
                (tmp / "watch.out").read_text())

        params = StdioServerParameters(
            command=str(sentinel),
            args=["--no-color", "--audit-log", str(audit), "--", str(server), "--db-path", str(db)],
            cwd=str(tmp),
            env=env,
        )
        approved: dict[str, Any] = {}

        def approve_when_listed() -> None:
            """The second process: find the held call in the list, then approve it."""
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                out = subprocess.run([str(sentinel), "approvals", "list", "--json"], env=env,
                                     capture_output=True, text=True, timeout=10)
                held = json.loads(out.stdout or "[]") if out.returncode == 0 else []
                for h in held:
                    if h.get("tool") == "write_query":
                        approved["listed"] = h
                        res = subprocess.run([str(sentinel), "approvals", "approve", h["id"]], env=env,
                                             capture_output=True, text=True, timeout=10)
                        approved["rc"] = res.returncode
                        approved["out"] = res.stdout + res.stderr
                        return
                time.sleep(0.1)

        with open(tmp / "local-sentinel.stderr", "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=REQUEST_TIMEOUT_S)) as session:
                    await session.initialize()
                    state["step"] = "approval (local): DELETE FROM users held"
                    result: dict[str, Any] = {}

                    async def call() -> None:
                        try:
                            result["res"] = await session.call_tool("write_query", {"query": "DELETE FROM users"})
                        except McpError as e:
                            result["err"] = e

                    async with anyio.create_task_group() as tg:
                        tg.start_soon(call)
                        # Other traffic flows while the call is held.
                        await anyio.sleep(0.3)
                        res = await session.call_tool("read_query", {"query": "SELECT count(*) FROM users"})
                        result["meanwhile"] = not res.isError
                        await anyio.to_thread.run_sync(approve_when_listed)
                    listed = approved.get("listed") or {}
                    r.check("local: `approvals list --json` shows the held call with id, server, tool, rule, arguments, since",
                            all(k in listed for k in ("id", "server", "tool", "rule", "arguments", "since"))
                            and listed.get("arguments") == {"query": "DELETE FROM users"}
                            and listed.get("rule") == "sql.destructive", listed)
                    r.check("local: `approvals approve ID` succeeds", approved.get("rc") == 0, approved)
                    r.check("local: a bounded read is answered while the DELETE is held", result.get("meanwhile") is True, result)
                    r.check("local: the approved DELETE FROM users reached the server (0 rows left)",
                            "res" in result and not result["res"].isError and count(db) == 0,
                            f"{result} count={count(db)} (was {before})")
    finally:
        watch.send_signal(signal.SIGTERM)
        try:
            rc = watch.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watch.kill()
            rc = None
        watch_out.close()
    r.check("local: `approvals watch` ends on SIGTERM with status 0 and removes its marker",
            rc == 0 and not marker.exists(), f"rc={rc} marker={marker.exists()}")
    shown = (tmp / "watch.out").read_text()
    r.check("local: `approvals watch` printed the request as a line (no terminal)",
            "DELETE FROM users" in shown and "write_query" in shown, shown[:600])
    entries = [e for e in audit_entries(audit) if e.get("action") in ("held", "approved", "denied")]
    got = [(e.get("action"), (e.get("approval") or {}).get("channel")) for e in entries]
    by = (entries[-1].get("approval") or {}).get("by", "") if entries else ""
    r.check("local: the audit log holds held then approved on the local channel, by this user",
            got == [("held", "local"), ("approved", "local")] and by.startswith("user "), f"{got} by={by!r}")
