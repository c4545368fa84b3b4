"""Follow mode: watchfiles wakes the ingester; a periodic rescan catches what it misses.

watchfiles' events are only a wake-up call: files present at start make none,
an inotify overflow drops them silently, network mounts need polling. So every
wake drains all tracked files, and every `rescan` seconds the tree is walked. Ending idle
tasks is not a pass's business: the session does it between passes (agentmon.session).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import watchfiles

from agentmon.ingest.ingester import Ingester


def follow(
    ingester: Ingester,
    stop: threading.Event,
    *,
    rescan: float = 2.0,
    force_polling: bool | None = None,
    on_pass: Callable[[Ingester], None] | None = None,
) -> None:
    """Ingest until `stop` is set; `on_pass` runs after every pass, on this thread."""
    ingester.stop = stop  # a long first read stops too
    ingester.scan()
    ingester.drain()
    if on_pass:
        on_pass(ingester)
    last_scan = time.monotonic()
    watched = [str(p) for p in ingester.paths]
    if not watched:  # only remote sources (their own threads): the labels file is still ours to read
        while not stop.wait(rescan):
            ingester.scan()
            ingester.drain()
            if on_pass:
                on_pass(ingester)
        return
    for changes in watchfiles.watch(
        *watched,
        watch_filter=None,
        debounce=50,
        step=20,
        rust_timeout=int(rescan * 1000),
        yield_on_timeout=True,
        stop_event=stop,
        force_polling=force_polling,
        raise_interrupt=False,
    ):
        structural = any(change != watchfiles.Change.modified for change, _ in changes)
        periodic = structural or not changes or time.monotonic() - last_scan >= rescan
        if periodic:
            ingester.scan()
            last_scan = time.monotonic()
        ingester.drain()
        if on_pass:
            on_pass(ingester)
