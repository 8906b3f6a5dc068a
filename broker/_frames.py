"""The consumer's side of STOMP's wire: splitting what the broker sends into frames, and a
MESSAGE's headers read only when asked for.

stomp.py 9's I/O thread costs about 22 us per MESSAGE of 1 KB in its own reading (measured
in memory, ``bench/bench_consume.py`` figures in docs/consumer.md): a ``BytesIO`` and a copy
of the whole receive buffer per frame, two regular expressions per frame, then two
``re.sub`` per header line and two notifications of every listener, each under a lock. In
one process that time is taken from the worker that parses and stores (one thread runs
Python at a time). ``install`` replaces the loop stomp.py's I/O thread calls
(``__read_frames``, with its ``__read``), keeping the thread, its connection handling and
every other frame's dispatch:

- frames are split as stomp.py splits them (up to a NUL, or by ``content-length`` where
  the body holds NULs; end-of-lines after a frame are skipped), each receive buffer once;
- a MESSAGE goes straight to the consumer with its body and its raw header lines
  (``Headers``, parsed on first use: the worker reads the ack id and the timestamp of one
  message per batch, the dead letters all of a bad one);
- any other frame (CONNECTED, RECEIPT, ERROR) is parsed (``parse_frame``) and handed to
  stomp.py's ``process_frame`` as before;
- whatever arrives tells stomp.py's heart-beat listener the broker is alive, once per read
  (stomp.py tells it for every frame).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from stomp.exception import ConnectionClosedException, InterruptedException
from stomp.utils import LINE_END_RE, PREAMBLE_END_RE, Frame
from stomp.utils import parse_frame as stomp_parse_frame

__all__ = ["Headers", "OnMessage", "install", "parse_frame"]

# STOMP 1.2 header escapes
_ESCAPE = re.compile(r"\\.")
_ESCAPES = {"\\r": "\r", "\\n": "\n", "\\c": ":", "\\\\": "\\"}
# stomp.py's own: the first content-length line of the preamble
_CONTENT_LENGTH = re.compile(rb"^content-length[:]\s*(?P<value>[0-9]+)", re.MULTILINE)
_MESSAGE = (b"MESSAGE\n", b"MESSAGE\r\n")


class Headers(Mapping[str, str]):
    """A frame's headers from its raw header lines (after the command, before the blank
    line), parsed when first read; the same mapping ``parse_frame`` gives. Read from one
    thread at a time."""

    __slots__ = ("_lines", "_parsed")

    def __init__(self, lines: bytes) -> None:
        self._lines = lines
        self._parsed: dict[str, str] | None = None

    def _map(self) -> dict[str, str]:
        parsed = self._parsed
        if parsed is None:
            text = self._lines.decode("utf-8", errors="replace")
            parsed = self._parsed = _header_map(LINE_END_RE.split(text))
        return parsed

    def __getitem__(self, key: str) -> str:
        return self._map()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())

    def __repr__(self) -> str:
        return f"Headers({self._map()!r})"


OnMessage = Callable[[bytes, Headers], None]


def parse_frame(data: bytes) -> Frame | None:
    """``stomp.utils.parse_frame``, the same frame in a tenth of the time: it runs two
    ``re.sub`` per header line to undo escapes (19 us for a MESSAGE of ActiveMQ's ten
    headers), this one only on the few that hold one (ActiveMQ's ids: ``\\c`` for ``:``)."""
    end = PREAMBLE_END_RE.search(data)
    if end is None:
        return stomp_parse_frame(data)
    lines = LINE_END_RE.split(data[: end.start()].decode("utf-8", errors="replace"))
    first = 0
    while first < len(lines) and not lines[first]:
        first += 1  # end-of-lines before a frame
    if first == len(lines):
        return None
    return Frame(lines[first], _header_map(lines[first + 1 :]), data[end.end() :])


def _header_map(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        key, colon, value = line.partition(":")
        if not colon or not key:
            continue  # as stomp.py: not a "key:value" line
        if "\\" in key:
            key = _unescape(key)
        if key not in headers:  # as stomp.py: a repeated header keeps its first value
            headers[key] = _unescape(value) if "\\" in value else value
    return headers


def _unescape(text: str) -> str:
    """STOMP 1.2's header escapes undone; an unknown one is left as it is, as stomp.py does."""
    if "\\\\" in text:
        return _ESCAPE.sub(lambda match: _ESCAPES.get(match[0], match[0]), text)
    # without an escaped backslash every backslash starts the escape it is in, so plain
    # replacing gives the same, at a fraction of the cost
    return text.replace("\\c", ":").replace("\\n", "\n").replace("\\r", "\r")


class _Reader:
    """What stomp.py's I/O thread calls in a loop: one receive, and every frame completed
    by it dispatched. The rest of a frame not yet whole waits for the next receive."""

    def __init__(self, transport: Any, on_message: OnMessage) -> None:
        self._transport = transport
        self._on_message = on_message
        self._pending = b""

    def read_frames(self) -> None:
        transport = self._transport
        # as stomp.py's __read: a read interrupted or wanting TLS traffic is tried again by
        # the loop, a failed or empty one ends a blocking connection
        try:
            data = transport.receive()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, InterruptedException):
            return
        except Exception:  # noqa: BLE001 - stomp.py's: any failed read is the end
            data = b""
        if not data:
            if transport.blocking:
                raise ConnectionClosedException()
            return
        if not transport.running:
            return
        buffer = self._pending + data if self._pending else data
        self._pending = buffer[self._split(buffer) :]
        transport.notify("heartbeat")

    def _split(self, buffer: bytes) -> int:
        """Dispatch every whole frame in ``buffer``; where the first incomplete one starts."""
        size = len(buffer)
        start = 0
        while True:
            # end-of-lines between frames (heart-beats, padding), as stomp.py skips them
            while True:
                if buffer.startswith(b"\n", start):
                    start += 1
                elif buffer.startswith(b"\r\n", start):
                    start += 2
                else:
                    break
            end = buffer.find(b"\x00", start)
            if end < 0:
                return start
            preamble = PREAMBLE_END_RE.search(buffer, start, end)
            if preamble is not None:
                length = _CONTENT_LENGTH.search(buffer, start, preamble.start())
                if length is not None:
                    body_end = preamble.end() + int(length["value"])
                    if body_end > end:  # NULs in the body: its length says where it ends
                        if body_end >= size:
                            return start
                        end = body_end
            self._dispatch(buffer, start, end, preamble)
            start = end + 1

    def _dispatch(
        self, buffer: bytes, start: int, end: int, preamble: re.Match[bytes] | None
    ) -> None:
        if preamble is not None and buffer.startswith(_MESSAGE, start):
            line_end = buffer.index(b"\n", start) + 1
            lines = buffer[line_end : max(line_end, preamble.start())]
            self._on_message(buffer[preamble.end() : end], Headers(lines))
            return
        data = buffer[start:end]
        frame = parse_frame(data)
        if frame is not None:
            self._transport.process_frame(frame, data)


def install(transport: Any, on_message: OnMessage) -> bool:
    """Have stomp.py 9's I/O thread read ``transport``'s frames with this module, MESSAGE
    frames going to ``on_message``; False (stomp.py's own reading kept) for a stomp.py
    without that loop."""
    if not hasattr(transport, "_BaseTransport__read_frames"):
        return False
    transport._BaseTransport__read_frames = _Reader(transport, on_message).read_frames
    return True
