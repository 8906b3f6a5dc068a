"""The consumer's STOMP frame parser gives what stomp.py's own gives, frame for frame: the
same command, headers and body for escapes, repeated headers, CRLF lines, end-of-lines before
a frame, lines that are not ``key:value``, NULs in a body, invalid UTF-8 and random bytes;
and through a real broker, headers that needed escaping."""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import uuid
from pathlib import Path

import pytest
import stomp
import stomp.exception
import stomp.transport
from hypothesis import given
from hypothesis import strategies as st
from stomp.utils import Frame, parse_frame

from broker._frames import Headers, install
from broker._frames import parse_frame as _parse_frame
from broker.consumer import Consumer
from tests.support.activemq import ActiveMQ
from tests.support.consumer import wait_until
from vmsam.server.store import Store
from vmsam.shared.config import BrokerSettings

ACTIVEMQ_MESSAGE = (
    b"MESSAGE\ncontent-length:5\nexpires:0\ndestination:/queue/vmsam\nsubscription:vmsam\n"
    b"priority:4\nmessage-id:ID\\cvm-40503-1700000000000-3\\c1\\c1\\c1\\c12345\n"
    b"persistent:true\nack:ID\\cvm-40503-1700000000000-5\\c2\\c-1\\c1\\c12345\n"
    b"timestamp:1700000000000\n\nhello"
)

FRAMES = [
    ACTIVEMQ_MESSAGE,
    b"CONNECTED\nversion:1.2\nheart-beat:10000,10000\nserver:ActiveMQ/5.17\n\n",
    b"RECEIPT\nreceipt-id:vmsam-subscribed\n\n",
    b"ERROR\nmessage:bad \\c thing\ncontent-type:text/plain\n\nstack\ntrace\n",
    b"MESSAGE\r\nack:1\r\ndestination:/queue/q\r\n\r\nbody\r\nwith CRLF",
    b"\n\nMESSAGE\nack:2\n\nafter end-of-lines",
    b"MESSAGE\nack:first\nack:second\nx:\n:no-key\nno colon\na:b:c\n\nrepeated",
    b"MESSAGE\nk\\\\c:v\\\\\\c\\n\\r\\t\\q\nack:3\n\nescapes, known and unknown",
    b"MESSAGE\nweird\\\\:value\n\\c:colon key\n\nescaped backslash before the colon",
    b"MESSAGE\ncontent-length:7\nack:4\n\nnul\x00in\x00",
    b"MESSAGE\nack:\xff\xfe\ndestination:caf\xc3\xa9\n\n\xc3\x28 invalid UTF-8 body",
    b"MESSAGE\nack:5\n\n",
    b"MESSAGE\nack:6",
    b"\n\n",
    b"",
]


def _seen(frame: object) -> tuple[object, ...] | None:
    if frame is None:
        return None
    return (frame.cmd, frame.headers, frame.body)  # type: ignore[attr-defined]


@pytest.mark.parametrize("data", FRAMES)
def test_the_frame_is_what_stomp_py_makes_of_it(data: bytes) -> None:
    assert _seen(_parse_frame(data)) == _seen(parse_frame(data))


def test_random_frames_are_what_stomp_py_makes_of_them() -> None:
    rng = random.Random(20261125)
    pieces = [b"MESSAGE", b"\n", b"\r\n", b":", b"\\", b"c", b"n", b"r", b"ack", b"x", b"\xff"]
    for _ in range(5000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        assert _seen(_parse_frame(data)) == _seen(parse_frame(data)), data
    for _ in range(1000):
        data = rng.choice(FRAMES)
        at = rng.randrange(len(data) + 1)
        data = data[:at] + rng.choice(pieces) + data[at:]
        assert _seen(_parse_frame(data)) == _seen(parse_frame(data)), data


def test_escaped_headers_reach_the_dead_letters_as_they_were_sent(
    activemq: ActiveMQ, tmp_path: Path
) -> None:
    """Through a real broker: header values with the characters STOMP 1.2 escapes (``:``,
    newline, ``\\``) arrive in the consumer unescaped, as the publisher set them."""
    queue_name = f"/queue/vmsam.frames.{uuid.uuid4().hex}"
    url = f"sqlite:///{tmp_path / 'frames.db'}"
    sent = {"x-note": "a:b\nc\\d\\c", "x-plain": "plain"}
    conn = stomp.Connection12([(activemq.host, activemq.port)])
    conn.connect(wait=True)
    try:
        conn.send(queue_name, "not a record", headers=sent)
    finally:
        conn.disconnect()
    consumer = Consumer(BrokerSettings(urls=(activemq.address,)), queue_name)
    store = Store(url)
    worker = threading.Thread(target=consumer.run, args=(store,))
    worker.start()
    try:
        wait_until(lambda: store.dead_letters()[0] == 1, 30, "the dead letter")
    finally:
        consumer.stop()
        worker.join(60)
    _, (letter,) = store.dead_letters()
    store.close()
    assert letter.body == "not a record"
    assert {key: letter.headers[key] for key in sent} == sent


# The reader: what stomp.py's own I/O loop (``__read`` and ``__read_frames``) makes of a
# stream of frames, received in any chunks, against what ``_frames`` makes of it.

_TEXT = st.lists(st.sampled_from(["a", "b", ":", "\\c", "\\n", "\\\\", "\\", "é", " "]), max_size=5)
_BODY = st.lists(st.sampled_from([b"a", b"\n", b"\r\n", b"\xff", b"z", b"\x00"]), max_size=12)


@st.composite
def _frame(draw: st.DrawFn) -> bytes:
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    command = draw(st.sampled_from([b"MESSAGE", b"MESSAGE", b"RECEIPT", b"ERROR", b"X"]))
    headers = [
        ("".join(draw(_TEXT)) + ":" + "".join(draw(_TEXT))).encode()
        for _ in range(draw(st.integers(0, 4)))
    ]
    body = b"".join(draw(_BODY))
    length = draw(st.sampled_from(["right", "right", "none", "short", "long"]))
    if length == "none" or (length == "right" and b"\x00" not in body):
        body = body.replace(b"\x00", b"")
    else:
        shift = {"right": 0, "short": -1, "long": 2}[length]
        headers.insert(
            draw(st.integers(0, len(headers))), b"content-length:%d" % (len(body) + shift)
        )
    # at most one heart-beat (LF) before a frame: stomp.py misreads more
    # (test_heart_beats_before_a_frame_are_skipped)
    start = draw(st.sampled_from([b"", b"", b"\n"]))
    return start + eol.join([command, *headers]) + eol + eol + body + b"\x00"


@st.composite
def _chunks(draw: st.DrawFn) -> list[bytes]:
    stream = b"".join(draw(st.lists(_frame(), min_size=1, max_size=6)))
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(stream) - 1)), max_size=5)))
    edges = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(edges) if b > a]


def _frames_read(chunks: list[bytes], ours: bool) -> list[tuple[str, dict[str, str], bytes]]:
    """The frames a transport dispatches (heart-beats aside) when it receives ``chunks``."""
    transport = stomp.transport.Transport([("127.0.0.1", 1)], auto_decode=False)
    seen: list[tuple[str, dict[str, str], bytes]] = []
    left = iter(chunks)

    def receive() -> bytes:
        return next(left)  # at the end, StopIteration: a failed read, the end of the stream

    def process_frame(frame: Frame, data: bytes) -> None:
        if frame.cmd != "heartbeat":
            seen.append((frame.cmd, frame.headers, frame.body))

    def on_message(body: bytes, headers: Headers) -> None:
        seen.append(("MESSAGE", dict(headers), body))

    transport.receive = receive
    transport.process_frame = process_frame
    transport.running = True
    if ours:
        assert install(transport, on_message)
    with contextlib.suppress(stomp.exception.ConnectionClosedException):
        while True:
            transport._BaseTransport__read_frames()
    return seen


@given(_chunks())
def test_the_reader_dispatches_the_frames_stomp_py_would(chunks: list[bytes]) -> None:
    assert _frames_read(chunks, ours=True) == _frames_read(chunks, ours=False)


@pytest.mark.parametrize("beats", [b"\n\n", b"\r\n\n", b"\r\n\r\n\n"])
def test_heart_beats_before_a_frame_are_skipped(beats: bytes) -> None:
    """STOMP 1.2: a heart-beat is an EOL (LF or CRLF) and any number may come before a
    frame. stomp.py reads two that arrive in one read with the frame after them as the end
    of an empty preamble, and drops the MESSAGE (or makes a frame of command "\\r" of it):
    never acked, it would come again only after a reconnect."""
    chunks = [b"RECEIPT\nreceipt-id:1\n\n\x00", beats + b"MESSAGE\nack:1\n\nbody\x00"]
    receipt = ("RECEIPT", {"receipt-id": "1"}, b"")
    assert _frames_read(chunks, ours=True) == [receipt, ("MESSAGE", {"ack": "1"}, b"body")]
    assert ("MESSAGE", {"ack": "1"}, b"body") not in _frames_read(chunks, ours=False)


def test_a_messages_headers_are_parsed_once_when_first_read() -> None:
    headers = Headers(b"ack:ID\\c1\r\nx:1\ntimestamp:17\nx:2")
    assert headers._parsed is None
    assert headers.get("ack") == "ID:1"
    parsed = headers._parsed
    assert dict(headers) == {"ack": "ID:1", "x": "1", "timestamp": "17"}
    assert headers._parsed is parsed
    assert len(headers) == 3 and "missing" not in headers


def test_every_read_tells_the_heart_beat_listener_the_broker_is_alive() -> None:
    transport = stomp.transport.Transport([("127.0.0.1", 1)])
    beats: list[str] = []
    transport.notify = lambda kind, frame=None: beats.append(kind)  # type: ignore[method-assign]
    transport.running = True
    left = iter([b"MESSAGE\nack:1\n\nhal", b"f"])
    transport.receive = lambda: next(left)
    messages: list[bytes] = []
    install(transport, lambda body, headers: messages.append(body))
    transport._BaseTransport__read_frames()
    assert beats == ["heartbeat"] and messages == []  # half a frame is life too
    transport._BaseTransport__read_frames()
    assert beats == ["heartbeat"] * 2 and messages == []
    with pytest.raises(stomp.exception.ConnectionClosedException):
        transport._BaseTransport__read_frames()  # the stream ended: as stomp.py, it is closed
