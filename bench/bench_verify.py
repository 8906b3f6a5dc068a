"""Messages per second that the consumer's parse step takes on one core, signed and not.

What ``broker.consumer`` runs per message (``vmsam.server.trust.receive``): for a record
without a CA directory, for an unsigned record under the ``flag`` policy, and for records
signed with an RSA 2048 host certificate, an RSA proxy of it and an EC P-256 certificate
(their path checked once, then cached, as the consumer does), all decoded and validated.
A test CA is made for the run.

    .venv/bin/python -m bench.bench_verify [-n 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.support.consumer import record
from tests.support.testca import Credential, TestCA, one_line
from vmsam.server.trust import Verifier, receive
from vmsam.vm.signing import Credential as SigningCredential
from vmsam.vm.signing import Signer

SITE, SPACE = "UKI-BENCH", "vac01.bench.example"


def rate(count: int, step: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for index in range(count):
        step(index)
    return count / (time.perf_counter() - started)


def signed_bodies(credential: Credential, count: int, directory: Path) -> list[bytes]:
    path = credential.write(directory / f"{uuid.uuid4().hex}.pem")
    signer = Signer.load(SigningCredential(str(path)))
    run = uuid.uuid4().hex
    return [
        signer.sign(record(i, site=SITE, endpoint=SPACE, run=run)).encode() for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="messages per case (20000)")
    count = parser.parse_args().n
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        rsa, ec = TestCA(), TestCA("EC CA", ec_keys=True)
        host, ec_host = rsa.host(SPACE), ec.host(SPACE)
        rsa.install(directory / "certificates", "rsa-ca")
        ec.install(directory / "certificates", "ec-ca")
        allow = directory / "allow-list"
        allow.write_text(f'"{one_line(host.subject)}" {SITE}\n')
        verifier = Verifier(directory / "certificates", allow, "flag")
        plain = [record(i, site=SITE, endpoint=SPACE).encode() for i in range(count)]
        cases: dict[str, tuple[Verifier | None, list[bytes]]] = {
            "unsigned, no CA directory": (None, plain),
            "unsigned, policy flag": (verifier, plain),
            "signed, RSA 2048 host": (verifier, signed_bodies(host, count, directory)),
            "signed, RSA proxy": (verifier, signed_bodies(rsa.proxy(host), count, directory)),
            "signed, EC P-256 host": (verifier, signed_bodies(ec_host, count, directory)),
        }
        print(f"{'case':<28}{'messages/s':>12}")
        for label, (checker, bodies) in cases.items():
            assert receive(bodies[0], {}, checker).result is not None, label
            per_second = rate(count, lambda i, b=bodies, c=checker: receive(b[i], {}, c))
            print(f"{label:<28}{per_second:>12,.0f}")


if __name__ == "__main__":
    main()
