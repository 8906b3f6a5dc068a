from collections.abc import Callable, Iterator

from .metric import Metric
from .performance import Performance
from .range import Range
from .resource import Resource
from .result import Result
from .state import ServiceState

class Context:
    name: str
    fmt_metric: str | Callable[[Metric, Context], str] | None
    result_cls: type[Result]
    def __init__(
        self,
        name: str,
        fmt_metric: str | Callable[[Metric, Context], str] | None = None,
        result_cls: type[Result] = ...,
    ) -> None: ...
    def evaluate(self, metric: Metric, resource: Resource) -> Result | ServiceState: ...
    def performance(self, metric: Metric, resource: Resource) -> Performance | None: ...
    def describe(self, metric: Metric) -> str | None: ...

class ScalarContext(Context):
    warning: Range
    critical: Range
    def __init__(
        self,
        name: str,
        warning: Range | str | float | None = None,
        critical: Range | str | float | None = None,
        fmt_metric: str | Callable[[Metric, Context], str] | None = "{name} is {valueunit}",
        result_cls: type[Result] = ...,
    ) -> None: ...
    def evaluate(self, metric: Metric, resource: Resource) -> Result: ...
    def performance(self, metric: Metric, resource: Resource) -> Performance: ...

class Contexts:
    by_name: dict[str, Context]
    def __init__(self) -> None: ...
    def add(self, context: Context) -> None: ...
    def __getitem__(self, context_name: str) -> Context: ...
    def __contains__(self, context_name: object) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
