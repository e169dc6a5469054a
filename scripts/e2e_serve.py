#!/usr/bin/env python3
"""End-to-end test of `sentinel serve` (MCP over HTTP) with software nobody here wrote.

Run by scripts/e2e.sh (function e2e_serve) with the .venv-e2e interpreter, or by hand:

    .venv-e2e/bin/python scripts/e2e_serve.py --sentinel PATH --sqlite PATH --everything JS [--keep]

Steps, each under its own timeout, each a `sentinel serve --listen 127.0.0.1:0` of its own:

1. streamable: the official Python SDK's Streamable HTTP client against a FastMCP stdio
   server (scripts/e2e_serve_server.py): initialize, tools/list, progress in order (and for
   two concurrent calls, each its own), log messages in order, notifications/cancelled
   stopping a call at the server, a call the built-in policy blocks (sql.unbounded_read,
   audited with the session), elicitation and sampling relayed from the server to the client's
   callbacks, DELETE at exit ends the session and its server process (its id then gets 404).
2. legacy-sse: the same with the SDK's legacy HTTP+SSE client at /sse.
3. everything: @modelcontextprotocol/server-everything (stdio) behind serve: echo (and a 200 KB
   multi-byte one), get-sum, ping, resources, prompts, trigger-long-running-operation's
   progress in order; on the GET stream its tools/list_changed, its roots/list request (the
   client's answer then shown by get-roots-list) and a log message; its sampling request and
   14-field elicitation form relayed to the client's callbacks.
4. sqlite: mcp-server-sqlite behind serve: an unbounded read_query blocked, a LIMIT 5 one
   answered, a DROP TABLE sent to the client for approval (elicitation) and declined; over
   legacy SSE another DROP TABLE approved by the client and carried out.
5. tokens: --tokens: the client with the bearer token works (tenant in the audit log),
   without one or with a wrong one it gets 401 (both SDK clients), audited without the token.
6. resume: a relay cuts the call's POST event stream after its second progress; the SDK
   reconnects with GET + Last-Event-ID; the call still gets its answer, every progress once,
   and (failing while Sentinel reroutes a lost stream to the GET stream) in order.

Prints "ok - ..." / "FAIL - ..." per check, "PASS step" / "FAIL step" per step and a last
line "e2e-serve: N passed, M failed". Exits 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import anyio
import anyio.abc
import httpx
import mcp.types as types
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import McpError
from mcp.shared.version import SUPPORTED_PROTOCOL_VERSIONS
from e2e_common import Results, leaf_errors, short, text_of

HERE = Path(__file__).resolve().parent
STEP_TIMEOUT_S = 40
REQUEST_TIMEOUT_S = 15
START_TIMEOUT_S = 10
BLOCK_CODE = -32010
APPROVAL_CODE = -32012
TOKEN = "snt_e2e-serve-token-team-a"


# --------------------------------------------------------------------------- #
# Processes and the audit log
# --------------------------------------------------------------------------- #
def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def wait_dead(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        await anyio.sleep(0.05)
    return not alive(pid)


def audit_entries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    entries = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    return [e for e in entries if e.get("action") not in ("pinned", "checkpoint")]


# --------------------------------------------------------------------------- #
# sentinel serve
# --------------------------------------------------------------------------- #
LIVE: list["Serve"] = []


def on_sigterm(signum: int, frame: Any) -> None:
    """e2e.sh's `timeout` ends us with SIGTERM: end every sentinel serve (each ends its
    sessions' servers) rather than leave them running."""
    for serve in LIVE:
        if serve.proc.poll() is None:
            serve.proc.terminate()
    print("e2e-serve: terminated", file=sys.stderr, flush=True)
    os._exit(124)


class Serve:
    """One `sentinel serve --listen 127.0.0.1:0 ... -- CMD` and the address it printed."""

    def __init__(self, sentinel: Path, tmp: Path, name: str, server_cmd: list[str], extra: list[str] = ()) -> None:
        self.audit = tmp / f"{name}-audit.log"
        self.stderr_path = tmp / f"{name}-sentinel.stderr"
        runtime = tmp / f"{name}-run"
        runtime.mkdir(mode=0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
        # A runtime and state directory of its own: no approvals watch of the caller's takes
        # part, and pins stay in the temp dir.
        env["XDG_RUNTIME_DIR"] = str(runtime)
        env["XDG_STATE_HOME"] = str(tmp / f"{name}-state")
        argv = [str(sentinel), "serve", "--listen", "127.0.0.1:0", "--no-color",
                "--audit-log", str(self.audit), *extra, "--", *server_cmd]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, cwd=str(tmp), env=env)
        LIVE.append(self)
        self.lines: list[str] = []
        self.base: str | None = None
        found = threading.Event()

        def drain() -> None:
            with open(self.stderr_path, "w") as out:
                for raw in self.proc.stderr:  # type: ignore[union-attr]
                    line = raw.decode(errors="replace")
                    out.write(line)
                    out.flush()
                    self.lines.append(line)
                    m = re.search(r"listening on (https?://[^\s/]+)(/\S*)", line)
                    if m and self.base is None:
                        self.base = m.group(1)
                        self.endpoint = m.group(2)
                        found.set()
            found.set()

        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(START_TIMEOUT_S) or self.base is None:
            self.stop()
            raise RuntimeError(f"sentinel serve printed no 'listening on' line: {''.join(self.lines)!r}")

    @property
    def mcp_url(self) -> str:
        return self.base + self.endpoint

    @property
    def sse_url(self) -> str:
        return self.base + "/sse"

    def stderr(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@asynccontextmanager
async def streamable(url: str, headers: dict[str, str] | None = None, **callbacks: Any) -> AsyncIterator[tuple[ClientSession, Callable[[], str | None]]]:
    client = create_mcp_http_client(headers=headers)
    async with client:
        async with streamable_http_client(url, http_client=client) as (read, write, get_sid):
            async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=REQUEST_TIMEOUT_S),
                                     **callbacks) as session:
                yield session, get_sid


@asynccontextmanager
async def legacy(url: str, sid: list[str], headers: dict[str, str] | None = None, **callbacks: Any) -> AsyncIterator[tuple[ClientSession, Callable[[], str | None]]]:
    async with sse_client(url, headers=headers, on_session_created=sid.append) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=REQUEST_TIMEOUT_S),
                                 **callbacks) as session:
            yield session, lambda: sid[0] if sid else None


# --------------------------------------------------------------------------- #
# Steps 1 and 2: the FastMCP server over each transport
# --------------------------------------------------------------------------- #
class Callbacks:
    def __init__(self) -> None:
        self.elicited: list[Any] = []
        self.sampled: list[types.CreateMessageRequestParams] = []
        self.logs: list[types.LoggingMessageNotificationParams] = []

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    async def elicit(self, context: Any, params: Any) -> types.ElicitResult:
        self.elicited.append(params)
        if "What is your name?" in getattr(params, "message", ""):
            return types.ElicitResult(action="accept", content={"name": "Ada"})
        return types.ElicitResult(action="decline")

    async def sample(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.sampled.append(params)
        return types.CreateMessageResult(role="assistant", model="e2e-model",
                                         content=types.TextContent(type="text", text="a short summary"),
                                         stopReason="endTurn")


async def fastmcp_session(r: Results, p: str, open_session: Callable[..., Any], serve: Serve) -> None:
    cb = Callbacks()
    pid = None
    sid = None
    async with open_session(elicitation_callback=cb.elicit, sampling_callback=cb.sample,
                            logging_callback=cb.log) as (session, get_sid):
        init = await session.initialize()
        sid = get_sid()
        r.check(f"{p}: initialize answered by the FastMCP server, with a session id",
                init.serverInfo.name == "e2e-serve-server" and bool(sid),
                f"serverInfo={init.serverInfo} sid={sid!r}")
        r.check(f"{p}: protocol version negotiated ({init.protocolVersion})",
                init.protocolVersion in SUPPORTED_PROTOCOL_VERSIONS, init.protocolVersion)

        tools = {t.name for t in (await session.list_tools()).tools}
        want = {"whoami", "count", "chatty", "query", "ask_name", "summarize"}
        r.check(f"{p}: tools/list lists the server's tools", want <= tools, tools)

        pid = int(text_of(await session.call_tool("whoami", {})))
        r.check(f"{p}: the session's server process runs (pid {pid})", alive(pid), pid)

        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(prog: float, total: float | None, message: str | None) -> None:
            progress.append((prog, total, message))

        res = await session.call_tool("count", {"steps": 5}, progress_callback=on_progress)
        want_progress = [(float(i), 5.0, f"step {i}") for i in range(1, 6)]
        r.check(f"{p}: a tool's 5 progress notifications reach the progress callback in order, then its answer",
                progress == want_progress and text_of(res) == "counted to 5", f"progress={progress} result={res}")

        # Two calls at once on the one session: each one's progress reaches its own callback.
        runs: dict[int, list[float]] = {4: [], 6: []}
        answers: dict[int, str] = {}

        async def counted(steps: int) -> None:
            async def on_prog(prog: float, total: float | None, message: str | None) -> None:
                runs[steps].append(prog)
            answers[steps] = text_of(await session.call_tool("count", {"steps": steps}, progress_callback=on_prog))

        async with anyio.create_task_group() as tg:
            for steps in runs:
                tg.start_soon(counted, steps)
        r.check(f"{p}: two concurrent calls each get their own progress in order and their own answer",
                all(runs[n] == [float(i) for i in range(1, n + 1)] and answers.get(n) == f"counted to {n}" for n in runs),
                f"progress={runs} answers={answers}")

        # Log messages the server sends while a call runs reach the logging callback, in order.
        res = await session.call_tool("chatty", {})
        for _ in range(60):
            if len(cb.logs) >= 3:
                break
            await anyio.sleep(0.05)
        r.check(f"{p}: a tool's three log messages (notifications/message) reach the logging callback in order",
                text_of(res) == "said three things" and [x.data for x in cb.logs] == ["one", "two", "three"],
                f"result={res} logs={[x.data for x in cb.logs]}")

        # The client cancels a call (notifications/cancelled with the request's id): the server
        # stops it at once, and the session goes on. The SDK has no cancel API of its own, so
        # the id is the one ClientSession is about to use (its _request_id counter).
        ticks: list[float] = []

        async def on_tick(prog: float, total: float | None, message: str | None) -> None:
            ticks.append(prog)

        outcome: dict[str, Any] = {}

        async def long_count() -> None:
            try:
                outcome["result"] = await session.call_tool("count", {"steps": 200}, progress_callback=on_tick)
            except McpError as e:
                outcome["error"] = e.error

        t0 = time.monotonic()
        async with anyio.create_task_group() as tg:
            cancel_id = session._request_id  # noqa: SLF001 - see above
            tg.start_soon(long_count)
            for _ in range(100):
                if len(ticks) >= 2:
                    break
                await anyio.sleep(0.05)
            await session.send_notification(types.ClientNotification(types.CancelledNotification(
                params=types.CancelledNotificationParams(requestId=cancel_id, reason="e2e: changed my mind"))))
            with anyio.move_on_after(5):
                while not outcome:
                    await anyio.sleep(0.05)
            if not outcome:
                tg.cancel_scope.cancel()
        took = time.monotonic() - t0
        pid_after = text_of(await session.call_tool("whoami", {}))
        # FastMCP answers a cancelled request with an error ("Request cancelled"), which Sentinel
        # passes on, so the SDK's call ends at once.
        err = outcome.get("error")
        r.check(f"{p}: notifications/cancelled stops the call at the server (no 200 steps), the session goes on",
                len(ticks) < 200 and err is not None and "cancel" in err.message.lower() and took < 8
                and pid_after == str(pid),
                f"ticks={len(ticks)} outcome={outcome} took={took:.1f}s whoami={pid_after}")

        label = f"{p}: query(SELECT * FROM users) is blocked by the built-in policy (-32010, sql.unbounded_read)"
        try:
            res = await session.call_tool("query", {"sql": "SELECT * FROM users"})
            r.check(label, False, f"not refused: {res}")
        except McpError as e:
            data = e.error.data if isinstance(e.error.data, dict) else {}
            r.check(label, e.error.code == BLOCK_CODE and data.get("rule") == "sql.unbounded_read",
                    f"code={e.error.code} message={e.error.message!r} data={e.error.data!r}")

        res = await session.call_tool("query", {"sql": "SELECT * FROM users LIMIT 5"})
        r.check(f"{p}: query(... LIMIT 5) reaches the server", not res.isError
                and text_of(res) == "ran: SELECT * FROM users LIMIT 5", res)

        res = await session.call_tool("ask_name", {})
        r.check(f"{p}: the server's elicitation/create reaches the client's callback and its answer the server",
                text_of(res) == "hello Ada" and len(cb.elicited) == 1, f"result={res} elicited={cb.elicited}")

        res = await session.call_tool("summarize", {"text": "sentinel serve relays sampling"})
        asked = cb.sampled[0].messages[0].content if cb.sampled else None
        r.check(f"{p}: the server's sampling/createMessage reaches the client's callback and its answer the server",
                text_of(res) == "model e2e-model said: a short summary"
                and "sentinel serve relays sampling" in getattr(asked, "text", ""),
                f"result={res} sampled={cb.sampled}")

    # The context exit: DELETE (Streamable HTTP) or the stream closed (legacy SSE).
    r.check(f"{p}: leaving the client ends the session and its server process", await wait_dead(pid), pid)
    if p == "streamable":
        async with httpx.AsyncClient(timeout=5) as c:
            resp = await c.post(serve.mcp_url, headers={"Mcp-Session-Id": sid, "Accept": "application/json, text/event-stream",
                                                        "Content-Type": "application/json"},
                                json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"})
        r.check(f"{p}: the ended session's id gets 404", resp.status_code == 404, f"{resp.status_code} {resp.text}")

    entries = audit_entries(serve.audit)
    blocked = [e for e in entries if e.get("rule") == "sql.unbounded_read"]
    # Without --tokens there is no tenant, and the entries carry none (src/audit: tenant is None).
    r.check(f"{p}: the audit log has the blocked call (tool query) with the session's id, no tenant",
            len(blocked) == 1 and blocked[0].get("session") == sid and blocked[0].get("tool") == "query"
            and "tenant" not in blocked[0] and blocked[0].get("action") == "blocked",
            blocked or entries[-3:])


async def step_streamable(r: Results, a: Any, tmp: Path) -> None:
    serve = Serve(a.sentinel, tmp, "streamable", [sys.executable, str(HERE / "e2e_serve_server.py")])
    try:
        await fastmcp_session(r, "streamable", lambda **cb: streamable(serve.mcp_url, **cb), serve)
    finally:
        serve.stop()


async def step_legacy(r: Results, a: Any, tmp: Path) -> None:
    serve = Serve(a.sentinel, tmp, "legacy", [sys.executable, str(HERE / "e2e_serve_server.py")])
    try:
        sid: list[str] = []
        await fastmcp_session(r, "legacy-sse", lambda **cb: legacy(serve.sse_url, sid, **cb), serve)
    finally:
        serve.stop()


# --------------------------------------------------------------------------- #
# Step 3: @modelcontextprotocol/server-everything
# --------------------------------------------------------------------------- #
async def step_everything(r: Results, a: Any, tmp: Path) -> None:
    serve = Serve(a.sentinel, tmp, "everything", ["node", str(a.everything), "stdio"])
    p = "everything"
    try:
        cb = Callbacks()
        roots_asked: list[Any] = []
        logs: list[types.LoggingMessageNotificationParams] = []
        notifications: list[Any] = []
        elicited: list[Any] = []
        root = "file:///srv/e2e-root"

        async def list_roots(context: Any) -> types.ListRootsResult:
            roots_asked.append(context)
            return types.ListRootsResult(roots=[types.Root(uri=root, name="e2e root")])

        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            logs.append(params)

        async def on_message(m: Any) -> None:
            if isinstance(m, types.ServerNotification):
                notifications.append(m.root)

        async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
            elicited.append(params)
            return types.ElicitResult(action="accept", content={"name": "Ada Lovelace"})

        async with streamable(serve.mcp_url, sampling_callback=cb.sample, list_roots_callback=list_roots,
                              logging_callback=on_log, message_handler=on_message,
                              elicitation_callback=on_elicit) as (session, _):
            init = await session.initialize()
            r.check(f"{p}: initialize answered by {init.serverInfo.name} {init.serverInfo.version}",
                    "everything" in init.serverInfo.name.lower(), init.serverInfo)
            # After notifications/initialized, outside any request of the client's, the server
            # registers more tools (notifications/tools/list_changed), asks for the client's roots
            # (roots/list) and logs that it got them: all of it on the session's GET stream, and
            # the client's answer to roots/list a POST of its own.
            def got_all() -> bool:
                return bool(roots_asked) and any("Roots updated" in str(x.data) for x in logs) and \
                    any(isinstance(n, types.ToolListChangedNotification) for n in notifications)
            for _ in range(100):
                if got_all():
                    break
                await anyio.sleep(0.05)
            r.check(f"{p}: the GET stream carries the server's tools/list_changed, roots/list and a log message",
                    got_all(), f"roots_asked={len(roots_asked)} logs={[x.data for x in logs]} "
                    f"notifications={[type(n).__name__ for n in notifications]}")
            # Tools that depend on the client's capabilities are registered once the server
            # has notifications/initialized: list until they show.
            want = {"echo", "get-sum", "trigger-long-running-operation", "trigger-sampling-request",
                    "trigger-elicitation-request", "get-roots-list"}
            tools: set[str] = set()
            for _ in range(40):
                tools = {t.name for t in (await session.list_tools()).tools}
                if want <= tools:
                    break
                await anyio.sleep(0.1)
            r.check(f"{p}: tools/list has echo, get-sum, trigger-long-running-operation and the tools for sampling, elicitation, roots",
                    want <= tools, sorted(tools))

            res = await session.call_tool("echo", {"message": "hello through sentinel"})
            r.check(f"{p}: echo", text_of(res) == "Echo: hello through sentinel", res)

            big = "héllo wörld ✓ 日本語 🙂 " * 8000  # ~200 KB of multi-byte text, each way
            res = await session.call_tool("echo", {"message": big})
            r.check(f"{p}: echo of ~200 KB of multi-byte text comes back intact", text_of(res) == f"Echo: {big}",
                    f"len={len(text_of(res))}")

            await session.send_ping()
            resources = (await session.list_resources()).resources
            first = await session.read_resource(resources[0].uri) if resources else None
            r.check(f"{p}: ping, resources/list ({len(resources)}) and resources/read pass",
                    bool(resources) and first is not None and len(first.contents) >= 1, resources[:1])
            prompts = {pr.name for pr in (await session.list_prompts()).prompts}
            prompt = await session.get_prompt("simple-prompt") if "simple-prompt" in prompts else None
            r.check(f"{p}: prompts/list and prompts/get(simple-prompt) pass",
                    prompt is not None and len(prompt.messages) >= 1, sorted(prompts))

            res = await session.call_tool("get-sum", {"a": 2, "b": 40})
            r.check(f"{p}: get-sum(2, 40)", "42" in text_of(res) and not res.isError, res)

            progress: list[tuple[float, float | None]] = []

            async def on_progress(prog: float, total: float | None, message: str | None) -> None:
                progress.append((prog, total))

            res = await session.call_tool("trigger-long-running-operation", {"duration": 1, "steps": 4},
                                          progress_callback=on_progress)
            r.check(f"{p}: trigger-long-running-operation's 4 progress notifications arrive in order, then its answer",
                    progress == [(float(i), 4.0) for i in range(1, 5)] and "completed" in text_of(res),
                    f"progress={progress} result={res}")

            res = await session.call_tool("get-roots-list", {})
            r.check(f"{p}: get-roots-list shows the root the client answered roots/list with", root in text_of(res), res)

            res = await session.call_tool("trigger-elicitation-request", {})
            r.check(f"{p}: trigger-elicitation-request's elicitation/create (a 14-field form) reaches the client, its answer the server",
                    len(elicited) == 1 and "Ada Lovelace" in text_of(res)
                    and "check" in (getattr(elicited[0], "requestedSchema", None) or {}).get("properties", {}),
                    f"result={res}")

            res = await session.call_tool("trigger-sampling-request", {"prompt": "say hi", "maxTokens": 20})
            r.check(f"{p}: trigger-sampling-request's sampling/createMessage reaches the client and its answer the server",
                    "a short summary" in text_of(res) and len(cb.sampled) == 1, f"result={res}")
        r.check(f"{p}: no stray errors on sentinel's stderr", "panicked" not in serve.stderr(), serve.stderr())
    finally:
        serve.stop()


# --------------------------------------------------------------------------- #
# Step 4: mcp-server-sqlite
# --------------------------------------------------------------------------- #
def tables(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


async def step_sqlite(r: Results, a: Any, tmp: Path) -> None:
    db = tmp / "serve.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, secret TEXT)")
    con.executemany("INSERT INTO t(id, secret) VALUES (?, ?)", [(i, f"SECRET-{i:03d}") for i in range(1, 51)])
    con.commit()
    con.close()
    serve = Serve(a.sentinel, tmp, "sqlite", [str(a.sqlite), "--db-path", str(db)])
    p = "sqlite"
    try:
        asked: list[Any] = []

        async def decline(context: Any, params: Any) -> types.ElicitResult:
            asked.append(params)
            return types.ElicitResult(action="decline")

        async with streamable(serve.mcp_url, elicitation_callback=decline) as (session, get_sid):
            init = await session.initialize()
            sid = get_sid()
            r.check(f"{p}: initialize answered by {init.serverInfo.name}", "sqlite" in init.serverInfo.name, init.serverInfo)
            tools = {t.name for t in (await session.list_tools()).tools}
            r.check(f"{p}: tools/list has read_query and write_query", {"read_query", "write_query"} <= tools, tools)

            label = f"{p}: read_query(SELECT * FROM t) is blocked (-32010, sql.unbounded_read), no row leaks"
            try:
                res = await session.call_tool("read_query", {"query": "SELECT * FROM t"})
                r.check(label, False, f"not refused: {res}")
            except McpError as e:
                data = e.error.data if isinstance(e.error.data, dict) else {}
                r.check(label, e.error.code == BLOCK_CODE and data.get("rule") == "sql.unbounded_read"
                        and "SECRET-" not in json.dumps(e.error.model_dump()), e.error)

            res = await session.call_tool("read_query", {"query": "SELECT * FROM t LIMIT 5"})
            txt = text_of(res)
            r.check(f"{p}: read_query(SELECT * FROM t LIMIT 5) returns 5 rows",
                    not res.isError and txt.count("SECRET-") == 5, txt)

            label = f"{p}: DROP TABLE t goes to the client for approval (elicitation), declined: -32012, the table stays"
            try:
                res = await session.call_tool("write_query", {"query": "DROP TABLE t"})
                r.check(label, False, f"not refused: {res}")
            except McpError as e:
                msg = getattr(asked[0], "message", "") if asked else ""
                r.check(label, e.error.code == APPROVAL_CODE and "t" in tables(db) and "DROP TABLE t" in msg,
                        f"code={e.error.code} message={e.error.message!r} asked={msg!r}")
        # Over the legacy transport, a client that approves: the DROP reaches the server.
        approvals: list[Any] = []

        async def approve(context: Any, params: Any) -> types.ElicitResult:
            approvals.append(params)
            return types.ElicitResult(action="accept", content={"decision": "approve"})

        con = sqlite3.connect(db)
        con.execute("CREATE TABLE scratch(x)")
        con.commit()
        con.close()
        async with legacy(serve.sse_url, [], elicitation_callback=approve) as (session, _):
            await session.initialize()
            res = await session.call_tool("write_query", {"query": "DROP TABLE scratch"})
            r.check(f"{p}: over legacy SSE, DROP TABLE scratch approved by the client (elicitation) drops it",
                    not res.isError and len(approvals) == 1 and "scratch" not in tables(db) and "t" in tables(db),
                    f"result={res} tables={tables(db)}")

        entries = audit_entries(serve.audit)
        blocked = [e for e in entries if e.get("rule") == "sql.unbounded_read"]
        r.check(f"{p}: the audit log has the blocked read with the session's id",
                len(blocked) == 1 and blocked[0].get("session") == sid, blocked or entries[-3:])
        got = [(e.get("action"), (e.get("approval") or {}).get("answer")) for e in entries
               if e.get("rule") == "sql.destructive"]
        r.check(f"{p}: the audit log has held/denied (streamable) then held/approved (legacy SSE), answered by the client",
                got == [("held", None), ("denied", "deny"), ("held", None), ("approved", "approve")], got)
    finally:
        serve.stop()


# --------------------------------------------------------------------------- #
# Step 5: bearer tokens
# --------------------------------------------------------------------------- #
async def step_tokens(r: Results, a: Any, tmp: Path) -> None:
    tokens = tmp / "tokens.yaml"
    tokens.write_text("tokens:\n  - sha256: %s\n    tenant: team-a\n    profile: default\n"
                      % hashlib.sha256(TOKEN.encode()).hexdigest())
    serve = Serve(a.sentinel, tmp, "tokens", [sys.executable, str(HERE / "e2e_serve_server.py")],
                  ["--tokens", str(tokens)])
    p = "tokens"
    try:
        async with streamable(serve.mcp_url, headers={"Authorization": f"Bearer {TOKEN}"}) as (session, get_sid):
            await session.initialize()
            sid = get_sid()
            res = await session.call_tool("query", {"sql": "SELECT 1"})
            r.check(f"{p}: the client with the bearer token initializes and calls a tool", text_of(res) == "ran: SELECT 1", res)
            try:
                await session.call_tool("query", {"sql": "SELECT * FROM users"})
                r.check(f"{p}: an unbounded read is blocked for team-a too", False, "not refused")
            except McpError as e:
                r.check(f"{p}: an unbounded read is blocked for team-a too", e.error.code == BLOCK_CODE, e.error)

        for what, headers in (("without a token", None), ("with a wrong token", {"Authorization": "Bearer snt_wrong"})):
            label = f"{p}: the SDK client {what} cannot connect: 401"
            try:
                with anyio.fail_after(REQUEST_TIMEOUT_S):
                    async with streamable(serve.mcp_url, headers=headers) as (session, _):
                        await session.initialize()
                r.check(label, False, "initialize succeeded")
            except BaseException as e:  # noqa: BLE001 - whatever the SDK raises, it must say 401
                leaves = leaf_errors(e)
                statuses = [getattr(getattr(x, "response", None), "status_code", None) for x in leaves]
                r.check(label, 401 in statuses or any("401" in str(x) for x in leaves),
                        [f"{type(x).__name__}: {x}" for x in leaves])
            async with httpx.AsyncClient(timeout=5) as c:
                resp = await c.post(serve.mcp_url, headers={**(headers or {}), "Accept": "application/json, text/event-stream"},
                                    json={"jsonrpc": "2.0", "id": 0, "method": "initialize",
                                          "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                                     "clientInfo": {"name": "raw", "version": "0"}}})
            r.check(f"{p}: {what}: 401 with WWW-Authenticate: Bearer",
                    resp.status_code == 401 and resp.headers.get("www-authenticate", "").startswith("Bearer"),
                    f"{resp.status_code} {dict(resp.headers)}")

        label = f"{p}: the SDK's legacy SSE client without a token cannot connect: 401"
        try:
            with anyio.fail_after(REQUEST_TIMEOUT_S):
                async with legacy(serve.sse_url, []) as (session, _):
                    await session.initialize()
            r.check(label, False, "initialize succeeded")
        except BaseException as e:  # noqa: BLE001
            leaves = leaf_errors(e)
            statuses = [getattr(getattr(x, "response", None), "status_code", None) for x in leaves]
            r.check(label, 401 in statuses or any("401" in str(x) for x in leaves),
                    [f"{type(x).__name__}: {x}" for x in leaves])
        async with legacy(serve.sse_url, [], headers={"Authorization": f"Bearer {TOKEN}"}) as (session, _):
            await session.initialize()
            res = await session.call_tool("query", {"sql": "SELECT 2"})
            r.check(f"{p}: the legacy SSE client with the token works", text_of(res) == "ran: SELECT 2", res)

        entries = audit_entries(serve.audit)
        blocked = [e for e in entries if e.get("rule") == "sql.unbounded_read"]
        r.check(f"{p}: the audit log has the blocked call with session and tenant team-a",
                len(blocked) == 1 and blocked[0].get("session") == sid and blocked[0].get("tenant") == "team-a",
                blocked or entries[-3:])
        unauth = [e for e in entries if e.get("rule") == "unauthenticated"]
        log = serve.audit.read_text()
        r.check(f"{p}: the refused connections are audited (rule unauthenticated), no token in the log",
                len(unauth) >= 3 and TOKEN not in log and "snt_wrong" not in log, unauth)
    finally:
        serve.stop()


# --------------------------------------------------------------------------- #
# Step 6: a lost stream, resumed by the SDK with Last-Event-ID
# --------------------------------------------------------------------------- #
class CuttingProxy:
    """A TCP relay in front of sentinel serve that, once armed, cuts the connection carrying
    the server's answer stream as soon as `marker` has passed through it (once)."""

    def __init__(self, upstream_port: int, marker: bytes) -> None:
        self.upstream_port = upstream_port
        self.marker = marker
        self.armed = False
        self.cuts = 0
        self.requests: list[bytes] = []

    async def serve(self, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        task_status.started()
        await listener.serve(self.handle)

    async def handle(self, client: Any) -> None:
        async with client, await anyio.connect_tcp("127.0.0.1", self.upstream_port) as upstream:
            async with anyio.create_task_group() as tg:
                async def up() -> None:
                    try:
                        async for chunk in client:
                            self.requests.append(chunk)
                            await upstream.send(chunk)
                    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
                    tg.cancel_scope.cancel()

                async def down() -> None:
                    seen = b""
                    try:
                        async for chunk in upstream:
                            await client.send(chunk)
                            seen = (seen + chunk)[-4096:]
                            if self.armed and self.marker in seen:
                                self.armed = False
                                self.cuts += 1
                                break
                    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(up)
                tg.start_soon(down)


async def step_resume(r: Results, a: Any, tmp: Path) -> None:
    serve = Serve(a.sentinel, tmp, "resume", [sys.executable, str(HERE / "e2e_serve_server.py")])
    p = "resume"
    try:
        port = int(serve.base.rsplit(":", 1)[1])
        proxy = CuttingProxy(port, b'"progress":2.0')
        async with anyio.create_task_group() as ptg:
            await ptg.start(proxy.serve)
            url = f"http://127.0.0.1:{proxy.port}{serve.endpoint}"
            async with streamable(url) as (session, _):
                await session.initialize()
                ticks: list[float] = []

                async def on_tick(prog: float, total: float | None, message: str | None) -> None:
                    ticks.append(prog)

                proxy.armed = True
                # 10 steps 0.3 s apart: the SDK waits 1 s before it reconnects, well before the end.
                res = await session.call_tool("count", {"steps": 10, "delay": 0.3}, progress_callback=on_tick)
                resumed = [c for c in proxy.requests if c.startswith(b"GET ") and b"last-event-id" in c.lower()]
                r.check(f"{p}: the answer stream cut after progress 2, the SDK's call still gets its answer",
                        proxy.cuts == 1 and text_of(res) == "counted to 10", f"cuts={proxy.cuts} result={res}")
                r.check(f"{p}: the SDK resumed with GET + Last-Event-ID, and every progress arrived exactly once",
                        bool(resumed) and sorted(ticks) == [float(i) for i in range(1, 11)],
                        f"resumed={len(resumed)} ticks={ticks}")
                # KNOWN SENTINEL BUG (reported with e2e_serve): once the POST stream is lost,
                # Sentinel sends the call's next messages on the standalone GET stream and
                # replays the lost one on the resumed stream, so progress 3 arrives after 4 and 5
                # (the spec: progress MUST increase with each notification; GET stream messages
                # SHOULD be unrelated to a running request; no replay of what went on another
                # stream). The answer then also arrives on the GET stream.
                r.check(f"{p}: after the resumption the progress still arrives in order (1..10)",
                        ticks == [float(i) for i in range(1, 11)], f"ticks={ticks}")
                res = await session.call_tool("whoami", {})
                r.check(f"{p}: the session goes on after the resumption", text_of(res).isdigit(), res)
            ptg.cancel_scope.cancel()
    finally:
        serve.stop()


# --------------------------------------------------------------------------- #
STEPS: list[tuple[str, Callable[[Results, Any, Path], Awaitable[None]]]] = [
    ("streamable", step_streamable),
    ("legacy-sse", step_legacy),
    ("everything", step_everything),
    ("sqlite", step_sqlite),
    ("tokens", step_tokens),
    ("resume", step_resume),
]


async def run(a: Any, tmp: Path) -> Results:
    r = Results()
    for name, step in STEPS:
        if a.only and name not in a.only:
            continue
        failed_before = r.failed
        t0 = time.monotonic()
        try:
            with anyio.fail_after(STEP_TIMEOUT_S):
                await step(r, a, tmp)
        except BaseException as e:  # noqa: BLE001 - a step that dies is a failed check
            if isinstance(e, KeyboardInterrupt):
                raise
            timed_out = isinstance(e, TimeoutError)
            detail = f"timed out after {STEP_TIMEOUT_S}s" if timed_out else \
                "; ".join(f"{type(x).__name__}: {x}" for x in leaf_errors(e))
            r.check(f"{name}: the step ran to its end", False, detail)
            if not timed_out:
                traceback.print_exception(e, file=sys.stderr)
        verdict = "PASS" if r.failed == failed_before else "FAIL"
        print(f"{verdict} {name} ({time.monotonic() - t0:.1f}s)", flush=True)
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentinel", type=Path, required=True)
    ap.add_argument("--sqlite", type=Path, required=True, help="the mcp-server-sqlite executable")
    ap.add_argument("--everything", type=Path, required=True, help="server-everything's dist/index.js")
    ap.add_argument("--only", action="append", choices=[n for n, _ in STEPS], help="run only this step (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (audit logs, sentinel stderr)")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    a.sentinel, a.sqlite, a.everything = (x.resolve() for x in (a.sentinel, a.sqlite, a.everything))
    tmp = Path(tempfile.mkdtemp(prefix="sentinel-e2e-serve-"))
    try:
        r = anyio.run(run, a, tmp)
    finally:
        if a.keep:
            print(f"e2e-serve: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"e2e-serve: {r.passed} passed, {r.failed} failed", flush=True)
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
