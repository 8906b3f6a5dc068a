"""The consumer's STOMP frame parser gives what stomp.py's own gives, frame for frame: the
same command, headers and body for escapes, repeated headers, CRLF lines, end-of-lines before
a frame, lines that are not ``key:value``, NULs in a body, invalid UTF-8 and random bytes;
and through a real broker, headers that needed escaping."""

from __future__ import annotations

import random
import threading
import uuid
from pathlib import Path

import pytest
import stomp
from stomp.utils import parse_frame

from broker.consumer import Consumer, _parse_frame
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
