"""The one way the server-side tests build a worker-node result; each package keeps its own
defaults in a thin wrapper."""

from __future__ import annotations

from datetime import UTC, datetime

from vmsam.shared.messages import MetricResult

NOW = datetime.now(UTC).replace(microsecond=0)


def result(
    *,
    host: str = "vac01.example.org",
    site: str = "SITE-A",
    test: str = "cvmfs",
    vo: str | None = "lhcb",
    status: str = "OK",
    at: datetime = NOW,
    vm: str | None = "vm-1",
    gathered_at: str = "vm1.example.org",
    service_type: str = "uk.ac.gridpp.vac",
    summary: str = "fine",
    details: str = "line 1\nline 2",
) -> MetricResult:
    """A pilot VM's result for WN-``test``; a record without a VO still names one in its metric."""
    return MetricResult(
        service_uri=host,
        host_name=host,
        service_flavour=service_type,
        site_name=site,
        status=status,
        metric_name=f"org.{vo or 'lhcb'}.WN-{test}",
        summary=summary,
        gathered_at=gathered_at,
        timestamp=at,
        service_type=service_type,
        vo_name=vo,
        vm_uuid=vm,
        vm_machinetype="pilot",
        details=details,
    )
