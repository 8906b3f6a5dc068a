"""Delivering one notification: an e-mail through an SMTP server, or a JSON POST to a
webhook. Both bounded by a timeout; a failure is one line (``DeliveryFailed``)."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

EMAIL = "email"
WEBHOOK = "webhook"
TIMEOUT_SECONDS = 10.0


class DeliveryFailed(Exception):
    """A notification not delivered this time: the reason, one line."""


@dataclass(frozen=True)
class Senders:
    """Where and how notifications go: the SMTP server (None: e-mail is not sent and waits
    in the outbox) and the sender's address."""

    smtp_host: str | None
    smtp_port: int
    sender: str
    timeout: float = TIMEOUT_SECONDS

    def deliver(self, channel: str, address: str, document: dict[str, Any]) -> None:
        if channel == EMAIL:
            self._mail(address, document)
        else:
            self._post(address, document)

    def _mail(self, address: str, document: dict[str, Any]) -> None:
        if self.smtp_host is None:
            raise DeliveryFailed("no SMTP server given (--smtp)")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = f"[vmsam] {document['summary']}"
        message.set_content(email_text(document))
        try:
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(
                f"SMTP {self.smtp_host}:{self.smtp_port}: {_one_line(exc)}"
            ) from None

    def _post(self, url: str, document: dict[str, Any]) -> None:
        try:
            response = httpx.post(url, json=document, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{_one_line(exc)}") from None
        if not response.is_success:
            raise DeliveryFailed(f"answered HTTP {response.status_code}")


def email_text(document: dict[str, Any]) -> str:
    """The body of the e-mail: one line per space, then how to acknowledge."""
    lines = [f"{document['summary']} (at {document['at']})", ""]
    for space in document["spaces"]:
        lines.append(
            f"  {space['event']:<9} {space['status']:<8} {space['endpoint']}"
            f" ({space['service_type']}, {space['vo']}) since {space['since']}"
        )
    if any(space["event"] != "recovered" for space in document["spaces"]):
        lines += ["", f"Stop the reminders: vmsam alerts ack --site {document['site']}"]
    return "\n".join(lines) + "\n"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]
