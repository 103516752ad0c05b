"""Reading the fleet index (``AWS_Things``): a count of the things a query matches, and the things themselves
(every page of ``SearchIndex``, or up to a limit).

Groups and package versions both read it; each turns the index's errors into its own usage errors, so both
take ``usage_error``: a function from the AWS error to a :class:`UsageError`, or None to let the error through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError

THINGS_INDEX = "AWS_Things"
SEARCH_PAGE = 100

UsageErrorOf = Callable[[ClientError], UsageError | None]


def _ask(usage_error: UsageErrorOf, call: Callable[..., dict[str, Any]], **request: Any) -> dict[str, Any]:
    try:
        return call(**request)
    except ClientError as err:
        usage = usage_error(err)
        if usage is not None:
            raise usage from None
        raise


def count_matching(ctx: AwsContext, text: str, usage_error: UsageErrorOf) -> int:
    """How many things match ``text`` (one ``GetStatistics``)."""
    answer = _ask(usage_error, ctx.iot.get_statistics, indexName=THINGS_INDEX, queryString=text)
    return int((answer.get("statistics") or {}).get("count") or 0)


def matching_things(
    ctx: AwsContext, text: str, usage_error: UsageErrorOf, limit: int | None = None
) -> list[dict[str, Any]]:
    """The things matching ``text`` as ``SearchIndex`` returns them, up to ``limit`` (all pages when None)."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while limit is None or len(found) < limit:
        page = SEARCH_PAGE if limit is None else min(SEARCH_PAGE, limit - len(found))
        request: dict[str, Any] = {"indexName": THINGS_INDEX, "queryString": text, "maxResults": page}
        if token:
            request["nextToken"] = token
        answer = _ask(usage_error, ctx.iot.search_index, **request)
        found.extend(answer.get("things", []))
        token = answer.get("nextToken")
        if not token:
            break
    return found
