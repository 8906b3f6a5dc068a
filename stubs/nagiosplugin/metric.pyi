from typing import Any, Self

from .context import Context
from .performance import Performance
from .resource import Resource
from .result import Result
from .state import ServiceState

class Metric(tuple[Any, ...]):
    def __new__(
        cls,
        name: str,
        value: Any,
        uom: str | None = None,
        min: float | None = None,
        max: float | None = None,
        context: str | None = None,
        contextobj: Context | None = None,
        resource: Resource | None = None,
    ) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> Any: ...
    @property
    def uom(self) -> str | None: ...
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...
    @property
    def context(self) -> str:
        """The context's name; the metric's own name when none was given."""
    @property
    def contextobj(self) -> Context | None: ...
    @property
    def resource(self) -> Resource | None: ...
    def replace(self, **attr: Any) -> Self: ...
    @property
    def description(self) -> str | None: ...
    @property
    def valueunit(self) -> str: ...
    def evaluate(self) -> Result | ServiceState: ...
    def performance(self) -> Performance | None: ...
