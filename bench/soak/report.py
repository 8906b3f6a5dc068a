"""The figures of a soak run as text: counts, faults, hostile kinds, A/R, and the checks."""

from __future__ import annotations

from collections import Counter

from bench.soak.compare import SiteAR
from bench.soak.run import Outcome


def _ar_lines(sites: list[SiteAR]) -> list[str]:
    lines = [
        f"  {'site':12} {'day':10}  {'A record':>9} {'A store':>9}  {'R record':>9} {'R store':>9}"
    ]
    for site in sites:
        days = max(len(site.from_record), len(site.from_store))
        for i in range(days):
            mine = site.from_record[i] if i < len(site.from_record) else {}
            theirs = site.from_store[i] if i < len(site.from_store) else {}
            day = str(mine.get("date") or theirs.get("date"))
            lines.append(
                f"  {site.site:12} {day:10}  {mine.get('availability', '-')!s:>9}"
                f" {theirs.get('availability', '-')!s:>9}  {mine.get('reliability', '-')!s:>9}"
                f" {theirs.get('reliability', '-')!s:>9}{'' if mine == theirs else '  DIFFERENT'}"
            )
        if site.error:
            lines.append(f"  {site.site:12} store: {site.error}")
    return lines


def report(outcome: Outcome) -> str:
    c = outcome.comparison
    plan = outcome.plan
    faults = Counter(done.fault.kind for done in outcome.faults)
    lines = [
        "",
        f"soak of {plan.minutes:g} min, {plan.boots_per_second:g} boots/s, seed {plan.seed}",
        f"  published:          {outcome.valid_published + outcome.hostile_published}"
        f" ({outcome.valid_published} valid from {plan.boots} VMs,"
        f" {outcome.hostile_published} hostile)",
        "  faults injected:    "
        + (", ".join(f"{kind} {n}" for kind, n in sorted(faults.items())) or "none"),
        f"  VM sends:           {outcome.attempts} ({outcome.retries} left something in the"
        " spool for a later try)",
        f"  stored exactly once: {c.stored_once} of {c.valid} valid ({c.stored} rows)",
        f"  lost:               {c.lost}",
        f"  duplicated:         {c.duplicated}",
        f"  hostile stored:     {c.unexpected}",
        f"  dead letters:       {c.dead_letters} rows: {c.dead_lettered} of {c.hostile}"
        f" hostile, {c.dead_letter_copies} again after a redelivery,"
        f" {c.not_hostile} not hostile",
        f"  consumers' commits: {outcome.commits['stored']} stored,"
        f" {outcome.commits['duplicates']} redelivered duplicates absorbed,"
        f" {outcome.commits['dead_letters']} dead-lettered",
        f"  left on the queue:  {outcome.left_on_queue}",
        f"  times:              publishing {outcome.publish_seconds:.0f} s,"
        f" drain {outcome.drain_seconds:.0f} s",
        "  hostile kinds and their dead letters' reasons:",
    ]
    for kind, reasons in sorted(c.reasons.items()):
        listed = "; ".join(f"{reason} x{n}" for reason, n in reasons.most_common())
        lines.append(f"    {kind:14} {listed}")
    lines += [f"    WRONG REASON {line}" for line in c.wrong_reason]
    lines += [f"  error: {error}" for error in outcome.errors]
    lines.append(
        "  daily A/R from the publishers' record (engine) and from the store (ar_document):"
    )
    lines += _ar_lines(c.ar)
    lines.append("checks:")
    lines += [f"  [{'ok' if passed else 'FAILED'}] {name}" for name, passed in outcome.checks()]
    lines.append("soak " + ("passed" if outcome.ok else "FAILED"))
    return "\n".join(lines)
