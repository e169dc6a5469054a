#!/usr/bin/env python3
"""End-to-end test of `sentinel --upstream URL`: the official MCP Python SDK stdio client talks
through Sentinel to MCP servers over HTTP.

Run by scripts/e2e.sh (also alone: `E2E_ONLY=upstream bash scripts/e2e.sh`), or by hand:

    .venv-e2e/bin/python scripts/e2e_upstream.py --sentinel target/release/sentinel \
        [--everything PATH/TO/server-everything/dist/index.js]

Servers: scripts/e2e_http_server.py (FastMCP) with Streamable HTTP and with the legacy
HTTP+SSE transport (reached by `--transport auto`'s fallback and by `--transport sse`), and
@modelcontextprotocol/server-everything in its streamableHttp and sse modes. Checks: tools
listed, progress notifications arriving in order before the answer, a call the built-in
policy refuses answered by Sentinel and never reaching the server, an elicitation from the
server answered by the client, the header from SENTINEL_UPSTREAM_HEADERS never on stderr.
Prints "ok - ..." / "FAIL - ..." per check and "e2e: N passed, M failed" last.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError
from e2e_common import Results, text_of

HERE = Path(__file__).resolve().parent
STEP_TIMEOUT_S = 40
APPROVAL_CODE = -32012
SECRET = "Bearer e2e-s3cret-header-value"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, limit: float = 30) -> bool:
    end = time.time() + limit
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def start(cmd: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen | None:
    proc = subprocess.Popen(
        cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    if wait_port(port, proc):
        return proc
    stop(proc)
    return None


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def sentinel_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    runtime = tmp / "xdg-runtime"
    runtime.mkdir(exist_ok=True, mode=0o700)
    env.update(
        XDG_RUNTIME_DIR=str(runtime),
        XDG_STATE_HOME=str(tmp / "xdg-state"),
        SENTINEL_UPSTREAM_HEADERS=f"Authorization: {SECRET}",
        NO_COLOR="1",
    )
    return env


async def through_sentinel(
    r: Results, label: str, sentinel: Path, url: str, extra: list[str], tmp: Path, body, elicit=None
) -> None:
    errlog = tmp / f"sentinel-{label.replace(' ', '_')}.stderr"
    params = StdioServerParameters(
        command=str(sentinel),
        args=["--upstream", url, *extra, "--audit-log", str(tmp / "audit.log")],
        env=sentinel_env(tmp),
    )
    try:
        with anyio.fail_after(STEP_TIMEOUT_S), open(errlog, "w") as err:
            async with stdio_client(params, errlog=err) as (read, write):
                async with ClientSession(read, write, elicitation_callback=elicit) as session:
                    init = await session.initialize()
                    r.check(f"{label}: initialize", init.serverInfo is not None, init)
                    await body(session)
    except BaseException as e:  # noqa: BLE001 - every failure is a FAIL line, not a crash
        if isinstance(e, KeyboardInterrupt):
            raise
        r.check(f"{label}: session ran to its end", False, repr(e))
    stderr = errlog.read_text(errors="replace") if errlog.exists() else ""
    r.check(f"{label}: header value never on stderr", "s3cret" not in stderr, stderr[-300:])


async def progress_in_order(r: Results, label: str, session: ClientSession, tool: str, args: dict, want: int) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    res = await session.call_tool(tool, args, progress_callback=on_progress)
    r.check(
        f"{label}: {tool} streams {want} progress notifications in order, then answers",
        len(seen) >= want and seen == sorted(seen) and not res.isError,
        f"progress {seen}, result {text_of(res)[:200]}",
    )


async def blocked(r: Results, label: str, session: ClientSession, tool: str, args: dict) -> None:
    try:
        res = await session.call_tool(tool, args)
        r.check(f"{label}: {tool} DROP TABLE refused by Sentinel", False, text_of(res))
    except McpError as e:
        r.check(f"{label}: {tool} DROP TABLE refused by Sentinel", e.error.code == APPROVAL_CODE, e.error)


async def fastmcp_checks(r: Results, label: str, session: ClientSession, sql_log: Path) -> None:
    tools = {t.name for t in (await session.list_tools()).tools}
    r.check(f"{label}: tools listed", {"progress", "query", "confirm"} <= tools, tools)
    await progress_in_order(r, label, session, "progress", {"steps": 4}, 4)
    await blocked(r, label, session, "query", {"sql": "DROP TABLE users"})
    res = await session.call_tool("query", {"sql": "SELECT name FROM users LIMIT 3"})
    r.check(f"{label}: an allowed query answers", text_of(res) == "ran: SELECT name FROM users LIMIT 3", text_of(res))
    logged = sql_log.read_text() if sql_log.exists() else ""
    r.check(f"{label}: the refused call never reached the server", "DROP" not in logged and "SELECT" in logged, logged)


async def fastmcp(r: Results, sentinel: Path, tmp: Path) -> None:
    for transport, path, runs in (
        ("streamable-http", "/mcp", [("fastmcp streamable-http", [])]),
        ("sse", "/sse", [("fastmcp sse via auto", []), ("fastmcp sse forced", ["--transport", "sse"])]),
    ):
        port = free_port()
        sql_log = tmp / f"sql-{transport}.log"
        proc = start(
            [sys.executable, str(HERE / "e2e_http_server.py"), "--transport", transport,
             "--port", str(port), "--log", str(sql_log)],
            port,
        )
        if not r.check(f"fastmcp {transport} server started", proc is not None):
            continue
        try:
            url = f"http://127.0.0.1:{port}{path}"
            for label, extra in runs:
                sql_log.unlink(missing_ok=True)
                await through_sentinel(
                    r, label, sentinel, url, extra, tmp,
                    lambda s, label=label: fastmcp_checks(r, label, s, sql_log),
                )
            if transport == "streamable-http":
                # The server asks the client (elicitation) in the middle of a call: the answer is
                # POSTed while the call's own stream is still open.
                async def elicit(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
                    return types.ElicitResult(action="accept", content={"ok": True})

                async def ask(s: ClientSession) -> None:
                    res = await s.call_tool("confirm", {"question": "Proceed?"})
                    r.check("fastmcp elicitation: the server's question answered by the client",
                            "accept" in text_of(res) and "ok=True" in text_of(res), text_of(res))

                await through_sentinel(r, "fastmcp elicitation", sentinel, url, [], tmp, ask, elicit)
        finally:
            stop(proc)


async def everything_checks(r: Results, label: str, session: ClientSession) -> None:
    tools = {t.name for t in (await session.list_tools()).tools}
    r.check(f"{label}: tools listed", "echo" in tools, sorted(tools))
    res = await session.call_tool("echo", {"message": "hello upstream"})
    r.check(f"{label}: echo", "hello upstream" in text_of(res), text_of(res))
    add = "get-sum" if "get-sum" in tools else "add"
    res = await session.call_tool(add, {"a": 2, "b": 40})
    r.check(f"{label}: {add}", "42" in text_of(res), text_of(res))
    long_op = next((t for t in ("trigger-long-running-operation", "longRunningOperation") if t in tools), None)
    if r.check(f"{label}: a long-running operation tool exists", long_op is not None, sorted(tools)):
        await progress_in_order(r, label, session, long_op, {"duration": 1, "steps": 3}, 3)


async def everything(r: Results, sentinel: Path, tmp: Path, index_js: Path) -> None:
    for mode, path in (("streamableHttp", "/mcp"), ("sse", "/sse")):
        port = free_port()
        env = dict(os.environ, PORT=str(port))
        proc = start(["node", str(index_js), mode], port, env)
        if not r.check(f"server-everything {mode} started", proc is not None):
            continue
        try:
            label = f"server-everything {mode}"
            await through_sentinel(
                r, label, sentinel, f"http://127.0.0.1:{port}{path}", [], tmp,
                lambda s, label=label: everything_checks(r, label, s),
            )
        finally:
            stop(proc)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentinel", default="target/release/sentinel")
    ap.add_argument("--everything", help="server-everything's dist/index.js")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    r = Results()
    tmp = Path(tempfile.mkdtemp(prefix="sentinel-e2e-upstream-"))
    sentinel = Path(a.sentinel).resolve()

    async def go() -> None:
        await fastmcp(r, sentinel, tmp)
        if a.everything:
            await everything(r, sentinel, tmp, Path(a.everything))

    anyio.run(go)
    if a.keep:
        print(f"e2e: kept {tmp}", flush=True)
    print(f"e2e: {r.passed} passed, {r.failed} failed", flush=True)
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
