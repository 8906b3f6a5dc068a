"""joboutputs: a local directory or an HTTP URL taking PUT, as Vac and Vcycle provide."""

from __future__ import annotations

import http.server
import threading

import pytest

from vmsam.vm import joboutputs


class _PutHandler(http.server.BaseHTTPRequestHandler):
    stored: dict[str, bytes]

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        if self.path.startswith("/forbidden/"):
            self.send_response(403)
        else:
            self.stored[self.path] = self.rfile.read(length)
            self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def put_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PutHandler)
    _PutHandler.stored = {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _PutHandler.stored
    server.shutdown()


def test_local_directory_is_created_and_file_replaced(tmp_path):
    target = tmp_path / "joboutputs"
    joboutputs.write(str(target), "a.json", "one")
    joboutputs.write(str(target), "a.json", "two")
    assert (target / "a.json").read_text() == "two"
    assert [p.name for p in target.iterdir()] == ["a.json"]


def test_http_put(put_server):
    url, stored = put_server
    joboutputs.write(url + "/jo/", "shutdown_message", "500 broken")
    assert stored == {"/jo/shutdown_message": b"500 broken"}


def test_http_refusal_and_unreachable_are_typed_errors(put_server):
    url, _ = put_server
    with pytest.raises(joboutputs.JobOutputsError, match="HTTP 403"):
        joboutputs.write(url + "/forbidden", "x", "y")
    with pytest.raises(joboutputs.JobOutputsError, match="cannot PUT"):
        joboutputs.write("http://127.0.0.1:9", "x", "y", timeout=2)


def test_unwritable_directory_is_a_typed_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(joboutputs.JobOutputsError, match="cannot write"):
        joboutputs.write(str(blocker / "sub"), "x", "y")


def test_shutdown_message_is_one_line_with_a_code():
    assert joboutputs.shutdown_message("cvmfs:\n lhcb.cern.ch not mounted") == (
        "500 cvmfs: lhcb.cern.ch not mounted"
    )
