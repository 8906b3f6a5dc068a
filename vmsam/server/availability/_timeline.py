"""Timelines of one UTC day as change points, at one-second resolution.

A timeline never holds one entry per second: it holds the seconds at which the state
changes, so combining two costs O(changes): both are split at the union of their change
points and the truth table is applied to each piece (docs/availability.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vmsam.server.availability._profiles import STATES, Table


@dataclass(frozen=True, slots=True)
class Timeline:
    """``states[i]`` holds on ``[starts[i], starts[i+1])``, the last one until ``length``.

    ``starts[0] == 0``, starts strictly increase and stay below ``length``, and neighbouring
    states differ, so two timelines with the same states second by second are equal.
    """

    starts: tuple[int, ...]
    states: tuple[int, ...]
    length: int

    @classmethod
    def constant(cls, state: int, length: int) -> Timeline:
        return cls((0,), (state,), length)

    def seconds(self) -> list[int]:
        """Seconds spent in each state, indexed like STATES."""
        spent = [0] * len(STATES)
        ends = (*self.starts[1:], self.length)
        for start, end, state in zip(self.starts, ends, self.states, strict=True):
            spent[state] += end - start
        return spent


def from_results(
    initial: int, points: Iterable[tuple[int, int]], length: int, same_second: Table
) -> Timeline:
    """A metric timeline: ``initial`` until the first result, then each result's state
    until the next one. ``points`` are (second of the day, state) sorted by second, all in
    ``[0, length)``; results in the same second are combined with ``same_second``."""
    starts = [0]
    states = [initial]
    # the results of one second are combined before they count, so that the timeline is
    # built in its normal form: a state is added only where it changes
    at = -1
    pending = initial
    for second, state in itertools.chain(points, ((length, initial),)):
        if second == at:
            pending = same_second[pending][state]
            continue
        if at == 0:
            # a result at exactly 00:00:00 belongs to the day: it ends the carried state
            states[0] = pending
        elif at > 0 and pending != states[-1]:
            starts.append(at)
            states.append(pending)
        at, pending = second, state
    return Timeline(tuple(starts), tuple(states), length)


def combine(a: Timeline, b: Timeline, table: Table) -> Timeline:
    """``a op b`` second by second, where ``table`` is the operation's truth table."""
    if a.length != b.length:
        raise ValueError(f"timelines of {a.length} s and {b.length} s do not combine")
    a_starts, a_states, b_starts, b_states = a.starts, a.states, b.starts, b.states
    a_count, b_count = len(a_starts), len(b_starts)
    starts = [0]
    states = [table[a_states[0]][b_states[0]]]
    i = j = 1
    end = a.length
    while i < a_count or j < b_count:
        a_next = a_starts[i] if i < a_count else end
        b_next = b_starts[j] if j < b_count else end
        if a_next <= b_next:
            second = a_next
            i += 1
        else:
            second = b_next
        if b_next == second:
            j += 1
        state = table[a_states[i - 1]][b_states[j - 1]]
        if state != states[-1]:
            starts.append(second)
            states.append(state)
    return Timeline(tuple(starts), tuple(states), end)


def fold(timelines: Iterable[Timeline], table: Table) -> Timeline | None:
    """All of ``timelines`` combined with one operation; None when there are none."""
    result: Timeline | None = None
    for timeline in timelines:
        result = timeline if result is None else combine(result, timeline, table)
    return result


def overlay(timeline: Timeline, intervals: Sequence[tuple[int, int]], state: int) -> Timeline:
    """``timeline`` with ``state`` replacing it on each of ``intervals``, which are sorted,
    disjoint, non-empty half-open (start, end) pairs within ``[0, timeline.length)``."""
    if not intervals:
        return timeline
    starts: list[int] = []
    states: list[int] = []
    edges = {*timeline.starts, *(s for s, _ in intervals), *(e for _, e in intervals)}
    bounds = sorted(edges - {timeline.length})
    i = k = 0
    count = len(timeline.starts)
    for second in bounds:
        while i + 1 < count and timeline.starts[i + 1] <= second:
            i += 1
        while k < len(intervals) and intervals[k][1] <= second:
            k += 1
        inside = k < len(intervals) and intervals[k][0] <= second
        starts.append(second)
        states.append(state if inside else timeline.states[i])
    return _normalised(starts, states, timeline.length)


def _normalised(starts: list[int], states: list[int], length: int) -> Timeline:
    kept_starts = [starts[0]]
    kept_states = [states[0]]
    for second, state in zip(starts[1:], states[1:], strict=True):
        if state != kept_states[-1]:
            kept_starts.append(second)
            kept_states.append(state)
    return Timeline(tuple(kept_starts), tuple(kept_states), length)
