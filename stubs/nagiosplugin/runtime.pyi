from collections.abc import Callable
from typing import IO, Any, NoReturn, TypeVar, overload

from .check import Check

_F = TypeVar("_F", bound=Callable[..., Any])

@overload
def guarded(original_function: _F, verbose: int | None = None) -> _F: ...
@overload
def guarded(original_function: None = None, verbose: int | None = None) -> Callable[[_F], _F]: ...

class Runtime:
    check: Check | None
    timeout: int | None
    stdout: IO[str] | None
    exitcode: int
    verbose: int
    def __init__(self) -> None: ...
    def run(self, check: Check) -> None: ...
    def execute(
        self, check: Check, verbose: int | None = None, timeout: float | None = None
    ) -> NoReturn: ...
    def sysexit(self) -> NoReturn: ...
