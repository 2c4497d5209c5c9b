"""EventLoopThread: one asyncio event loop on a thread of its own, for callers that are not async.

Every SSH connection of an SshTransport lives on its loop, so twenty hosts deployed at once are
twenty connections multiplexed on one thread (asyncssh's way), not twenty threads contending for
the GIL; the callers' threads only wait for results and handle what comes back (output
callbacks run in the caller's thread, see providers.ssh.transport).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class EventLoopThread:
    """Started on first use; `stop` ends it (a later use starts a new one)."""

    def __init__(self, name: str = "flowplan-ssh"):
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._running())

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop and wait for its result (or exception)."""
        future = self.submit(coroutine)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    @property
    def running(self) -> bool:
        return self._loop is not None

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name=self._name, daemon=True)
                thread.start()
                started.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def stop(self) -> None:
        """Stop the loop once what is scheduled now has run; cancels tasks still pending."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        if thread is threading.current_thread():     # stopped from a callback: no joining
            loop.create_task(finish())
            return
        asyncio.run_coroutine_threadsafe(finish(), loop)
        thread.join(timeout=30)
        if not thread.is_alive():
            loop.close()
