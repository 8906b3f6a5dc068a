from collections.abc import Iterator
from types import TracebackType

from .cookie import Cookie

class LogTail:
    path: str
    cookie: Cookie
    def __init__(self, path: str, cookie: Cookie) -> None: ...
    def __enter__(self) -> Iterator[bytes]: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None: ...
