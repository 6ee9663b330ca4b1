"""fastmcp's Python client (with the fastmcp-tasks client extension) against an rmcp server.

Reads one JSON request on stdin: {"url", "token" (or null), "tool", "arguments", "poll_url"
(optional), "cancel" (optional)}. Calls the tool as a task (task-augmented `tools/call`) at `url`,
polls `tasks/get` (at `poll_url` when given, through a second client: another replica of the
server) until the task is terminal — with "cancel", sending `tasks/cancel` through that same client
once a poll has seen the task working — reads the result of a completed task, and prints one JSON
answer on stdout:

    {"task_id", "statuses": [status seen at each poll], "status", "result_text"}

or, when the server refuses a request, {"error": "<the client's error message>", "task_id"}.
Uses only the public client API: `fastmcp.Client`, `fastmcp_tasks.client.call_tool_task` and its
`ToolTask` handle (`status()` sends `tasks/get`, `cancel()` sends `tasks/cancel`, `result()` reads
the settled result; a handle on the second client is built from the first's `create_result`).
"""

import asyncio
import json
import sys

from fastmcp import Client
from fastmcp_tasks.client import ToolTask, call_tool_task

TERMINAL = {"completed", "failed", "cancelled"}
POLL_SECONDS = 0.02
MAX_POLLS = 1500


async def drive(task, answer, cancel):
    statuses = []
    for _ in range(MAX_POLLS):
        state = await task.status()
        statuses.append(state.status)
        if state.status in TERMINAL:
            break
        if cancel and state.status == "working":
            await task.cancel()
            cancel = False
        await asyncio.sleep(POLL_SECONDS)
    answer["statuses"] = statuses
    answer["status"] = statuses[-1]
    answer["result_text"] = []
    if answer["status"] == "completed":
        result = await task.result()
        answer["result_text"] = [
            block.text for block in result.content if hasattr(block, "text")
        ]


async def main(request):
    answer = {"task_id": None}
    token = request.get("token")
    async with Client(request["url"], auth=token) as client:
        try:
            task = await call_tool_task(
                client, request["tool"], request.get("arguments") or {}
            )
            answer["task_id"] = task.task_id
            poll_url = request.get("poll_url")
            cancel = bool(request.get("cancel"))
            if poll_url is None:
                await drive(task, answer, cancel)
            else:
                async with Client(poll_url, auth=token) as other:
                    polled = ToolTask(other, request["tool"], task.create_result)
                    await drive(polled, answer, cancel)
        except Exception as error:  # noqa: BLE001 - the test reads the refusal
            answer["error"] = f"{type(error).__name__}: {error}"
    return answer


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.load(sys.stdin)))))
