"""What the routes of report documents (A/R, status timelines, trends) share: the VO
parameter, and a document computed by vmsam.server.reports and its kin as the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import HTTPException, Query, status
from pydantic import BaseModel

from vmsam.server.api._models import Name

__all__ = ["VoQuery", "answer"]

VoQuery = Annotated[
    Name | None, Query(description="the VO; may be left out when the store holds one")
]

Document = TypeVar("Document", bound=BaseModel)


def answer(model: type[Document], compute: Callable[[], dict[str, object]]) -> Document:
    """``compute()``'s document as ``model``; its ValueError as a 404 or a 422."""
    try:
        return model.model_validate(compute())
    # ReportError (a ValueError) for a bad request, and the store's own ValueError for a
    # period it cannot represent (the year 1, say)
    except ValueError as exc:
        message = str(exc)
        # the reports say "unknown site/endpoint/vo ..." for a name the store does not hold
        code = (
            status.HTTP_404_NOT_FOUND
            if message.startswith("unknown ")
            else status.HTTP_422_UNPROCESSABLE_CONTENT
        )
        raise HTTPException(code, message) from None
