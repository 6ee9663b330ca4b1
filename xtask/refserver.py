"""One replica of the reference's MCP server for `cargo xtask bench --reference`'s task row.

fastmcp with fastmcp-tasks 4.1.4 serving a `whoami` tool as a background task over Streamable
HTTP, its tasks in Docket on the Redis at ``FASTMCP_DOCKET_URL``; the replica runs its own Docket
worker, as fastmcp does. Every replica started on the same Redis and Docket name serves the same
tasks: a task created on one is polled on another.

Usage: ``python refserver.py PORT`` (the Redis URL from ``FASTMCP_DOCKET_URL``).
"""

from __future__ import annotations

import sys

from fastmcp import FastMCP
from fastmcp.server.dependencies import get_access_token
from fastmcp_tasks import TasksExtension

mcp = FastMCP("refbench")
mcp.add_extension(TasksExtension())


@mcp.tool(task=True)
async def whoami() -> str:
    """Who the tool runs as (the task's restored caller)."""
    token = get_access_token()
    return "anonymous" if token is None else token.client_id


if __name__ == "__main__":
    mcp.run(
        transport="http",
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        show_banner=False,
    )
