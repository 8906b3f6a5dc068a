"""Hostile messages, sent straight to the queue by a raw stomp.py client (persistent, each
confirmed by a receipt and sent again when it was not: at least once, as the VMs do).

Fuzzed bodies: random bytes, a signed message cut short, a record with a bad field signed
by the space's own certificate (the signature holds, the record does not). Forged
signatures: a key the trusted CA never issued, a certificate that names the trusted CA as its
issuer but was signed by another key, a valid signature over a body changed afterwards, and
a valid certificate of one site signing a result for another. Each is a fresh record (a VM
UUID of its own), so no hostile body equals another or a valid one.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bench.soak.ledger import Ledger
from bench.soak.pki import Grid, Space
from tests.support.consumer import Sender
from tests.support.testca import Credential
from vmsam.shared.messages import MetricResult, encode
from vmsam.vm.signing import Credential as SigningCredential
from vmsam.vm.signing import Signer

# the reason each kind must be dead-lettered with (matched at its start)
_SIGNATURE_REASONS = "not a valid signed|signature does not|signer |unknown CA |certificate "
EXPECTED_REASONS: dict[str, re.Pattern[str]] = {
    "random bytes": re.compile(re.escape("unsigned message refused (policy reject)")),
    "cut short": re.compile("not a valid signed message: "),
    # the signature holds: the record itself is refused
    "bad field": re.compile(f"(?!{_SIGNATURE_REASONS})."),
    "unknown CA": re.compile("unknown CA "),
    "forged issuer": re.compile("certificate signature invalid: "),
    "tampered body": re.compile("signature does not match the content"),
    "other site": re.compile("signer .* not allowed to report for site "),
}
KINDS = tuple(EXPECTED_REASONS)
# how long the raw client keeps trying to get one message confirmed (broker restarts)
SEND_TIMEOUT = 600.0


@dataclass(frozen=True)
class _Forgers:
    outsider: Signer
    impostor: Signer
    by_space: dict[str, Signer]


def _signer(credential: Credential, directory: Path, name: str) -> Signer:
    return Signer.load(SigningCredential(str(credential.write(directory / f"{name}.pem"))))


class HostileFactory:
    """Makes hostile bodies of each kind, from a seeded RNG."""

    def __init__(self, grid: Grid, directory: Path, day: datetime, seed: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._grid = grid
        self._rng = random.Random(f"{seed}/hostile")
        self._day = day
        self._signers = _Forgers(
            _signer(grid.outsider, directory, "outsider"),
            _signer(grid.impostor, directory, "impostor"),
            {s.name: Signer.load(SigningCredential(str(s.cert_file))) for s in grid.spaces},
        )
        self._makers: dict[str, Callable[[], bytes]] = {
            "random bytes": self._random_bytes,
            "cut short": self._cut_short,
            "bad field": self._bad_field,
            "unknown CA": lambda: self._signed_by(self._signers.outsider),
            "forged issuer": lambda: self._signed_by(self._signers.impostor),
            "tampered body": self._tampered,
            "other site": self._other_site,
        }

    def make(self, kind: str) -> bytes:
        return self._makers[kind]()

    def _space(self) -> Space:
        return self._rng.choice(self._grid.spaces)

    def _record(self, space: Space, status: str = "OK") -> str:
        vm = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        moment = self._day + timedelta(seconds=self._rng.randrange(86_000))
        return encode(
            MetricResult(
                service_uri=space.name,
                host_name=space.name,
                service_flavour="uk.ac.gridpp.vac",
                site_name=space.site,
                status=status,
                metric_name="org.dteam.WN-cvmfs",
                summary=f"{status} - forged",
                gathered_at=f"intruder.{space.name}",
                timestamp=moment,
                service_type="uk.ac.gridpp.vac",
                vo_name="dteam",
                vm_uuid=vm,
            )
        )

    def _random_bytes(self) -> bytes:
        return self._rng.randbytes(self._rng.randrange(16, 2048))

    def _cut_short(self) -> bytes:
        space = self._space()
        whole = self._signers.by_space[space.name].sign(self._record(space)).encode()
        return whole[: self._rng.randrange(len(whole) // 10, len(whole) * 9 // 10)]

    def _bad_field(self) -> bytes:
        space = self._space()
        record = self._record(space)
        broken = self._rng.choice(
            [
                record.replace("metricStatus: OK", "metricStatus: MAYBE"),
                record.replace("timestamp: ", "timestamp: yesterday-ish "),
                "\n".join(line for line in record.splitlines() if not line.startswith("hostName:")),
            ]
        )
        return self._signers.by_space[space.name].sign(broken).encode()

    def _signed_by(self, signer: Signer) -> bytes:
        return signer.sign(self._record(self._space())).encode()

    def _tampered(self) -> bytes:
        space = self._space()
        signed = self._signers.by_space[space.name].sign(self._record(space, "CRITICAL"))
        return signed.replace("metricStatus: CRITICAL", "metricStatus: OK").encode()

    def _other_site(self) -> bytes:
        """A certificate of one site signing a result that claims another site's space."""
        space = self._space()
        others = [s for s in self._grid.spaces if s.site != space.site]
        return (
            self._signers.by_space[self._rng.choice(others).name].sign(self._record(space)).encode()
        )


class HostileSender:
    """Sends ``count`` hostile messages, of every kind in turn, at random moments of the
    publishing phase."""

    def __init__(
        self,
        factory: HostileFactory,
        ledger: Ledger,
        address: str,
        destination: str,
        *,
        count: int,
        seconds: float,
        seed: int,
    ) -> None:
        rng = random.Random(f"{seed}/hostile-times")
        self._moments = sorted(rng.uniform(0, seconds) for _ in range(count))
        self._factory, self._ledger = factory, ledger
        self._sender = Sender(address, destination, chunk=1)
        self.sent = 0
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="soak-hostile", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self) -> None:
        self._thread.join()

    def _body(self, kind: str) -> bytes:
        while True:
            body = self._factory.make(kind)
            if self._ledger.add_hostile(body, kind):
                return body

    def _run(self) -> None:
        begin = time.monotonic()
        try:
            for index, moment in enumerate(self._moments):
                time.sleep(max(0.0, begin + moment - time.monotonic()))
                body = self._body(KINDS[index % len(KINDS)])
                self._sender.send([body], timeout=SEND_TIMEOUT)
                self.sent += 1
        except (AssertionError, OSError) as exc:  # the raw client gave up on the broker
            self.errors.append(f"hostile sender: {exc}")
        finally:
            self._sender.close()
