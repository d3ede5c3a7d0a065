"""The routing state outside a request belongs to one thread."""

from __future__ import annotations

import threading

from dbops.routing import scope


def test_ambient_state_is_not_shared_between_threads():
    """A thread that wrote (a job) does not make another thread's reads (a
    progress reporter, a probe) look like its own, nor share its decision:
    one module-level state served every thread of the process."""
    seen: dict[str, scope.RoutingState] = {}

    def run(name: str, write: bool) -> None:
        state = scope.current_state()
        if write:
            state.wrote = True
            state.decision = scope.Decision("default", "a job's own")
        seen[name] = state

    writer = threading.Thread(target=run, args=("writer", True))
    writer.start()
    writer.join()
    reader = threading.Thread(target=run, args=("reader", False))
    reader.start()
    reader.join()
    assert seen["writer"] is not seen["reader"]
    assert seen["reader"].wrote is False and seen["reader"].decision is None
