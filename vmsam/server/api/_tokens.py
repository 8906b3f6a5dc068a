"""The tokens that may write: ``[api] token`` and the lines of ``[api] token_file``.

The file is read again whenever its size, modification time or inode change (a ``stat``
per authenticated request), so a token is added or withdrawn without a restart. One token
per line, or ``name:token`` so that the audit log says who; ``#`` starts a comment line,
blank lines are ignored. A file that cannot be read or holds a line that is no token
refuses every write (fail closed: a token being withdrawn must not stay valid) until it
is fixed; each problem is logged once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
from dataclasses import dataclass

__all__ = ["MIN_TOKEN_LENGTH", "TokenFileError", "Tokens", "fingerprint"]

_log = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16
_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_TOKEN = re.compile(r"[\x21-\x7e]+")  # printable ASCII without spaces, as a bearer token is
_Signature = tuple[int, int, int]  # inode, size, modification time (ns)


class TokenFileError(Exception):
    """The token file cannot be used; the message (for the log) says why."""


@dataclass(frozen=True)
class _Token:
    name: str
    secret: bytes


@dataclass(frozen=True)
class _FileState:
    """What the file held when it had ``signature``: its tokens, or why it is unusable.
    Replaced whole, so a request never sees half of one reading and half of the next."""

    signature: _Signature | None = None
    tokens: tuple[_Token, ...] = ()
    problem: str | None = None


def fingerprint(secret: str) -> str:
    """A short name for an unnamed token that does not give the token away."""
    return "token-" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _parse(text: str, path: str) -> tuple[_Token, ...]:
    tokens = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, secret = line.partition(":")
        if not separator:
            name, secret = "", line
        where = f"{path} line {number}"
        if separator and not _NAME.fullmatch(name):
            raise TokenFileError(f"{where}: a name is letters, digits and ._@- (at most 64)")
        if not _TOKEN.fullmatch(secret):
            raise TokenFileError(f"{where}: a token is printable ASCII without spaces")
        if len(secret) < MIN_TOKEN_LENGTH:
            raise TokenFileError(f"{where}: a token has at least {MIN_TOKEN_LENGTH} characters")
        tokens.append(_Token(name or fingerprint(secret), secret.encode()))
    return tuple(tokens)


class Tokens:
    """Which caller a bearer token is: ``name_of`` compares it with every token in
    constant time (each comparison takes as long whatever the guess, and none is skipped)."""

    def __init__(self, token: str, token_file: str) -> None:
        self._inline = (_Token(fingerprint(token), token.encode()),) if token else ()
        self._path = token_file
        self._lock = threading.Lock()
        self._state = _FileState()

    @property
    def path(self) -> str:
        return self._path

    def current(self) -> tuple[_Token, ...]:
        """Every valid token now; TokenFileError while the file cannot be used."""
        if self._path:
            self._refresh()
        state = self._state
        if state.problem is not None:
            raise TokenFileError(state.problem)
        return self._inline + state.tokens

    def name_of(self, given: str) -> str | None:
        """The name of the token ``given`` is, None when it is none of them."""
        secret = given.encode()
        found = None
        for token in self.current():
            if hmac.compare_digest(secret, token.secret) and found is None:
                found = token.name
        return found

    def _refresh(self) -> None:
        try:
            status = os.stat(self._path)
            signature: _Signature | None = (status.st_ino, status.st_size, status.st_mtime_ns)
        except OSError:
            signature = None  # read below, for the reason
        if signature is not None and signature == self._state.signature:
            return
        with self._lock:
            if signature is not None and signature == self._state.signature:
                return
            self._state = self._read(signature)

    def _read(self, signature: _Signature | None) -> _FileState:
        try:
            with open(self._path, encoding="utf-8") as stream:
                tokens = _parse(stream.read(), self._path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            problem = f"cannot read {self._path}: {reason}"
        except TokenFileError as exc:
            problem = str(exc)
        else:
            _log.info("[api] token_file %s: %d token(s)", self._path, len(tokens))
            return _FileState(signature, tokens)
        if problem != self._state.problem:
            _log.error("[api] token_file refuses every write: %s", problem)
        return _FileState(signature, problem=problem)
