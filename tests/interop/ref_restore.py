"""Restores task-context snapshots with the Python reference, in a real Docket worker.

Request (see refcommon.py), each cell: ``{"execution_key": "..."}``.

For every cell, two readings:

- ``worker``: a Docket worker with the reference's own ``restore_task_snapshot`` as its worker
  dependency (as the reference's lifespan installs it) runs a probe task under the execution key.
  The probe reports what a tool body would see through the reference's public accessors:
  ``get_access_token()``, ``get_http_headers(include_all=True)``, ``get_task_session_id()`` and
  ``get_task_context()``; headers are ``[name, value]`` pairs, in order. ``restore_error`` is
  what ``restore_task_snapshot`` raised (the task then fails, ``ran`` is false).
- ``decoded``: the stored value read from the task's snapshot key and decoded the way the restore
  decodes it (``snapshot_codec().decode`` then ``TaskContextSnapshot.from_json``): every field, or
  the error raised (``null`` when the key is missing).

Result: ``{"encrypted": bool, "cells": [{"worker": {...}, "decoded": {...}}]}``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from docket import Depends, Docket, TaskKey, Worker

from fastmcp.server.dependencies import get_access_token, get_http_headers
from fastmcp_tasks.context import (
    TaskContextSnapshot,
    get_task_context,
    get_task_session_id,
    restore_task_snapshot,
)
from fastmcp_tasks.dependencies import _current_docket
from fastmcp_tasks.encryption import snapshot_codec

import refcommon


def pairs(headers: dict[str, str]) -> list[list[str]]:
    """Headers as ``[name, value]`` pairs, so their order survives any JSON reader."""
    return [[name, value] for name, value in headers.items()]


async def decode_stored(docket: Docket, execution_key: str) -> dict[str, Any] | None:
    task_scope, task_id = refcommon.task_of(execution_key)
    async with docket.redis() as redis:
        raw = await redis.get(refcommon.snapshot_key(docket, task_scope, task_id))
    if raw is None:
        return None
    try:
        snapshot = TaskContextSnapshot.from_json(snapshot_codec().decode(raw))
    except Exception as exc:  # noqa: BLE001 - the failure is the answer
        return {"error": refcommon.error_of(exc)}
    fields = asdict(snapshot)
    if fields["http_headers"] is not None:
        fields["http_headers"] = pairs(fields["http_headers"])
    return {"ok": fields}


async def restore(docket: Docket, request: dict[str, Any]) -> dict[str, Any]:
    keys = [cell["execution_key"] for cell in request["cells"]]
    seen: dict[str, dict[str, Any]] = {key: {"ran": False} for key in keys}

    async def recording_restore(key: str = TaskKey()) -> None:
        # The reference's restore, unchanged; a raised error is recorded and re-raised, so the
        # task fails exactly as it would in the reference's own worker.
        try:
            await restore_task_snapshot(key)
        except Exception as exc:
            seen[key]["restore_error"] = refcommon.error_of(exc)
            raise

    async def probe(key: str = TaskKey()) -> None:
        token = get_access_token()
        info = get_task_context()
        seen[key].update(
            {
                "ran": True,
                "access_token": token.model_dump(mode="json") if token is not None else None,
                "headers": pairs(get_http_headers(include_all=True)),
                "session_id": get_task_session_id(),
                "task_id": info.task_id if info is not None else None,
                "task_scope": info.task_scope if info is not None else None,
            }
        )

    docket.register(probe)
    # The reference's lifespan publishes its Docket to the restore dependency this way.
    marker = _current_docket.set(docket)
    try:
        async with Worker(
            docket,
            dependencies=[Depends(recording_restore)],
            minimum_check_interval=timedelta(milliseconds=10),
            scheduling_resolution=timedelta(milliseconds=10),
        ) as worker:
            for key in keys:
                await docket.add(probe, key=key)()
            await worker.run_until_finished()
    finally:
        _current_docket.reset(marker)

    cells = []
    for key in keys:
        cells.append({"worker": seen[key], "decoded": await decode_stored(docket, key)})
    return {"encrypted": refcommon.encrypted(), "cells": cells}


if __name__ == "__main__":
    refcommon.run(restore)
