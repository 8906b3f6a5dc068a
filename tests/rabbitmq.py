"""RabbitMQ's STOMP adapter for the tests: Debian's ``rabbitmq-server`` with ``rabbitmq_stomp``
enabled, as ``scripts/system-deps`` leaves it: STOMP on 127.0.0.1:61613, the ``guest`` login
(RabbitMQ lets it in from loopback only) and the virtual host ``/``.

Tests import ``rabbitmq_fixture`` for their ``rabbitmq`` argument. One broker for the
machine, so every test takes queues of its own (``RabbitMQ.queue``); they are durable on
RabbitMQ (``/queue/<name>``) and deleted at the end of the run.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

HOST, PORT = "127.0.0.1", 61613
USER = PASSWORD = "guest"
VHOST = "/"


def answer(
    host: str = HOST,
    port: int = PORT,
    *,
    vhost: str | None = VHOST,
    login: str = USER,
    passcode: str = PASSWORD,
    timeout: float = 5.0,
) -> bytes:
    """The broker's first frame in answer to a bare STOMP 1.2 CONNECT (b"" when none)."""
    lines = ["CONNECT", "accept-version:1.2"]
    if vhost is not None:
        lines.append(f"host:{vhost}")
    if login:
        lines += [f"login:{login}", f"passcode:{passcode}"]
    frame = "\n".join(lines).encode() + b"\n\n\x00"
    data = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(frame)
            while b"\x00" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return b""
    return data


@dataclass
class RabbitMQ:
    host: str = HOST
    port: int = PORT
    user: str = USER
    password: str = PASSWORD
    vhost: str = VHOST
    queues: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def queue(self, purpose: str = "test") -> str:
        """A STOMP destination of a new queue of this run."""
        name = f"vmsam.{purpose}.{uuid.uuid4().hex}"
        self.queues.append(name)
        return f"/queue/{name}"

    def delete_queues(self) -> None:
        """Best effort: ``rabbitmqctl`` needs root (or the rabbitmq user) on this machine."""
        rabbitmqctl = shutil.which("rabbitmqctl")
        if rabbitmqctl is None:
            return
        for name in self.queues:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    [rabbitmqctl, "-q", "delete_queue", name],
                    capture_output=True,
                    timeout=30,
                    check=False,
                )
        self.queues.clear()


@pytest.fixture(scope="session", name="rabbitmq")
def rabbitmq_fixture() -> Iterator[RabbitMQ]:
    """The machine's RabbitMQ, checked to take a STOMP login on virtual host ``/``."""
    broker = RabbitMQ()
    first = answer(broker.host, broker.port)
    if not first.startswith(b"CONNECTED"):
        pytest.fail(
            f"RabbitMQ's STOMP adapter does not take guest/guest on {broker.address}"
            f" (run 'make test' or scripts/system-deps): {first[:200]!r}"
        )
    yield broker
    broker.delete_queues()
