"""Fixtures of the alert tests: the state store on SQLite and PostgreSQL, a real SMTP server
(aiosmtpd, in-process) and a real HTTP server for the webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.net import free_port
from tests.support.postgres import fresh_database
from vmsam.server.store import Store


@pytest.fixture(scope="session")
def alerts_pg_url() -> Iterator[str]:
    with fresh_database("vmsam_alerts") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/vmsam.db"
    url: str = request.getfixturevalue("alerts_pg_url")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        tables = [t for t in sa.inspect(connection).get_table_names() if t != "alembic_version"]
        if tables:
            connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = Store(db_url)
    yield opened
    opened.close()


class Mailbox:
    """What the SMTP server received: one parsed message per recipient."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        for recipient in envelope.rcpt_tos:
            message = message_from_bytes(content)
            message["X-Envelope-To"] = recipient
            self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, mailbox
    controller.stop()


class Hooks:
    """What the webhook server received (path, JSON document); answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.status = 204


@pytest.fixture
def webhook() -> Iterator[tuple[str, Hooks]]:
    hooks = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            hooks.received.append((self.path, json.loads(self.rfile.read(length))))
            self.send_response(hooks.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hooks
    server.shutdown()
    server.server_close()
