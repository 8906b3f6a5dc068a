"""Machine/Job Features of a simulated VM, and a Vac-style MJF HTTP server to serve them.

The healthy tree is what Vac writes; the unhealthy one carries the faults the probe must
find: the Vcycle 03.x bug (the UUID in ``jobstart_secs``), a required key missing
(``cpu_limit_secs``) and a job shutdown time after the machine's.
"""

from __future__ import annotations

import html
import json
import ssl
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from vmsam.demo.simulate import VMLayout
from vmsam.demo.simulate._mounts import Mounter

CPUS = 8
HS06_PER_CPU = 10.5
WALL_LIMIT_SECS = 172800


def machine_features(now: int) -> dict[str, str]:
    return {
        "total_cpu": str(CPUS),
        "hs06": f"{CPUS * HS06_PER_CPU:.1f}",
        "shutdowntime": str(now + 6 * 3600),
        "jobslots": "1",
        "phys_cores": str(CPUS // 2),
        "log_cores": str(CPUS),
    }


def job_features(now: int, uuid: str) -> dict[str, str]:
    # no scratch_limit_bytes, as Vac: check_wn_scratch would take it as the minimum size,
    # and the simulated scratch is far smaller than a real job's limit
    return {
        "allocated_cpu": str(CPUS),
        "hs06_job": f"{CPUS * HS06_PER_CPU:.1f}",
        "shutdowntime_job": str(now + 5 * 3600),
        "jobstart_secs": str(now - 120),
        "job_id": uuid,
        "wall_limit_secs": str(WALL_LIMIT_SECS),
        "cpu_limit_secs": str(WALL_LIMIT_SECS * CPUS),
        "max_rss_bytes": str(CPUS * 2 * 10**9),
    }


def write_features(directory: Path, values: Mapping[str, str]) -> None:
    """One file per key, with the trailing newline real factories leave."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        if stale.is_file() and stale.name not in values:
            stale.unlink()
    for key, value in values.items():
        (directory / key).write_text(value + "\n")


def simulate(layout: VMLayout, mounter: Mounter, *, healthy: bool) -> list[str]:
    """Write the MJF directories of ``layout``; the check_wn_mjf arguments that read them.

    MJF lives in plain directories: ``mounter`` is not needed.
    """
    now = int(time.time())
    machine = machine_features(now)
    job = job_features(now, layout.uuid)
    if not healthy:
        job["jobstart_secs"] = layout.uuid
        del job["job_id"]
        del job["cpu_limit_secs"]
        job["shutdowntime_job"] = str(int(machine["shutdowntime"]) + 3600)
    write_features(layout.machinefeatures, machine)
    write_features(layout.jobfeatures, job)
    return [
        "--machinefeatures",
        str(layout.machinefeatures),
        "--jobfeatures",
        str(layout.jobfeatures),
        "--no-discovery",
        "--uuid",
        layout.uuid,
    ]


class MJFServer:
    """Vac's metadata server on 127.0.0.1: ``/machinefeatures`` and ``/jobfeatures``.

    A directory GET answers an HTML list of links (``/machinefeatures`` redirects to
    ``/machinefeatures/`` first), a key is ``/<set>/<key>``, a missing key is 404.
    ``/moved/<set>/<key>`` redirects to the key, as a proxy in front of a server may.
    With ``meta`` it also answers OpenStack's ``/openstack/latest/meta_data.json`` with
    those ``meta`` keys. With ``hang`` it accepts connections and never answers. With
    ``tls`` (a server-side context) it speaks HTTPS, as Vcycle's MJF server does.
    """

    def __init__(
        self,
        machinefeatures: Path | None = None,
        jobfeatures: Path | None = None,
        *,
        meta: Mapping[str, str] | None = None,
        hang: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.directories = {"machinefeatures": machinefeatures, "jobfeatures": jobfeatures}
        self.meta = dict(meta) if meta is not None else None
        self.hang = hang
        self.released = threading.Event()
        self.requests: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    @property
    def machinefeatures_url(self) -> str:
        return f"{self.url}/machinefeatures"

    @property
    def jobfeatures_url(self) -> str:
        return f"{self.url}/jobfeatures"

    def start(self) -> MJFServer:
        # a short poll keeps stop() quick: tests start and stop many servers
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()  # lets hanging handlers go
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> MJFServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, path: str) -> tuple[HTTPStatus, str, str]:
        """Status, content type and body for a GET of ``path``; redirects carry the target."""
        self.requests.append(path)
        parts = [unquote(part) for part in urlsplit(path).path.split("/")[1:]]
        if parts[:1] == ["moved"] and len(parts) == 3:
            return HTTPStatus.FOUND, "", "/" + "/".join(quote(part) for part in parts[1:])
        if parts == ["openstack", "latest", "meta_data.json"] and self.meta is not None:
            return HTTPStatus.OK, "application/json", json.dumps({"meta": self.meta})
        return self._feature(parts)

    def _feature(self, parts: list[str]) -> tuple[HTTPStatus, str, str]:
        directory = self.directories.get(parts[0]) if parts else None
        if directory is None:
            return HTTPStatus.NOT_FOUND, "text/plain", "not found\n"
        if len(parts) == 1:
            return HTTPStatus.MOVED_PERMANENTLY, "", f"/{quote(parts[0])}/"
        if parts[1:] == [""]:
            return HTTPStatus.OK, "text/html", _index(parts[0], directory)
        key = directory / parts[1]
        if len(parts) != 2 or parts[1].startswith(".") or not key.is_file():
            return HTTPStatus.NOT_FOUND, "text/plain", "not found\n"
        return HTTPStatus.OK, "text/plain", key.read_text()


def _index(name: str, directory: Path) -> str:
    links = "".join(
        f'<li><a href="{html.escape(quote(key.name))}">{html.escape(key.name)}</a></li>\n'
        for key in sorted(directory.iterdir())
        if key.is_file()
    )
    return (
        f"<html><head><title>{name}</title></head><body>\n"
        f'<ul>\n<li><a href="../">Parent Directory</a></li>\n{links}</ul>\n</body></html>\n'
    )


def _handler_for(server: MJFServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def handle(self) -> None:
            if server.hang:
                server.released.wait()
                return
            super().handle()

        def do_GET(self) -> None:
            status, content_type, body = server.answer(self.path)
            if status in {HTTPStatus.FOUND, HTTPStatus.MOVED_PERMANENTLY}:
                self.send_response(status)
                self.send_header("Location", body)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests and demos read the server's ``requests`` instead."""

    return Handler
