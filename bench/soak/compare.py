"""The store against the publishers' record: each valid result stored exactly once (by its
identity), each hostile body dead-lettered with the reason its kind calls for, nothing else
in either; and the daily A/R of each site from the store (``reports.ar_document``, as the API
and ``vmsam ar`` give it) equal to the engine's figures from the record alone."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from bench.soak.hostile import EXPECTED_REASONS
from bench.soak.ledger import Identity, Ledger, marker, stored_identity
from vmsam.server.availability import Engine, Membership, Sample
from vmsam.server.reports import ar_document
from vmsam.server.store import Store
from vmsam.shared.errors import ReportError


@dataclass
class SiteAR:
    site: str
    from_record: Sequence[Mapping[str, object]]
    from_store: Sequence[Mapping[str, object]]
    error: str = ""  # why the store gave no figures

    @property
    def equal(self) -> bool:
        return self.from_record == self.from_store


@dataclass
class Comparison:
    valid: int = 0
    hostile: int = 0
    stored: int = 0  # rows in the store
    stored_once: int = 0  # valid results stored exactly once
    lost: int = 0  # valid results not stored
    duplicated: int = 0  # extra rows of a result stored more than once
    unexpected: int = 0  # stored results nobody published as valid (a hostile one got in)
    dead_letters: int = 0  # rows in the dead letters
    dead_lettered: int = 0  # hostile bodies found there
    hostile_missing: int = 0  # hostile bodies not there
    dead_letter_copies: int = 0  # a hostile body dead-lettered again after a redelivery
    not_hostile: int = 0  # dead letters of bodies that were not sent as hostile
    wrong_reason: list[str] = field(default_factory=list)
    reasons: dict[str, Counter[str]] = field(default_factory=dict)
    ar: list[SiteAR] = field(default_factory=list)

    @property
    def ar_equal(self) -> bool:
        return bool(self.ar) and all(site.equal for site in self.ar)


def _results(store: Store) -> list[Identity]:
    total, _ = store.results(limit=1)
    _, page = store.results(limit=max(1, total))
    return [stored_identity(result) for result in page]


def compare_results(ledger: Ledger, store: Store, into: Comparison) -> None:
    counts = Counter(_results(store))
    into.valid = len(ledger.valid)
    into.stored = sum(counts.values())
    into.stored_once = sum(1 for key in ledger.valid if counts[key] == 1)
    into.lost = sum(1 for key in ledger.valid if counts[key] == 0)
    into.duplicated = sum(n - 1 for n in counts.values() if n > 1)
    into.unexpected = sum(n for key, n in counts.items() if key not in ledger.valid)


_SUBJECT = re.compile(r"/DC=.*?(?=$| is not | not allowed )")
_QUOTED = re.compile(r"'[^']*'")


def _reason_kind(reason: str) -> str:
    """A reason without what names the message (subjects, values): for the table."""
    general = _QUOTED.sub("'...'", _SUBJECT.sub("<subject>", reason.split(" (", 1)[0]))
    return general[:70]


def compare_dead_letters(ledger: Ledger, store: Store, into: Comparison) -> None:
    total, letters = store.dead_letters(limit=1)
    _, letters = store.dead_letters(limit=max(1, total))
    into.hostile = len(ledger.hostile)
    into.dead_letters = len(letters)
    seen: Counter[str] = Counter()
    for letter in letters:
        key = marker(letter.body.encode())
        kind = ledger.hostile.get(key)
        if kind is None:
            into.not_hostile += 1
            continue
        seen[key] += 1
        if seen[key] > 1:
            continue
        into.reasons.setdefault(kind, Counter())[_reason_kind(letter.reason)] += 1
        if not EXPECTED_REASONS[kind].match(letter.reason):
            into.wrong_reason.append(f"{kind}: {letter.reason[:120]}")
    into.dead_lettered = len(seen)
    into.hostile_missing = sum(1 for key in ledger.hostile if key not in seen)
    into.dead_letter_copies = sum(n - 1 for n in seen.values())


def record_ar(
    ledger: Ledger, *, start: date, end: date, now: datetime
) -> dict[str, list[dict[str, str | float]]]:
    """Each site's daily A/R computed by the engine from the publishers' record alone."""
    samples: dict[tuple[str, str], list[Sample]] = {}
    first_seen: dict[tuple[str, str, str, str], datetime] = {}
    for valid in ledger.valid.values():
        sample = valid.sample
        samples.setdefault((valid.site, valid.vo), []).append(sample)
        key = (sample.endpoint, sample.service_type, valid.site, valid.vo)
        first_seen[key] = min(first_seen.get(key, sample.timestamp), sample.timestamp)
    members = [Membership(*key, first) for key, first in first_seen.items()]
    engine = Engine()
    return {
        site: [
            day.as_result()
            for day in engine.site_days(
                rows, ledger.downtimes, members, site=site, vo=vo, start=start, end=end, now=now
            )
        ]
        for (site, vo), rows in samples.items()
    }


def compare_ar(
    ledger: Ledger,
    store: Store,
    sites: list[str],
    vo: str,
    *,
    start: date,
    end: date,
    now: datetime,
) -> list[SiteAR]:
    expected = record_ar(ledger, start=start, end=end, now=now)
    compared = []
    for site in sites:
        try:
            document = ar_document(store, site=site, start=start, end=end, vo=vo, now=now)
        except ReportError as exc:  # every result of the site lost, say
            compared.append(SiteAR(site, expected.get(site, []), [], str(exc)))
            continue
        results = document["results"]
        assert isinstance(results, list)
        compared.append(SiteAR(site, expected.get(site, []), results))
    return compared


def compare(
    ledger: Ledger,
    store: Store,
    sites: list[str],
    vo: str,
    *,
    start: date,
    end: date,
    now: datetime,
) -> Comparison:
    comparison = Comparison()
    compare_results(ledger, store, comparison)
    compare_dead_letters(ledger, store, comparison)
    comparison.ar = compare_ar(ledger, store, sites, vo, start=start, end=end, now=now)
    return comparison
