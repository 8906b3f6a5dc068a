"""Run a private ActiveMQ broker (Debian's ``activemq`` package) for development and tests.

Debian's wrapper and init script want systemd, /var and a fixed heap; this starts the broker
jar directly with its data in a directory of our own and STOMP on a free loopback port, so
several runs can share a machine. ``python -m tests.support.activemq`` runs one in the
foreground until Ctrl-C or SIGTERM, and then stops the JVM and removes its data.
With ``Secured`` it also wants a login and opens a second STOMP port over TLS.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.support.net import free_port

ACTIVEMQ_HOME = Path("/usr/share/activemq")
# The --add-opens flags ActiveMQ's own start script passes on JDK 17.
_JDK17_OPENS = [
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.naming/javax.naming.spi=ALL-UNNAMED",
]


class BrokerError(RuntimeError):
    pass


def stomp_ready(
    host: str, port: int, timeout: float = 1.0, *, login: str = "", passcode: str = ""
) -> bool:
    """True when a STOMP CONNECT on host:port is answered with CONNECTED."""
    credentials = f"login:{login}\npasscode:{passcode}\n" if login else ""
    frame = f"CONNECT\naccept-version:1.2\nhost:localhost\n{credentials}\n\x00"
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(frame.encode())
            return conn.recv(64).startswith(b"CONNECTED")
    except OSError:
        return False


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Secured:
    """A broker that wants ``user``/``password`` and also speaks STOMP over TLS: its key and
    certificate in the PKCS12 ``keystore``, the CAs of client certificates in the PKCS12
    ``truststore``, both locked with ``store_password``."""

    keystore: Path
    truststore: Path
    store_password: str
    user: str
    password: str
    need_client_auth: bool = False


class ActiveMQ:
    """One broker process; ``stop``/``kill`` and ``start`` again keep its port and its data."""

    def __init__(
        self, data_dir: Path | None = None, port: int | None = None, secured: Secured | None = None
    ) -> None:
        self._own_data = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="vmsam-activemq-"))
        self.port = port or free_port()
        self.secured = secured
        self.tls_port = free_port() if secured else None
        self.host = "127.0.0.1"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def tls_address(self) -> str:
        if self.tls_port is None:
            raise BrokerError("this broker has no TLS port (it was made without Secured)")
        return f"{self.host}:{self.tls_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _command(self) -> list[str]:
        config = Path(__file__).parent / "activemq"
        java = shutil.which("java")
        if not java or not (ACTIVEMQ_HOME / "bin" / "activemq.jar").exists():
            raise BrokerError("ActiveMQ is not installed: apt-get install activemq")
        return [
            java,
            "-Xms64m",
            "-Xmx1g",
            *_JDK17_OPENS,
            f"-Dactivemq.home={ACTIVEMQ_HOME}",
            f"-Dactivemq.base={self.data_dir}",
            f"-Dactivemq.conf={config}",
            f"-Dactivemq.data={self.data_dir}",
            f"-Dactivemq.classpath={config}",
            f"-Dlog4j.configuration=file:{config}/log4j.properties",
            f"-Dstomp.port={self.port}",
            *self._secured_properties(),
            "-jar",
            str(ACTIVEMQ_HOME / "bin" / "activemq.jar"),
            "start",
            f"xbean:file:{config}/{'activemq-tls.xml' if self.secured else 'activemq.xml'}",
        ]

    def _secured_properties(self) -> list[str]:
        secured = self.secured
        if secured is None:
            return []
        return [
            f"-Dstomp.ssl.port={self.tls_port}",
            f"-Dtls.keystore={secured.keystore}",
            f"-Dtls.truststore={secured.truststore}",
            f"-Dtls.password={secured.store_password}",
            f"-Dtls.need_client_auth={str(secured.need_client_auth).lower()}",
            f"-Dbroker.user={secured.user}",
            f"-Dbroker.password={secured.password}",
        ]

    def _ready(self) -> bool:
        secured = self.secured
        if secured is None:
            return stomp_ready(self.host, self.port)
        # the connectors open one after the other: the TLS one must accept too
        return (
            stomp_ready(self.host, self.port, login=secured.user, passcode=secured.password)
            and self.tls_port is not None
            and _accepts(self.host, self.tls_port)
        )

    def start(self, timeout: float = 60.0) -> None:
        if self._process and self._process.poll() is None:
            return
        log = (self.data_dir / "stdout.log").open("ab")
        self._process = subprocess.Popen(
            self._command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"ActiveMQ exited at start; see {self.data_dir}/stdout.log")
            if self._ready():
                return
            time.sleep(0.2)
        self.kill()
        raise BrokerError(f"ActiveMQ did not open STOMP on {self.address} within {timeout} s")

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        """Orderly shutdown (SIGTERM): persistent messages are kept for the next start."""
        self._signal_and_wait(signal.SIGTERM, timeout=30)

    def kill(self) -> None:
        """Abrupt death (SIGKILL), as in a crash."""
        self._signal_and_wait(signal.SIGKILL, timeout=30)

    def close(self) -> None:
        self.stop()
        if self._own_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> ActiveMQ:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _leave(signum: int, frame: object) -> None:
    # SIGTERM ends the process without unwinding: leave through the context manager instead,
    # which stops the JVM and removes the data directory
    raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="run a private ActiveMQ broker until Ctrl-C or SIGTERM"
    )
    parser.add_argument("--port", type=int, default=None, help="STOMP port (default: a free one)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _leave)
    with ActiveMQ(port=args.port) as broker:
        print(f"ActiveMQ STOMP on {broker.address}, data in {broker.data_dir} (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
