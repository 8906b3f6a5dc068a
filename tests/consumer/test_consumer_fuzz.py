"""Hostile input through the broker: 10,000 mutated records (lines dropped, duplicated or
garbled, random bytes, invalid UTF-8, oversized, lower-case status, bad and out-of-window
timestamps, NULs, truncation) reach a running ``vmsam consume``. Every one ends up stored or
dead-lettered with a reason, byte for byte, and the consumer keeps going."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.consumer import (
    ConsumerProcess,
    counts,
    database,
    record,
    send,
    wait_until,
    write_config,
)
from vmsam.server.store import Received, Store
from vmsam.shared.messages import MAX_MESSAGE_BYTES

BODIES = 10_000
SEED = 20261125


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        counts(url)
        yield url


def _lines(body: bytes) -> list[bytes]:
    return body.split(b"\n")


def _drop_line(rng: random.Random, body: bytes) -> bytes:
    lines = _lines(body)
    del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def _duplicate_line(rng: random.Random, body: bytes) -> bytes:
    lines = _lines(body)
    at = rng.randrange(len(lines))
    lines.insert(rng.randrange(len(lines)), lines[at])
    return b"\n".join(lines)


def _garble_line(rng: random.Random, body: bytes) -> bytes:
    lines = _lines(body)
    at = rng.randrange(len(lines))
    line = bytearray(lines[at])
    for _ in range(rng.randint(1, 4)):
        if line:
            line[rng.randrange(len(line))] = rng.choice(b": \t\r\x00\xff\xc3EOTabc\\%")
    lines[at] = bytes(line)
    return b"\n".join(lines)


def _replace_field(body: bytes, key: bytes, value: bytes) -> bytes:
    return b"\n".join(
        key + b": " + value if line.startswith(key + b": ") else line for line in _lines(body)
    )


def _lower_status(rng: random.Random, body: bytes) -> bytes:
    return _replace_field(body, b"metricStatus", rng.choice([b"ok", b"Critical", b"2", b"warn"]))


def _bad_timestamp(rng: random.Random, body: bytes) -> bytes:
    bad = [b"2026-11-25 10:00:00", b"2026-13-45T10:00:00Z", b"yesterday", b"1764064800", b""]
    return _replace_field(body, b"timestamp", rng.choice(bad))


def _out_of_window(rng: random.Random, body: bytes) -> bytes:
    shift = rng.choice([timedelta(days=-4), timedelta(days=-30), timedelta(days=2)])
    moment = (datetime.now(UTC) + shift).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    return _replace_field(body, b"timestamp", moment)


def _random_bytes(rng: random.Random, body: bytes) -> bytes:
    return rng.randbytes(rng.randint(0, 300))


def _invalid_utf8(rng: random.Random, body: bytes) -> bytes:
    at = rng.randrange(len(body))
    return body[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88"]) + body[at:]


def _oversized(rng: random.Random, body: bytes) -> bytes:
    padding = b"x" * (MAX_MESSAGE_BYTES + rng.randint(1, 4096))
    return body.replace(b"detailsData: ", b"detailsData: " + padding, 1)


def _truncated(rng: random.Random, body: bytes) -> bytes:
    return body[: rng.randrange(len(body))]


def _nul(rng: random.Random, body: bytes) -> bytes:
    return _replace_field(body, b"summaryData", b"OK \x00 hidden")


def _no_vo(rng: random.Random, body: bytes) -> bytes:
    lines = [line for line in _lines(body) if not line.startswith(b"voName: ")]
    return _replace_field(b"\n".join(lines), b"metricName", b"WN-cvmfs")


def _crlf(rng: random.Random, body: bytes) -> bytes:
    return body.replace(b"\n", b"\r\n")


def _empty(rng: random.Random, body: bytes) -> bytes:
    return b""


Mutation = Callable[[random.Random, bytes], bytes]
# mutations whose result is invalid whatever the random choices, with words of the reason
ALWAYS_INVALID: dict[Mutation, tuple[str, ...]] = {
    _lower_status: ("metricStatus",),
    _bad_timestamp: ("timestamp",),
    _out_of_window: ("day",),
    _invalid_utf8: ("UTF-8",),
    _oversized: ("limit",),
    _nul: ("NUL",),
    _no_vo: ("vo",),
    _empty: ("EOT",),
}
MAYBE_VALID: tuple[Mutation, ...] = (
    _drop_line,
    _duplicate_line,
    _garble_line,
    _random_bytes,
    _truncated,
    _crlf,
)


def corpus(run: str) -> list[tuple[Mutation | None, bytes]]:
    """``BODIES`` bodies: one in eight left valid, the rest mutated once or twice."""
    rng = random.Random(SEED)
    mutations = [*ALWAYS_INVALID, *MAYBE_VALID]
    bodies: list[tuple[Mutation | None, bytes]] = []
    for i in range(BODIES):
        body = record(i, run=run).encode()
        if i % 8 == 0:
            bodies.append((None, body))
            continue
        mutation = rng.choice(mutations)
        if mutation is _oversized and rng.random() < 0.8:
            mutation = _garble_line  # a few hundred 65 KiB bodies are plenty
        mutated = mutation(rng, body)
        if mutation in MAYBE_VALID and rng.random() < 0.3:
            mutated = _garble_line(rng, mutated or b"x")
        bodies.append((mutation, mutated))
    return bodies


def _identity(received: Received) -> tuple[object, ...]:
    result = received.result
    assert result is not None
    return (
        result.host_name,
        result.service_type,
        result.metric_name,
        result.timestamp,
        result.gathered_at,
        result.vm_uuid,
    )


def _all_dead_letters(url: str) -> list[tuple[str, str]]:
    store = Store(url)
    try:
        found: list[tuple[str, str]] = []
        while True:
            total, page = store.dead_letters(limit=1000, offset=len(found))
            found.extend((letter.body, letter.reason) for letter in page)
            if not page or len(found) >= total:
                return found
    finally:
        store.close()


def test_every_hostile_body_is_stored_or_dead_lettered_and_the_consumer_stays_up(
    activemq, db_url, tmp_path
):
    queue_name = f"/queue/vmsam.fuzz.{uuid.uuid4().hex}"
    run = uuid.uuid4().hex
    bodies = corpus(run)
    parsed = [Received.parse(body) for _, body in bodies]
    # a body is dead-lettered once, however often it comes: the corpus may repeat one
    invalid = sorted({body for (_, body), p in zip(bodies, parsed, strict=True) if p.error})
    valid = {_identity(p) for p in parsed if p.error is None}
    for (mutation, _), p in zip(bodies, parsed, strict=True):
        if mutation in ALWAYS_INVALID:
            assert p.error, mutation
    assert len(invalid) > BODIES / 2
    assert len(valid) > BODIES / 10

    config = write_config(tmp_path / "consumer.toml", [activemq.address], queue_name, db_url)
    with ConsumerProcess(config) as consumer:
        consumer.wait_event("subscribed")
        send(activemq.address, queue_name, [body for _, body in bodies])
        wait_until(
            lambda: sum(counts(db_url)) == len(valid) + len(invalid), 300, "every body handled"
        )
        assert consumer.metric("vmsam_consumer_messages_received_total") == BODIES
        handled = sum(
            consumer.metric(f"vmsam_consumer_{name}_total")
            for name in ("results_stored", "duplicates", "dead_letters")
        )
        assert handled == BODIES

        # still consuming: a valid message sent afterwards is stored
        send(activemq.address, queue_name, [record(0, run=f"{run}-after")])
        wait_until(lambda: counts(db_url)[0] == len(valid) + 1, 60, "the valid message stored")
        assert consumer.alive()
        assert consumer.terminate() == 0

    assert counts(db_url) == (len(valid) + 1, len(invalid))
    letters = _all_dead_letters(db_url)
    assert all(reason.strip() for _, reason in letters)
    # kept byte for byte (the API shows undecodable bytes escaped)
    assert sorted(body for body, _ in letters) == sorted(
        body.decode("utf-8", "backslashreplace") for body in invalid
    )
    by_body = {body: reason for body, reason in letters}
    for (mutation, body), _ in zip(bodies, parsed, strict=True):
        if mutation in ALWAYS_INVALID:
            reason = by_body[body.decode("utf-8", "backslashreplace")]
            assert any(word.lower() in reason.lower() for word in ALWAYS_INVALID[mutation])
