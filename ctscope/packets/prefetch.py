"""Decode one batch ahead: the capture is read and decoded in a worker thread while the
caller (the engine) works on the previous batch.

The decoder and the engine are compiled with ``nogil`` (``ctscope.jit``), so on two
cores the two stages overlap: a replay costs about max(decode, engine) per batch
instead of their sum.  Order is kept (one producer, a FIFO of ``depth`` batches), so
the engine sees exactly the batches it would see without the thread.  An exception in
the worker (a truncated capture...) is raised in the caller at the point where the
batch that failed would have been taken, after every earlier batch was processed.
Closing the iterator early (Ctrl-C, an error in the caller) stops the worker.

The standard library's ``queue`` and ``threading`` do all of it; nothing to hand-write.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_END = object()


def prefetch(source: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``source`` in a daemon thread, up to ``depth`` items ahead."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in source:
                if not put((item, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as is
            put((_END, exc))
            return
        put((_END, None))

    worker = threading.Thread(target=work, name="ctscope-decode", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = q.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=1.0)
