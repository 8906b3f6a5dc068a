from collections.abc import Iterable

from .metric import Metric

class Resource:
    @property
    def name(self) -> str: ...
    def probe(self) -> Iterable[Metric] | Metric: ...
