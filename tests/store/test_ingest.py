"""``vmsam ingest``: spool directories, joboutputs written by the real init hook, message
files with broken records; the same validation as the consumer; re-ingesting is a no-op."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.store.conftest import NOW, result
from vmsam.demo.simulate import VMLayout, build_vm, write_config
from vmsam.server.ingest import ingest, split_records
from vmsam.server.store import Store
from vmsam.server.trust import looks_signed
from vmsam.shared.messages import encode, encode_monit
from vmsam.vm.spool import Spool

BIN = Path(sys.executable).parent
TESTS = ("cvmfs", "middleware", "scratch", "mjf")


def vmsam(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "vmsam"), *args], capture_output=True, text=True, timeout=300, check=False
    )


def bodies(host: str = "vac01.example.org", at: datetime = NOW) -> list[str]:
    return [encode(result(host=host, test=test, at=at)) for test in TESTS]


def test_a_spool_directory_is_ingested_once(store, tmp_path):
    spool = Spool(tmp_path / "spool")
    for body in bodies():
        spool.add(body)
    # a sender holding a lock: dirq's .lck file is a hard link to the element, not a result
    held = next(spool.claim())
    report = ingest(store, [tmp_path / "spool"])
    assert (report.saved.stored, report.saved.duplicates, report.saved.dead_letters) == (4, 0, 0)
    assert report.files == 4
    assert report.skipped == 1
    spool.release(held.name)
    again = ingest(store, [tmp_path / "spool"])
    assert (again.saved.stored, again.saved.duplicates) == (0, 4)
    assert store.results()[0] == 4


def test_a_file_of_several_records_with_a_broken_one(store, tmp_path):
    good = bodies()
    broken = "hostName: vac01.example.org\nmetricStatus: FINE\nEOT\n"
    path = tmp_path / "messages.txt"
    path.write_text(good[0] + good[1] + broken + good[2])
    report = ingest(store, [path])
    assert (report.saved.stored, report.saved.dead_letters, report.files) == (3, 1, 1)
    (letter,) = store.dead_letters()[1]
    assert letter.reason.startswith("missing required field(s)")
    assert letter.body == broken
    assert letter.headers == {"file": str(path), "record": "2"}


def test_a_record_that_is_not_utf8_spoils_only_itself(store, tmp_path):
    good = [body.encode() for body in bodies()]
    bad = good[3].replace(b"fine", b"fin\xe9")
    path = tmp_path / "latin1.txt"
    path.write_bytes(good[0] + bad + good[1])
    report = ingest(store, [path])
    assert (report.saved.stored, report.saved.dead_letters) == (2, 1)
    (letter,) = store.dead_letters()[1]
    assert letter.reason.startswith("not UTF-8")
    assert "fin\\xe9" in letter.body


def test_an_unterminated_last_record_is_a_dead_letter(store, tmp_path):
    path = tmp_path / "cut.txt"
    path.write_text(bodies()[0] + bodies()[1].removesuffix("EOT\n"))
    report = ingest(store, [path])
    assert (report.saved.stored, report.saved.dead_letters) == (1, 1)
    assert store.dead_letters()[1][0].reason == "no EOT line: the record is incomplete"


def test_files_without_records_are_skipped(store, tmp_path):
    (tmp_path / "shutdown_message").write_text("500 vmsam: cvmfs broken")
    (tmp_path / "notes.json").write_text('{"not": "results"}')
    (tmp_path / "binary").write_bytes(bytes(range(256)))
    (tmp_path / "deeper" / "still").mkdir(parents=True)
    (tmp_path / "deeper" / "still" / "message").write_text(bodies()[0])
    report = ingest(store, [tmp_path])
    assert (report.files, report.skipped, report.saved.stored) == (1, 3, 1)
    assert store.dead_letters()[0] == 0


def test_the_window_applies_only_when_asked(store, tmp_path):
    path = tmp_path / "old.txt"
    path.write_text("".join(bodies(at=datetime.now(UTC) - timedelta(days=10))))
    windowed = ingest(store, [path], window=True)
    assert (windowed.saved.stored, windowed.saved.dead_letters) == (0, 4)
    assert "more than 3 days in the past" in store.dead_letters()[1][0].reason
    backfill = ingest(store, [path])
    assert backfill.saved.stored == 4


def test_a_results_document_with_a_message_that_is_not_text(store, tmp_path):
    path = tmp_path / "vmsam-results.json"
    path.write_text(json.dumps({"messages": [*bodies()[:2], {"a": 1}, "junk \ud800"]}))
    report = ingest(store, [path])
    assert (report.saved.stored, report.saved.dead_letters) == (2, 2)
    reasons = sorted(letter.reason for letter in store.dead_letters()[1])
    # an object is read as MONIT's JSON document, which this one is not
    assert reasons[0].startswith("missing required field(s): dst_hostname")
    assert reasons[1].startswith("not UTF-8")


def test_the_spool_of_a_monit_destination_is_ingested(store, tmp_path):
    monit = Spool(tmp_path / "spool" / "monit@%2Ftopic%2Fmonit")
    for test in TESTS:
        monit.add(encode_monit(result(host="vac02.example.org", test=test)))
    monit.add(encode_monit(result(host="vac02.example.org", test="bad", status="ok")))
    report = ingest(store, [tmp_path / "spool"])
    assert (report.files, report.saved.stored, report.saved.dead_letters) == (5, 4, 1)
    assert {r.endpoint for r in store.results()[1]} == {"vac02.example.org"}
    assert store.dead_letters()[1][0].reason.startswith("status 'ok' is not one of OK")


def test_split_records_keeps_each_record_whole():
    data = b"a: 1\nEOT\r\nb: 2\nEOT\n\n\ntail: 3"
    assert list(split_records(data)) == [b"a: 1\nEOT\r\n", b"b: 2\nEOT\n", b"\n\ntail: 3"]


@pytest.fixture
def hook_vm(tmp_path):
    """A simulated VM after the real init hook ran in it, no broker configured: the results
    are in joboutputs and in the spool."""
    with build_vm(VMLayout(tmp_path / "vm"), healthy=True) as vm:
        done = vmsam("init-hook", "--config", str(write_config(vm)))
        assert done.returncode == 0, done.stdout + done.stderr
        yield vm


def test_joboutputs_and_spool_of_the_real_hook(store, hook_vm):
    layout = hook_vm.layout
    results_file = layout.joboutputs / "vmsam-results.json"
    assert len(json.loads(results_file.read_text())["messages"]) == 4
    report = ingest(store, [results_file])
    assert (report.saved.stored, report.saved.dead_letters, report.files) == (4, 0, 1)
    total, rows = store.results()
    assert total == 4
    assert {row.metric for row in rows} == {f"org.lhcb.WN-{test}" for test in TESTS}
    for row in rows:
        assert row.endpoint == layout.space
        assert row.site == "tier2.hep.manchester.ac.uk"
        assert row.service_type == "uk.ac.gridpp.vac"
        assert row.vm_uuid == layout.uuid
        assert row.gathered_at == layout.hostname
        assert row.vo == "lhcb"
    # the same results again from the spool and from the message copies in joboutputs; the
    # spool's elements are signed (the simulated VM has a proxy), and are unwrapped
    elements = [path for path in layout.spool.rglob("*") if path.is_file()]
    assert len(elements) == 4
    assert all(looks_signed(path.read_bytes()) for path in elements)
    again = ingest(store, [layout.spool, layout.joboutputs])
    assert (again.saved.stored, again.saved.duplicates, again.saved.dead_letters) == (0, 12, 0)


def test_vmsam_ingest_command(hook_vm, db_url):
    joboutputs = str(hook_vm.layout.joboutputs)
    first = vmsam("ingest", "--db", db_url, joboutputs)
    assert first.returncode == 0, first.stderr
    # vmsam-results.json and the four vmsam-message-N.txt copies hold the same four results
    assert "stored 4, duplicates 4, dead letters 0, files 5" in first.stdout
    second = vmsam("ingest", "--db", db_url, joboutputs)
    assert second.returncode == 0
    assert "stored 0, duplicates 8, dead letters 0, files 5" in second.stdout
    store = Store(db_url)
    assert store.results()[0] == 4
    store.close()


def test_vmsam_ingest_with_the_database_down(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text(bodies()[0])
    done = vmsam("ingest", "--db", "postgresql://u:pw@127.0.0.1:1/x", str(path))
    assert done.returncode == 75
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("vmsam ingest: cannot ")
    assert "Traceback" not in done.stderr


def test_vmsam_ingest_of_a_missing_path(tmp_path):
    done = vmsam("ingest", "--db", f"sqlite:///{tmp_path}/x.db", str(tmp_path / "nope"))
    assert done.returncode == 66
    assert "no such file or directory" in done.stderr
    assert not (tmp_path / "x.db").exists()
