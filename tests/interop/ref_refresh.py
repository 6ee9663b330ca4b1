"""Refreshes (or only reads) snapshot TTLs with the Python reference.

Request (see refcommon.py), each cell: ``{"execution_key": "...", "ttl_secs": n | null}``.
With ``ttl_secs`` the reference's ``refresh_snapshot_ttl`` slides the snapshot key's TTL, as its
``tasks/get`` handler does; with ``null`` nothing is changed.

Result: ``{"cells": [{"snapshot_key", "ttl_before", "ttl_after"}]}``, TTLs in seconds as Redis
reports them through the reference's Docket connection (-2: no key, -1: no expiry).
"""

from __future__ import annotations

from typing import Any

from docket import Docket

from fastmcp_tasks.context import refresh_snapshot_ttl

import refcommon


async def refresh(docket: Docket, request: dict[str, Any]) -> dict[str, Any]:
    cells = []
    for cell in request["cells"]:
        task_scope, task_id = refcommon.task_of(cell["execution_key"])
        key = refcommon.snapshot_key(docket, task_scope, task_id)
        async with docket.redis() as redis:
            before = await redis.ttl(key)
        if cell.get("ttl_secs") is not None:
            await refresh_snapshot_ttl(docket, task_scope, task_id, cell["ttl_secs"])
        async with docket.redis() as redis:
            after = await redis.ttl(key)
        cells.append({"snapshot_key": key, "ttl_before": before, "ttl_after": after})
    return {"cells": cells}


if __name__ == "__main__":
    refcommon.run(refresh)
