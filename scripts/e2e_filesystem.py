"""End-to-end server-side inspection (issue 11), run by scripts/e2e_client.py.

The official MCP Python SDK client with the real ``@modelcontextprotocol/server-filesystem``
(npm) behind sentinel, under a policy that enforces pins and caps ``read_text_file`` at
1 MiB:

* first session (an older release of the server): its 14 tools are pinned at first sight,
  its real descriptions raise no finding, a small read passes and a 3 MiB read is replaced
  by an error result (the TypeScript SDK writes the id after the result, so the answer is
  dropped unheld and answered for);
* second session, the same ``--server-name`` launched from a newer release whose definitions
  differ (annotations added, descriptions reworded): the changed tools are hidden, a call to
  one is refused with ``server.pins``, ``sentinel pins diff`` names the changed fields;
* ``sentinel pins accept`` trusts the new release, and a third session lists and reads again.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError

import e2e_approvals

REQUEST_TIMEOUT_S = 40
BLOCK_CODE = -32010

POLICY = """\
version: 1
profiles:
  default:
    server:
      pins: enforce
      responses:
        - tools: [read_text_file, read_file]
          max_bytes: 1MiB
          action: block
    rules: []
"""


def text_of(res: Any) -> str:
    return "".join(getattr(c, "text", "") for c in res.content)


def env_of(tmp: Path) -> dict[str, str]:
    runtime = tmp / "run-fs"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = e2e_approvals.session_env(runtime)
    env["XDG_STATE_HOME"] = str(tmp / "state-fs")
    return env


def pins(sentinel: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(sentinel), "pins", *args], env=env_of(tmp), capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


async def session(sentinel: Path, server_js: Path, root: Path, tmp: Path, name: str, body) -> Any:
    policy = tmp / "fs-policy.yaml"
    policy.write_text(POLICY)
    params = StdioServerParameters(
        command=str(sentinel),
        args=["--no-color", "--audit-log", str(tmp / "fs-audit.log"), "--policy", str(policy),
              "--server-name", "filesystem", "--", "node", str(server_js), str(root)],
        cwd=str(tmp),
        env=env_of(tmp),
    )
    with open(tmp / f"fs-{name}.stderr", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=REQUEST_TIMEOUT_S)) as s:
                await s.initialize()
                return await body(s)


def audit(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "fs-audit.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def run_filesystem_sessions(r: Any, sentinel: Path, old_js: Path, new_js: Path, tmp: Path,
                                  state: dict) -> None:
    root = tmp / "fs-root"
    root.mkdir()
    (root / "small.txt").write_text("hello from the filesystem\n")
    (root / "big.txt").write_text("0123456789abcdef" * (3 * 65536))  # 3 MiB

    async def first(s: ClientSession) -> None:
        state["step"] = "filesystem: list (old release)"
        tools = [t.name for t in (await s.list_tools()).tools]
        r.check("filesystem: the older release lists its 14 tools through sentinel", len(tools) == 14, tools)
        state["step"] = "filesystem: small read"
        res = await s.call_tool("read_text_file", {"path": str(root / "small.txt")})
        r.check("filesystem: a small read_text_file passes", not res.isError and "hello from the filesystem" in text_of(res),
                text_of(res)[:200])
        state["step"] = "filesystem: 3 MiB read"
        res = await s.call_tool("read_text_file", {"path": str(root / "big.txt")})
        txt = text_of(res)
        r.check("filesystem: a 3 MiB read_text_file is replaced by an error result (cap 1 MiB)",
                res.isError and "withheld" in txt and "0123456789abcdef" not in txt and len(txt) < 2000, txt[:300])
        state["step"] = "filesystem: after the cap"
        res = await s.call_tool("list_allowed_directories", {})
        r.check("filesystem: the session goes on after the capped read", not res.isError, text_of(res)[:200])

    await session(sentinel, old_js, root, tmp, "first", first)
    entries = audit(tmp)
    pinned = [e for e in entries if e.get("action") == "pinned"]
    r.check("filesystem: its tools are pinned at first sight (one `pinned` entry naming 14 tools)",
            len(pinned) == 1 and "pinned 14 tool definitions of filesystem" in pinned[0].get("explanation", ""),
            [e.get("explanation") for e in pinned])
    findings = [e for e in entries if e.get("rule") == "server.descriptions"]
    r.check("filesystem: its real descriptions raise no description finding", not findings,
            [(e.get("tool"), e.get("explanation")) for e in findings])
    capped = [e for e in entries if e.get("action") == "capped"]
    r.check("filesystem: the capped read is audited with its size", len(capped) == 1
            and capped[0].get("tool") == "read_text_file" and (capped[0].get("details") or {}).get("bytes", 0) > 1 << 20,
            capped)

    async def second(s: ClientSession) -> list[str]:
        state["step"] = "filesystem: list (new release)"
        tools = [t.name for t in (await s.list_tools()).tools]
        state["step"] = "filesystem: call a changed tool"
        try:
            res = await s.call_tool("read_text_file", {"path": str(root / "small.txt")})
            r.check("filesystem: a changed tool's call is refused with server.pins", False,
                    f"not refused: {text_of(res)[:200]}")
        except McpError as e:
            data = e.error.data if isinstance(e.error.data, dict) else {}
            r.check("filesystem: a changed tool's call is refused with server.pins",
                    e.error.code == BLOCK_CODE and data.get("rule") == "server.pins"
                    and "sentinel pins accept filesystem read_text_file" in data.get("hint", ""), data)
        return tools

    tools = await session(sentinel, new_js, root, tmp, "second", second)
    r.check("filesystem: the newer release's changed tools are hidden (read_text_file among them)",
            "read_text_file" not in tools and len(tools) < 14, tools)
    hidden = [e for e in audit(tmp) if e.get("action") == "hidden" and e.get("rule") == "server.pins"]
    r.check("filesystem: each hidden tool is audited with what changed",
            len(hidden) == 14 - len(tools) and any("annotations" in e.get("explanation", "") for e in hidden),
            [(e.get("tool"), e.get("explanation")) for e in hidden][:3])
    diff = pins(sentinel, tmp, "diff", "filesystem", "read_text_file")
    r.check("filesystem: `sentinel pins diff` shows the changed annotations", diff.returncode == 0
            and "annotations" in diff.stdout and "readOnlyHint" in diff.stdout, diff.stdout[-600:] + diff.stderr)
    accept = pins(sentinel, tmp, "accept", "filesystem")
    r.check("filesystem: `sentinel pins accept filesystem` trusts the new release", accept.returncode == 0,
            accept.stdout + accept.stderr)

    async def third(s: ClientSession) -> None:
        state["step"] = "filesystem: list after accept"
        tools = [t.name for t in (await s.list_tools()).tools]
        r.check("filesystem: after the accept all 14 tools are listed again", len(tools) == 14, tools)
        res = await s.call_tool("read_text_file", {"path": str(root / "small.txt")})
        r.check("filesystem: after the accept read_text_file works", not res.isError, text_of(res)[:200])

    await session(sentinel, new_js, root, tmp, "third", third)
    listing = pins(sentinel, tmp, "list", "--json")
    try:
        servers = json.loads(listing.stdout).get("servers")
    except (ValueError, AttributeError):
        servers = None
    r.check("filesystem: `sentinel pins list --json` shows the server", listing.returncode == 0
            and isinstance(servers, list) and any(s.get("server") == "filesystem" for s in servers),
            listing.stdout[:300] + listing.stderr)
