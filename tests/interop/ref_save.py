"""Saves task-context snapshots with the Python reference, as its task creation does.

Request (see refcommon.py), each cell:

    {"token": {"token": ..., "client_id": ..., "scopes": [...], "expires_at": ..., "claims": {...},
               ...} | null,
     "headers": [[name, value], ...] | null, "origin_request_id": ..., "session_id": ...,
     "owning_tool_name": ..., "owning_tool_version": ...,
     "task_id": "...", "task_type": "tool", "component": "...", "leg": 1}

plus ``execution_ttl_secs`` at the top (the Docket execution TTL, default 900). The scope is what
the reference derives from the token (``get_task_scope`` with the token installed as the
authenticated user; anonymous without one); the snapshot is built from the values as ``capture``
would build it, and saved with the reference's TTL rule (execution TTL + its mapping buffer).

Result: ``{"encrypted": bool, "cells": [{"scope", "execution_key", "snapshot_key", "ttl_secs",
"stored"}]}`` where ``stored`` is the value exactly as written to Redis (text).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from docket import Docket
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser

from fastmcp.server.auth import AccessToken
from fastmcp_tasks.context import TaskContextSnapshot, get_task_scope
from fastmcp_tasks.creation import TASK_MAPPING_TTL_BUFFER_SECONDS
from fastmcp_tasks.keys import build_task_key, leg_execution_key

import refcommon


async def save(docket: Docket, request: dict[str, Any]) -> dict[str, Any]:
    docket.execution_ttl = timedelta(seconds=request.get("execution_ttl_secs", 900))
    ttl_seconds = int(docket.execution_ttl.total_seconds()) + TASK_MAPPING_TTL_BUFFER_SECONDS
    results = []
    for cell in request["cells"]:
        token = AccessToken(**cell["token"]) if cell.get("token") is not None else None
        marker = auth_context_var.set(AuthenticatedUser(token) if token is not None else None)
        try:
            task_scope = get_task_scope()
        finally:
            auth_context_var.reset(marker)
        snapshot = TaskContextSnapshot(
            access_token_json=token.model_dump_json() if token is not None else None,
            http_headers=(
                dict(cell["headers"]) if cell.get("headers") is not None else None
            ),
            origin_request_id=cell.get("origin_request_id"),
            session_id=cell.get("session_id"),
            owning_tool_name=cell.get("owning_tool_name"),
            owning_tool_version=cell.get("owning_tool_version"),
        )
        task_id = cell["task_id"]
        await snapshot.save(docket, task_scope, task_id, ttl_seconds)
        base = build_task_key(
            task_scope, task_id, cell.get("task_type", "tool"), cell["component"]
        )
        key = refcommon.snapshot_key(docket, task_scope, task_id)
        async with docket.redis() as redis:
            stored = await redis.get(key)
        results.append(
            {
                "scope": task_scope,
                "execution_key": leg_execution_key(base, cell.get("leg", 1)),
                "snapshot_key": key,
                "ttl_secs": ttl_seconds,
                "stored": stored.decode() if isinstance(stored, bytes) else stored,
            }
        )
    return {"encrypted": refcommon.encrypted(), "cells": results}


if __name__ == "__main__":
    refcommon.run(save)
