"""Python's garbage collector in the long-running server processes."""

from __future__ import annotations

import gc


def freeze_startup(young: int | None = None) -> None:
    """Leave what exists once a process has started (the modules, the app or the store,
    their schema: some 200,000 objects) out of the garbage collector's full passes, each of
    which would otherwise walk all of it (in ``vmsam serve``, 50 to 80 ms while every
    request waits). With ``young``, the youngest generation is collected after that many
    new container objects instead of Python's 700."""
    gc.collect()
    gc.freeze()
    if young is not None:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young, middle, old)
