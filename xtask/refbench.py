"""Micro benchmarks and the Redis round trip of the Python reference, fastmcp-tasks 4.1.4.

Run by `cargo xtask bench --reference` in the interop virtual environment. Only the reference's
public functions are called: the key builder and parser, `TaskContextSnapshot.to_json` /
`from_json`, the encrypted codec's `encode` / `decode`, and `TaskContextSnapshot.save` followed
by `restore_task_snapshot` on a real Redis.

Usage: ``python refbench.py micro`` or ``python refbench.py redis REDIS_URL [TASKS [CONCURRENCY]]``
(without a concurrency, 1 and then 64 in flight). Prints one
JSON object per line:

- ``{"kind": "micro", "op": ..., "ns": ns per call in the fastest of 50 samples of about 10 ms,
  "bytes": size of the input}``
- ``{"kind": "redis", "op": "save" | "restore" | "save+restore", "concurrency": C,
  "tasks": N, "ops_per_sec": ...}``

The snapshots are the same as taskctx's benchmarks use: the micro benchmarks take the full
snapshot of the conformance vectors (a token with five claims and ten headers), the Redis round
trip the demo caller's snapshot (a token with a `sub` claim, session and request ids, tool name).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import timeit
from typing import Any

from docket import Docket

from fastmcp.server.auth import AccessToken
from fastmcp.server.dependencies import get_access_token
from fastmcp_tasks.context import TaskContextSnapshot, restore_task_snapshot
from fastmcp_tasks.dependencies import _current_docket
from fastmcp_tasks.encryption import EncryptedCodec
from fastmcp_tasks.keys import build_task_key, parse_task_key

TASK_ID = "Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7"
TYPICAL_KEY = f"auth:client-a%7Cuser-1:{TASK_ID}:tool:my_tool"
KEY_MATERIAL = "bench-key-material-5d1e8a3c7f2b9e4a6c0d"
TTL_SECONDS = 1800
SAMPLES = 50


def emit(row: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(row) + "\n")
    sys.stdout.flush()


def full_snapshot() -> TaskContextSnapshot:
    token = AccessToken(
        token="eyJhbGciOiJSUzI1NiJ9.payload.sig",
        client_id="client-a",
        scopes=["read", "write"],
        expires_at=1_893_456_000,
        claims={
            "sub": "user-1",
            "iss": "https://idp.example",
            "name": "J\u00fcrgen \U0001f600",
            "groups": ["a", "b"],
            "n": 1,
        },
    )
    headers = {
        "host": "mcp.example.com",
        "user-agent": "python-httpx/0.28.1",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig",
        "mcp-session-id": "3f2a9c0d5b8e4f1a",
        "mcp-protocol-version": "2025-11-25",
        "x-request-id": "req-42",
        "x-forwarded-for": "10.0.0.1, 10.0.0.2",
        "x-custom": 'Gr\u00fc\u00dfe \U0001f600 "quoted" \\ back/slash\ttab',
    }
    return TaskContextSnapshot(
        access_token_json=token.model_dump_json(),
        http_headers=headers,
        origin_request_id="7",
        session_id="3f2a9c0d5b8e4f1a",
        owning_tool_name="child_echo",
        owning_tool_version="1.0",
    )


def fastest_ns(call: Any) -> float:
    """ns per call in the fastest of SAMPLES samples of about 10 ms each (the least disturbed
    by other load on the machine, as divan's `fastest` column on the taskctx side)."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()  # at least 0.2 s
    number = max(number // 20, 1)
    return min(timer.repeat(repeat=SAMPLES, number=number)) / number * 1e9


def micro() -> None:
    snapshot = full_snapshot()
    text = snapshot.to_json()
    codec = EncryptedCodec(KEY_MATERIAL)
    stored = codec.encode(text)
    rows = [
        ("key parse", lambda: parse_task_key(TYPICAL_KEY), len(TYPICAL_KEY)),
        (
            "key build",
            lambda: build_task_key("client-a|user-1", TASK_ID, "tool", "my_tool"),
            len(TYPICAL_KEY),
        ),
        ("JSON encode", snapshot.to_json, len(text)),
        ("JSON decode", lambda: TaskContextSnapshot.from_json(text), len(text)),
        ("Fernet encrypt", lambda: codec.encode(text), len(text)),
        ("Fernet decrypt", lambda: codec.decode(stored), len(stored)),
        (
            "snapshot to Fernet",
            lambda: codec.encode(snapshot.to_json()),
            len(stored),
        ),
        (
            "Fernet to snapshot",
            lambda: TaskContextSnapshot.from_json(codec.decode(stored)),
            len(stored),
        ),
    ]
    for op, call, size in rows:
        emit({"kind": "micro", "op": op, "ns": fastest_ns(call), "bytes": size})


def demo_snapshot(index: int, now: int) -> tuple[TaskContextSnapshot, str]:
    token = AccessToken(
        token="tok-0-secret",
        client_id="client-0",
        scopes=["tasks"],
        expires_at=now + 3600,
        claims={"sub": "user-0"},
    )
    snapshot = TaskContextSnapshot(
        access_token_json=token.model_dump_json(),
        session_id="session-0",
        origin_request_id=f"req-{index}",
        owning_tool_name="demo_tool",
    )
    return snapshot, "client-0|user-0"


async def phase(concurrency: int, tasks: int, op: Any) -> float:
    """Runs `op(i)` for i in 0..tasks with `concurrency` in flight; returns operations per second."""
    next_index = 0

    async def loop() -> None:
        nonlocal next_index
        while next_index < tasks:
            index = next_index
            next_index += 1
            await op(index)

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return tasks / (time.perf_counter() - start)


async def redis_round_trip(url: str, tasks: int, concurrencies: tuple[int, ...]) -> None:
    now = int(time.time())
    snapshot, scope = demo_snapshot(0, now)
    async with Docket(name="fastmcp-refbench", url=url) as docket:
        marker = _current_docket.set(docket)
        try:
            # One checked round trip first: a restore that silently failed would time nothing.
            await snapshot.save(docket, scope, "ref-check", TTL_SECONDS)
            await restore_task_snapshot(build_task_key(scope, "ref-check", "tool", "demo_tool"))
            restored = get_access_token()
            if restored is None or restored.client_id != "client-0":
                raise SystemExit("the reference's restore did not install the saved caller")
            for concurrency in concurrencies:
                ids = [f"ref-c{concurrency}-{i}" for i in range(tasks)]
                keys = [build_task_key(scope, task_id, "tool", "demo_tool") for task_id in ids]

                async def save(index: int) -> None:
                    await snapshot.save(docket, scope, ids[index], TTL_SECONDS)

                async def restore(index: int) -> None:
                    await restore_task_snapshot(keys[index])

                async def both(index: int) -> None:
                    await save(index)
                    await restore(index)

                for op, call in (("save", save), ("restore", restore), ("save+restore", both)):
                    rate = await phase(concurrency, tasks, call)
                    emit(
                        {
                            "kind": "redis",
                            "op": op,
                            "concurrency": concurrency,
                            "tasks": tasks,
                            "ops_per_sec": rate,
                        }
                    )
        finally:
            _current_docket.reset(marker)


def main() -> None:
    if sys.argv[1:2] == ["micro"]:
        micro()
    elif sys.argv[1:2] == ["redis"] and len(sys.argv) >= 3:
        tasks = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
        concurrencies = (int(sys.argv[4]),) if len(sys.argv) > 4 else (1, 64)
        asyncio.run(redis_round_trip(sys.argv[2], tasks, concurrencies))
    else:
        raise SystemExit(
            "usage: refbench.py micro | refbench.py redis REDIS_URL [TASKS [CONCURRENCY]]"
        )


if __name__ == "__main__":
    main()
