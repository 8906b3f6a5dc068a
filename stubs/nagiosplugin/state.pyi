from collections.abc import Iterable

class ServiceState(tuple[int, str]):
    """Ordered by ``code``: Ok < Warn < Critical < Unknown."""

    @property
    def code(self) -> int: ...
    @property
    def text(self) -> str: ...
    def __int__(self) -> int: ...

def worst(states: Iterable[ServiceState]) -> ServiceState: ...

# singletons: the names are rebound to the one instance of each class at import
Ok: ServiceState
Warn: ServiceState
Critical: ServiceState
Unknown: ServiceState
