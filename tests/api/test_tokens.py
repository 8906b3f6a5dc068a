"""The tokens of writes: the file's format, what a bad file does, and that a change of the
file is seen at the next request (unit tests: files, no server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vmsam.server.api._tokens import TokenFileError, Tokens, fingerprint

ALICE = "alice-token-0123456789"
BOB = "bob-token-abcdefghijk"


def write(path: Path, text: str, *, tick: int = 1) -> None:
    """Write ``text`` and move the modification time on, as a later edit would."""
    mtime = path.stat().st_mtime_ns if path.exists() else 10**18
    path.write_text(text)
    os.utime(path, ns=(mtime + tick * 10**9, mtime + tick * 10**9))


def test_names_comments_and_blank_lines(tmp_path):
    path = tmp_path / "tokens"
    write(path, f"# operators\n\nalice:{ALICE}\n   {BOB}   \n# bob has no name\n")
    tokens = Tokens("", str(path))
    assert tokens.name_of(ALICE) == "alice"
    assert tokens.name_of(BOB) == fingerprint(BOB)
    assert fingerprint(BOB).startswith("token-")
    assert BOB not in fingerprint(BOB)
    for wrong in ("", "alice", ALICE + "x", ALICE[:-1], f"alice:{ALICE}", "# operators"):
        assert tokens.name_of(wrong) is None, wrong


def test_the_inline_token_counts_besides_the_file(tmp_path):
    path = tmp_path / "tokens"
    write(path, f"alice:{ALICE}\n")
    tokens = Tokens("inline-token", str(path))
    assert tokens.name_of("inline-token") == fingerprint("inline-token")
    assert tokens.name_of(ALICE) == "alice"
    assert Tokens("", "").current() == ()


def test_a_change_of_the_file_is_seen_at_the_next_request(tmp_path):
    path = tmp_path / "tokens"
    write(path, f"alice:{ALICE}\n")
    tokens = Tokens("", str(path))
    assert tokens.name_of(ALICE) == "alice"
    # the same size, another token: the modification time tells
    write(path, f"alice:{ALICE[::-1]}\n")
    assert tokens.name_of(ALICE) is None
    assert tokens.name_of(ALICE[::-1]) == "alice"
    # replaced by another file (an editor's rename): the inode tells
    replacement = tmp_path / "tokens.new"
    replacement.write_text(f"bob:{BOB}\n")
    os.replace(replacement, path)
    assert tokens.name_of(BOB) == "bob"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("this line has spaces\n", "line 1: a token is printable ASCII without spaces"),
        (f"ok:{ALICE}\nshort\n", "line 2: a token has at least 16 characters"),
        (f"al ice:{ALICE}\n", "line 1: a name is letters, digits"),
        ("alice:\n", "line 1: a token is printable ASCII"),
        (f"alice:{ALICE}é\n", "line 1: a token is printable ASCII"),
    ],
)
def test_a_garbled_file_refuses_every_token_until_fixed(tmp_path, caplog, text, words):
    path = tmp_path / "tokens"
    write(path, text)
    tokens = Tokens("inline-token", str(path))
    with pytest.raises(TokenFileError, match=words):
        tokens.name_of("inline-token")  # fail closed: the inline token too
    assert words in caplog.text
    assert ALICE not in caplog.text
    write(path, f"alice:{ALICE}\n")
    assert tokens.name_of(ALICE) == "alice"


def test_a_missing_or_unreadable_file_refuses_writes(tmp_path, caplog):
    path = tmp_path / "tokens"
    tokens = Tokens("", str(path))
    with pytest.raises(TokenFileError, match="No such file"):
        tokens.current()
    path.write_bytes(b"alice:\xff\xfe-not-utf-8-at-all\n")
    with pytest.raises(TokenFileError, match="not UTF-8"):
        tokens.current()
    assert caplog.text.count("refuses every write") == 2  # once per problem
    with pytest.raises(TokenFileError):
        tokens.current()
    assert caplog.text.count("refuses every write") == 2
