"""vmsam's errors: one tree, rooted at ``VmsamError``. Every message is one line meant for
a person (a CLI prints it, the API answers it as a 4xx or 503); none carries a traceback.

    VmsamError
    ├── ConfigError ............ the configuration cannot be used (names file and key)
    ├── MissingExtra ........... a server command without ``vmsam[server]`` installed
    ├── MessageError ........... a body that is not a valid WLCG metric record
    ├── BrokerError
    │   ├── BrokerConfigError .. the ``[broker]`` settings cannot work
    │   │   └── PublishError ... ... as the publisher (in the VM) met them
    │   └── BrokerTrouble ...... one broker could not be used on this connection (retry)
    ├── VMError ................ inside the VM
    │   ├── MJFError ........... a Machine/Job Features set could not be read
    │   │   └── MJFTimeout ..... ... its server did not answer in time
    │   ├── SpoolError ......... the durable spool cannot be created, written or read
    │   ├── SigningError ....... the signing credential cannot be used (sent unsigned)
    │   └── JobOutputsError .... a file could not be written to joboutputs
    └── ServerError ............ on the monitoring server
        ├── StoreError ......... the database is unreachable or refused the work (retry)
        │   └── DatabaseURLError  its URL cannot work: configuration, not worth a retry
        ├── ReportError ........ a request that cannot be answered as asked
        │   ├── UnknownDowntime  no downtime has that id
        │   ├── DuplicateDowntime  the same downtime is stored already
        │   ├── UnknownRecomputation  no recomputation has that id
        │   ├── DuplicateRecomputation  the same recomputation is pending or applied
        │   └── RecomputationConflict  a change of state its state does not allow
        ├── AvailabilityError .. a request the A/R engine cannot answer
        │   ├── ProfileError ... a profile file that is unusable
        │   ├── GroupsError .... a groups file (sites in tiers, federations, ...) unusable
        │   └── FreshnessError . a sampling rate or target out of range
        │       ├── TargetUnreachable  more VM starts needed than there are
        │       └── PlanError ........ what ``vmsam plan`` says it cannot do
        ├── GocdbError ......... a file that is not usable GOCDB downtime XML
        ├── ServeError ......... the API server cannot start
        └── ConsumerError ...... the consumer's settings cannot work

The classes are defined here, once, and each is also importable from the module that raises
it. Some are also ``ValueError``s, as they were before the tree existed, so that code
catching ``ValueError`` for bad input keeps working.
"""

from __future__ import annotations

__all__ = [
    "AvailabilityError",
    "BrokerConfigError",
    "BrokerError",
    "BrokerTrouble",
    "ConfigError",
    "ConsumerError",
    "ContactsError",
    "DatabaseURLError",
    "DuplicateDowntime",
    "DuplicateRecomputation",
    "FreshnessError",
    "GocdbError",
    "GroupsError",
    "JobOutputsError",
    "MJFError",
    "MJFTimeout",
    "MessageError",
    "MissingExtra",
    "PlanError",
    "ProfileError",
    "PublishError",
    "RecomputationConflict",
    "ReportError",
    "ServeError",
    "ServerError",
    "SigningError",
    "SpoolError",
    "StoreError",
    "TargetUnreachable",
    "UnknownDowntime",
    "UnknownRecomputation",
    "VMError",
    "VmsamError",
]


class VmsamError(Exception):
    """The root of every error vmsam raises on purpose."""


class ConfigError(VmsamError):
    """The configuration cannot be used; the message names the file and the key."""

    def __init__(self, source: str, reason: str, key: str | None = None) -> None:
        super().__init__(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")
        self.source = source
        self.key = key
        self.reason = reason


class MissingExtra(VmsamError):
    """A command of the monitoring side run where only the VM side is installed."""

    def __init__(self, command: str, module: str) -> None:
        super().__init__(
            f"runs on the monitoring server, which needs the server extra (no module"
            f" {module} here): pip install 'vmsam[server]'"
        )
        self.command = command
        self.module = module


class MessageError(VmsamError, ValueError):
    """A body that is not a valid metric-result record; the message is the reason."""


class BrokerError(VmsamError):
    """Talking to a STOMP broker."""


class BrokerConfigError(BrokerError):
    """The ``[broker]`` settings cannot work (no broker, a malformed URL, unusable TLS files)."""


class PublishError(BrokerConfigError):
    """The broker settings cannot work, as the publisher met them."""


class BrokerTrouble(BrokerError):
    """A broker could not be used any more on this connection; the reason is one line."""


class VMError(VmsamError):
    """Inside the pilot VM."""


class MJFError(VMError):
    """A feature set could not be read (server unreachable or erroring, directory unreadable)."""


class MJFTimeout(MJFError):
    """A server did not answer within the timeout."""

    def __init__(self, location: str, seconds: float) -> None:
        super().__init__(f"{location} did not answer within {seconds:g} s")
        self.location = location
        self.seconds = seconds


class SpoolError(VMError):
    """The spool cannot be created, written or read (full, read-only, not permitted)."""


class SigningError(VMError):
    """The credential messages are signed with cannot be read or used."""


class JobOutputsError(VMError):
    """A file could not be written to joboutputs; the message says where and why."""


class ServerError(VmsamError):
    """On the monitoring server."""


class StoreError(ServerError):
    """The database is unreachable, refused the work, or its schema could not be upgraded.
    The message is one line; the caller may retry."""


class DatabaseURLError(StoreError):
    """A database URL that cannot be parsed, or names a database or driver vmsam cannot use:
    the configuration is wrong, and trying again will not help."""


class ReportError(ServerError, ValueError):
    """A request that cannot be answered as asked; the message is one line for a 4xx."""


class UnknownDowntime(ReportError):
    """No stored downtime has the id asked for."""

    def __init__(self, downtime_id: int) -> None:
        super().__init__(f"no downtime has id {downtime_id}")
        self.downtime_id = downtime_id


class DuplicateDowntime(ReportError):
    """A downtime exactly like a stored one (endpoint, service type, start, end, scheduled):
    ``existing_id`` names that one."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(f"the same downtime is stored already, with id {existing_id}")
        self.existing_id = existing_id


class UnknownRecomputation(ReportError):
    """No stored recomputation has the id asked for."""

    def __init__(self, recomputation_id: int) -> None:
        super().__init__(f"no recomputation has id {recomputation_id}")
        self.recomputation_id = recomputation_id


class DuplicateRecomputation(ReportError):
    """A recomputation exactly like a pending or applied one (VO, start, end, sites,
    metrics): ``existing_id`` names that one."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(f"the same recomputation is stored already, with id {existing_id}")
        self.existing_id = existing_id


class RecomputationConflict(ReportError):
    """A change of state the recomputation's own state does not allow (rejecting an applied
    one, applying a revoked one); the message says which."""


class AvailabilityError(ServerError, ValueError):
    """A request the engine cannot answer (bad range, unmonitored service type, ...)."""


class ProfileError(AvailabilityError):
    """A profile file that cannot be read or does not describe complete profiles."""


class GroupsError(AvailabilityError):
    """A groups file that cannot be read or does not describe groups of sites."""


class FreshnessError(AvailabilityError):
    """An argument outside its range (negative rate, target not in (0, 1), ...)."""


class TargetUnreachable(FreshnessError):
    """Even testing every VM (f = 1) misses the target: more VM starts are needed.

    ``best`` is the probability at f = 1; ``vm_starts_per_hour_needed`` the start rate at
    which f = 1 would just reach the target.
    """

    def __init__(self, target: float, best: float, vm_starts_per_hour_needed: float) -> None:
        self.target = target
        self.best = best
        self.vm_starts_per_hour_needed = vm_starts_per_hour_needed
        super().__init__(
            f"even testing every VM gives P = {best:.6f} < {target}: needs at least"
            f" {vm_starts_per_hour_needed:.4g} VM starts per hour"
        )


class PlanError(FreshnessError):
    """The target cannot be reached, or the rate or target is out of range."""


class GocdbError(ServerError, ValueError):
    """A file that is not GOCDB downtime XML vmsam can use; the message is one line."""


class ContactsError(ServerError):
    """An alerts contacts file that cannot be read or does not describe contacts."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


class ServeError(ServerError):
    """The server cannot start (address in use, database unusable); one line."""


class ConsumerError(ServerError):
    """The consumer's settings cannot work (no broker, a malformed URL, unusable TLS files,
    an unknown ack mode)."""


class VacmonError(ServerError):
    """``vmsam vacmon`` cannot start: a malformed listen address, one in use."""
