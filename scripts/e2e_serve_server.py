#!/usr/bin/env python3
"""A small FastMCP stdio server (the official MCP Python SDK's) for scripts/e2e_serve.py.

`sentinel serve` starts one of these per MCP session. Its tools exercise what the HTTP
transports must carry between the client and the server:

* ``whoami``   the server's pid (so the client can check the process ends with its session)
* ``count``    reports progress ``steps`` times (ctx.report_progress), then answers
* ``chatty``   logs three messages (ctx.info) while it runs
* ``query``    takes ``sql`` (the built-in policy reads it as SQL; unbounded reads never arrive)
* ``ask_name`` asks the client for a name (ctx.elicit: an elicitation/create request)
* ``summarize`` asks the client's model (sampling/createMessage) and returns its text

"""

from __future__ import annotations

import os

import anyio
from mcp.server.fastmcp import Context, FastMCP
from mcp.types import SamplingMessage, TextContent
from pydantic import BaseModel

mcp = FastMCP("e2e-serve-server", log_level="WARNING")


class Name(BaseModel):
    name: str


@mcp.tool()
def whoami() -> str:
    """The pid of this server process."""
    return str(os.getpid())


@mcp.tool()
async def count(steps: int, ctx: Context, delay: float = 0.05) -> str:
    """Counts to `steps`, reporting progress at each step, `delay` seconds apart."""
    for i in range(1, steps + 1):
        await ctx.report_progress(progress=i, total=steps, message=f"step {i}")
        await anyio.sleep(delay)
    return f"counted to {steps}"


@mcp.tool()
async def chatty(ctx: Context) -> str:
    """Logs three messages (notifications/message) while it runs."""
    for word in ("one", "two", "three"):
        await ctx.info(word)
    return "said three things"


@mcp.tool()
def query(sql: str) -> str:
    """Runs a SQL statement against the (pretend) database and returns its rows."""
    return f"ran: {sql}"


@mcp.tool()
async def ask_name(ctx: Context) -> str:
    """Asks the user for a name."""
    res = await ctx.elicit(message="What is your name?", schema=Name)
    if res.action == "accept":
        return f"hello {res.data.name}"
    return f"no name ({res.action})"


@mcp.tool()
async def summarize(text: str, ctx: Context) -> str:
    """Has the client's model summarize `text`."""
    res = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=f"Summarize: {text}"))],
        max_tokens=50,
    )
    content = res.content
    return f"model {res.model} said: {getattr(content, 'text', content)}"


if __name__ == "__main__":
    mcp.run("stdio")
