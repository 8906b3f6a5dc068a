"""What the server processes do to Python's garbage collector after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from vmsam.server.collector import freeze_startup


@pytest.fixture
def collector() -> Iterator[tuple[int, int, int]]:
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield threshold
    gc.unfreeze()
    gc.set_threshold(*threshold)


def tracked(thing: object) -> bool:
    """Whether a collection pass of any generation would walk ``thing``."""
    return any(any(o is thing for o in gc.get_objects(generation)) for generation in range(3))


def test_what_exists_at_startup_is_left_out_of_every_pass(collector):
    before_startup = {"a": []}
    assert tracked(before_startup)
    freeze_startup()
    assert not tracked(before_startup)
    assert gc.get_freeze_count() > 0
    after_startup = {"b": []}
    assert tracked(after_startup)
    assert gc.get_threshold() == collector


def test_young_sets_only_the_youngest_generations_threshold(collector):
    freeze_startup(young=10_000)
    assert gc.get_threshold() == (10_000, *collector[1:])
