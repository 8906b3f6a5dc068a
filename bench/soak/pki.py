"""The grid the soak runs in: a few sites of VM-only spaces, each space with the host
certificate of its VM factory from one test CA (``tests.support.testca``), the CA directory
and allow-list the consumers trust, and the credentials a forger would have: a CA the
directory does not hold, and a CA that copies the trusted one's name with a key of its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.support.testca import Credential, TestCA, one_line

VO = "dteam"
SERVICE_TYPE = "uk.ac.gridpp.vac"
CA_NAME = "vmsam Soak CA"


@dataclass(frozen=True)
class Space:
    """A VM-only space (its endpoint, the hostName of its results) of one site, and the
    certificate file its VMs sign with."""

    site: str
    name: str
    credential: Credential
    cert_file: Path


@dataclass(frozen=True)
class Grid:
    spaces: tuple[Space, ...]
    ca_dir: Path
    allow_list: Path
    # signs with a key no CA of the directory issued
    outsider: Credential
    # a certificate naming the trusted CA as its issuer, signed by another key
    impostor: Credential

    @property
    def sites(self) -> list[str]:
        return sorted({space.site for space in self.spaces})


def space_names(sites: int, spaces_per_site: int) -> list[tuple[str, str]]:
    """(site, space) pairs: ``UKI-SOAK-A`` with ``vac01.a.soak.example.org`` and so on."""
    pairs = []
    for s in range(sites):
        letter = chr(ord("A") + s)
        for p in range(spaces_per_site):
            pairs.append(
                (f"UKI-SOAK-{letter}", f"vac{p + 1:02d}.{letter.lower()}.soak.example.org")
            )
    return pairs


def build(directory: Path, sites: int, spaces_per_site: int) -> Grid:
    """Certificates, CA directory and allow-list in ``directory``: each space's
    certificate may report for its own site and space only."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = TestCA(CA_NAME)
    spaces = []
    for site, name in space_names(sites, spaces_per_site):
        credential = ca.host(name)
        cert_file = credential.write(directory / f"{name}.pem")
        spaces.append(Space(site, name, credential, cert_file))
    ca_dir = ca.install(directory / "certificates")
    allow_list = directory / "allow-list"
    allow_list.write_text(
        "".join(f'"{one_line(s.credential.subject)}"  {s.site}/{s.name}\n' for s in spaces)
    )
    outsider = TestCA("Nobody's CA").host("intruder.example.org")
    impostor = TestCA(CA_NAME).host(spaces[0].name)
    return Grid(tuple(spaces), ca_dir, allow_list, outsider, impostor)
