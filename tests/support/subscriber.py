"""An independent consumer of one destination, and markers that say "all of it is here".

A queue with one consumer delivers in the order the broker stored: a marker sent after the
messages under test (persistent, as they are, and confirmed by a receipt) arrives after all
of them. So once the marker is back, what the subscriber holds is everything the destination
had before it, and counting it is sound: there is no waiting to see whether more comes.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any

import stomp

MARKER_HEADER = "vmsam-test-marker"


def _endpoint(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


class _Receipts(stomp.ConnectionListener):
    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.ids: set[str] = set()

    def on_receipt(self, frame: Any) -> None:
        with self.condition:
            self.ids.add(frame.headers["receipt-id"])
            self.condition.notify_all()


def send_marker(address: str, destination: str, timeout: float = 30) -> str:
    """Send a marker message to ``destination`` on a connection of its own and wait for the
    broker's receipt (it is stored then); returns the marker's token."""
    token = uuid.uuid4().hex
    receipts = _Receipts()
    conn = stomp.Connection12([_endpoint(address)], heartbeats=(0, 0))
    conn.set_listener("marker", receipts)
    conn.connect(wait=True)
    try:
        conn.send(
            destination,
            f"marker {token}",
            headers={"persistent": "true", MARKER_HEADER: token, "receipt": token},
        )
        with receipts.condition:
            confirmed = receipts.condition.wait_for(lambda: token in receipts.ids, timeout)
        assert confirmed, f"no receipt for the marker on {destination} within {timeout:g} s"
    finally:
        with contextlib.suppress(Exception):
            conn.disconnect()
    return token


class Subscriber(stomp.ConnectionListener):
    """A bare stomp.py client on ``destination`` that takes (and acks) whatever comes; the
    markers are kept apart from ``frames``."""

    def __init__(self, address: str, destination: str, *, auto_decode: bool = True) -> None:
        self.address = address
        self.destination = destination
        self.frames: list[Any] = []
        self._markers: set[str] = set()
        self._arrived = threading.Condition()
        self.conn = stomp.Connection12(
            [_endpoint(address)], heartbeats=(0, 0), auto_decode=auto_decode
        )
        self.conn.set_listener("subscriber", self)
        self.conn.connect(wait=True)
        self.conn.subscribe(destination, id="1", ack="auto")

    def on_message(self, frame: Any) -> None:
        with self._arrived:
            token = frame.headers.get(MARKER_HEADER)
            if token is None:
                self.frames.append(frame)
            else:
                self._markers.add(token)
            self._arrived.notify_all()

    @property
    def bodies(self) -> list[Any]:
        with self._arrived:
            return [frame.body for frame in self.frames]

    def wait_for(self, count: int, timeout: float = 30) -> list[Any]:
        """The bodies once at least ``count`` came (or ``timeout`` passed)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.frames) >= count, timeout)
        return self.bodies

    def drain(self, timeout: float = 60) -> list[Any]:
        """Every body sent to the destination so far: a marker sent now has come back."""
        token = send_marker(self.address, self.destination)
        with self._arrived:
            back = self._arrived.wait_for(lambda: token in self._markers, timeout)
        assert back, f"the marker on {self.destination} did not come back within {timeout:g} s"
        return self.bodies

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.disconnect()
