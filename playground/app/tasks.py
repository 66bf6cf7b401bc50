"""Long work the user can stop: `stoppable(task)` runs it in a worker thread and streams its
progress reports; closing the stream (the app's Stop) ends the task at its next report."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable


class Stopped(Exception):
    """Raised inside a task given to `stoppable` whose consumer stopped listening."""


def stoppable(task: Callable[[Callable[..., None]], Any]):
    """Run `task(report)` in a worker thread; yield the arguments of each `report(*args)` it makes,
    as a tuple, then return its result (or raise its error).

    Gradio drops a streaming handler whose user pressed Stop, and a thread cannot be killed from
    outside. Closing this generator sets `stop`; the task's next report raises `Stopped` inside the
    worker, and the close waits for the worker to end, so a stopped job ends at its next progress
    step instead of finishing unseen (and nothing it owns is touched after the close returns).
    """
    updates: queue.SimpleQueue = queue.SimpleQueue()
    stop, outcome = threading.Event(), {}

    def report(*args) -> None:
        if stop.is_set():
            raise Stopped
        updates.put(args)

    def run() -> None:
        try:
            outcome["value"] = task(report)
        except BaseException as err:  # handed to the consumer below
            outcome["error"] = err
        finally:
            updates.put(None)

    worker = threading.Thread(target=run, daemon=True, name="toyworld-task")
    worker.start()
    try:
        while (update := updates.get()) is not None:
            yield update
    finally:
        stop.set()
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
