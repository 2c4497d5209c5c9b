"""Calling something from many threads at once, for tests of concurrent writers."""

from __future__ import annotations

import threading
from collections.abc import Callable


def at_once(call: Callable[[int], object], count: int, timeout: float = 60.0
            ) -> list[BaseException]:
    """Call `call(i)` on `count` threads, released together by a barrier; what they raised
    (an empty list when every call returned)."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            call(index)
        except BaseException as error:  # noqa: BLE001 - handed to the test's assertion
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors
