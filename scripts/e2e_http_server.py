#!/usr/bin/env python3
"""A tiny MCP server over HTTP (the official Python SDK's FastMCP) for the `--upstream` e2e.

    .venv-e2e/bin/python scripts/e2e_http_server.py --transport streamable-http|sse --port N [--log FILE]

Streamable HTTP serves /mcp, the legacy HTTP+SSE transport /sse (POST there is 405, which is
what makes `sentinel --upstream URL --transport auto` fall back). Tools: `progress` reports
progress `steps` times then answers; `query` answers `ran: <sql>` (and appends the SQL to
--log, so the e2e can tell that a call Sentinel blocked never arrived); `confirm` asks the
client through elicitation and answers what it said.
"""

from __future__ import annotations

import argparse

import anyio
from pydantic import BaseModel

from mcp.server.fastmcp import Context, FastMCP


class Answer(BaseModel):
    ok: bool


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transport", choices=["streamable-http", "sse"], required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log")
    a = ap.parse_args()
    mcp = FastMCP("e2e-http", host="127.0.0.1", port=a.port, log_level="WARNING")

    @mcp.tool()
    async def progress(ctx: Context, steps: int = 3) -> str:
        """Reports progress `steps` times, then answers."""
        for i in range(1, steps + 1):
            await ctx.report_progress(i, steps, f"step {i}")
            await anyio.sleep(0.05)
        return f"done {steps}"

    @mcp.tool()
    def query(sql: str) -> str:
        """Runs SQL (pretends to)."""
        if a.log:
            with open(a.log, "a") as f:
                f.write(sql + "\n")
        return f"ran: {sql}"

    @mcp.tool()
    async def confirm(question: str, ctx: Context) -> str:
        """Asks the user through elicitation."""
        r = await ctx.elicit(question, Answer)
        return f"answer: {r.action} {getattr(r, 'data', None)}"

    mcp.run(transport=a.transport)


if __name__ == "__main__":
    main()
