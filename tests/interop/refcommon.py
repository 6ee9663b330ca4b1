"""Shared plumbing for the reference-side interop scripts.

Every script reads one JSON request on stdin (or as its first argument), talks to the Redis named
in it through the Python reference fastmcp-tasks 4.1.4 and its Docket client, and prints one JSON
result on stdout. The reference reads its encryption key material from
``FASTMCP_TASKS_ENCRYPTION_KEY`` when it is first imported, so plaintext and encrypted runs are
separate processes; within one process the reference derives the Fernet key once and reuses it.

Request fields shared by every script:

- ``url``: the Redis URL (the Docket backend URL).
- ``queue``: the Docket name (the queue name, default ``fastmcp``).
- ``cells``: a list of per-task requests; the result has one entry per cell, in order.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from docket import Docket

from fastmcp_tasks.encryption import snapshot_codec
from fastmcp_tasks.keys import parse_task_key, task_redis_prefix

DEFAULT_QUEUE = "fastmcp"


def read_request() -> dict[str, Any]:
    """The JSON request: the first argument if given, else all of stdin."""
    text = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    request = json.loads(text)
    if not isinstance(request, dict):
        raise SystemExit("the request must be a JSON object")
    return request


def error_of(exc: BaseException) -> dict[str, str]:
    """A raised exception as JSON: its type and message."""
    return {"error_type": type(exc).__name__, "message": str(exc)}


def snapshot_key(docket: Docket, task_scope: str | None, task_id: str) -> str:
    """The Redis key of a task's snapshot, composed from the reference's public key helpers
    exactly as its save, restore and refresh functions compose it."""
    return docket.key(f"{task_redis_prefix(task_scope)}:{task_id}:snapshot")


def task_of(execution_key: str) -> tuple[str | None, str]:
    """The scope and task id the reference parses out of an execution key."""
    parts = parse_task_key(execution_key)
    return parts["task_scope"], parts["client_task_id"]


def encrypted() -> bool:
    """Whether the reference is configured with ``FASTMCP_TASKS_ENCRYPTION_KEY``."""
    return snapshot_codec().protected


def run(handler: Callable[[Docket, dict[str, Any]], Awaitable[Any]]) -> None:
    """Reads the request, opens the Docket on its Redis, runs ``handler`` and prints the JSON
    result. An unexpected failure prints a traceback and exits with status 1."""
    request = read_request()

    async def main() -> Any:
        docket = Docket(name=request.get("queue") or DEFAULT_QUEUE, url=request["url"])
        async with docket:
            return await handler(docket, request)

    try:
        result = asyncio.run(main())
    except Exception:  # noqa: BLE001 - reported to the caller, which fails the test
        traceback.print_exc()
        raise SystemExit(1) from None
    json.dump(result, sys.stdout, ensure_ascii=True)
    sys.stdout.write("\n")
