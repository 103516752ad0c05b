"""Presigned S3 URLs: minted by the emulator on its own clock, and checked for expiry and signature.

moto checks neither, so the front app does it for S3 requests carrying ``X-Amz-Credential`` in the
query: a URL past ``X-Amz-Date + X-Amz-Expires`` on the emulator clock gets 403 "Request has
expired", a missing or malformed signature gets 403, and a URL signed with the emulator's own
credentials (:func:`mint_presigned_get`, used by the jobs engine for ``${aws:iot:s3-presigned-url...}``
placeholders) must carry exactly the right signature. URLs signed by clients with credentials the
emulator cannot know are checked for shape and expiry only. Both SigV4 and the older version 2
query authentication (boto3's default for ``generate_presigned_url`` on a custom endpoint) are
understood.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from iotfleet.emulator.errors import ServiceError

if TYPE_CHECKING:
    from iotfleet.emulator.protocol import WireRequest
    from iotfleet.emulator.state import EmulatorState

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES = 7 * 24 * 3600
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def _quote(text: str, safe: str = "-_.~") -> str:
    return quote(text, safe=safe)


def _amz_date(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def _parse_amz_date(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ")))


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _canonical_host(host: str, scheme: str) -> str:
    default = ":443" if scheme == "https" else ":80"
    return host[: -len(default)] if host.endswith(default) else host


def signature(
    *, secret: str, method: str, raw_path: str, raw_query_without_signature: str, host: str, amz_date: str,
    credential_scope: str,
) -> str:
    """The SigV4 query signature of a presigned S3 request (payload UNSIGNED-PAYLOAD, signed header host)."""
    pairs = [pair.partition("=") for pair in raw_query_without_signature.split("&") if pair]
    canonical_query = "&".join(f"{k}={v}" for k, _, v in sorted(pairs, key=lambda p: (p[0], p[2])))
    canonical_request = "\n".join(
        [method, raw_path, canonical_query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, credential_scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    date, region, service = credential_scope.split("/")[:3]
    key = _signing_key(secret, date, region, service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def mint_presigned_get(
    state: EmulatorState,
    bucket: str,
    key: str,
    version_id: str | None = None,
    expires_in: int = 3600,
    *,
    base_url: str | None = None,
    region: str = "us-east-1",
) -> str:
    """A presigned GET URL for ``bucket/key`` (exact ``version_id`` if given), valid ``expires_in`` seconds
    of emulator time from now. ``base_url`` is the emulator's address as the client will use it
    (``call.base_url`` inside a handler); default: the address the server was started on."""
    if not 1 <= expires_in <= MAX_EXPIRES:
        raise ValueError(f"expires_in must be between 1 and {MAX_EXPIRES} seconds")
    base = (base_url or state.base_url).rstrip("/")
    scheme, _, host = base.partition("://")
    now = state.clock.now()
    amz_date = _amz_date(now)
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    params = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{state.signing_access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(int(expires_in))),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if version_id:
        params.append(("versionId", version_id))
    raw_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in params)
    raw_path = f"/{_quote(bucket)}/{_quote(key, safe='-_.~/')}"
    sig = signature(
        secret=state.signing_secret_key,
        method="GET",
        raw_path=raw_path,
        raw_query_without_signature=raw_query,
        host=_canonical_host(host, scheme),
        amz_date=amz_date,
        credential_scope=scope,
    )
    return f"{base}{raw_path}?{raw_query}&X-Amz-Signature={sig}"


def _denied(message: str) -> ServiceError:
    return ServiceError("AccessDenied", message, 403)


# Subresources that are part of a version 2 string to sign.
_V2_SUBRESOURCES = ("response-cache-control", "response-content-disposition", "response-content-encoding",
                    "response-content-language", "response-content-type", "response-expires", "versionId")  # fmt: skip


def _check_v2(state: EmulatorState, request: WireRequest, one: Any) -> None:
    """Query-string authentication version 2 (``AWSAccessKeyId``, ``Expires``, ``Signature``)."""
    sig, expires = one("Signature"), one("Expires")
    try:
        valid_signature = sig is not None and len(base64.b64decode(sig, validate=True)) == 20
    except (ValueError, binascii.Error):
        valid_signature = False
    if not valid_signature:
        raise _denied("Query-string authentication requires a valid Signature parameter.")
    if expires is None or not expires.isdigit():
        raise _denied("Query-string authentication requires the Expires parameter (epoch seconds).")
    if state.clock.now() > int(expires):
        raise _denied("Request has expired")
    if one("AWSAccessKeyId") != state.signing_access_key:
        return
    subresources = sorted((k, request.query[k][0]) for k in _V2_SUBRESOURCES if k in request.query)
    resource = unquote(request.raw_path)
    if subresources:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subresources)
    string_to_sign = f"{request.method}\n\n\n{expires}\n{resource}"
    digest = hmac.new(state.signing_secret_key.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode(), sig or ""):
        raise ServiceError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            403,
        )


def check_presigned(state: EmulatorState, request: WireRequest, environ: dict[str, Any]) -> None:
    """Raise ServiceError (403/400, S3-shaped) unless the presigned request is well-formed, unexpired and,
    when signed with the emulator's own key, correctly signed."""
    query = request.query

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    if "X-Amz-Credential" not in query:
        _check_v2(state, request, one)
        return

    sig = one("X-Amz-Signature")
    if not sig or not _SIGNATURE.fullmatch(sig):
        raise _denied("Query-string authentication requires the X-Amz-Signature parameter (64 hex digits).")
    algorithm, credential, amz_date, expires = (
        one("X-Amz-Algorithm"),
        one("X-Amz-Credential"),
        one("X-Amz-Date"),
        one("X-Amz-Expires"),
    )
    if algorithm != ALGORITHM or not credential or not amz_date or not expires:
        raise ServiceError(
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            400,
        )
    try:
        signed_at = _parse_amz_date(amz_date)
        lifetime = int(expires)
    except ValueError:
        raise ServiceError("AuthorizationQueryParametersError", "X-Amz-Date or X-Amz-Expires is invalid.", 400) from None
    if not 0 < lifetime <= MAX_EXPIRES:
        raise ServiceError(
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be greater than 0 and less than a week (604800 seconds).",
            400,
        )
    if state.clock.now() > signed_at + lifetime:
        raise _denied("Request has expired")
    access_key, _, scope = credential.partition("/")
    if access_key != state.signing_access_key:
        return
    raw_query = "&".join(
        pair for pair in request.query_string.split("&") if pair and not pair.startswith("X-Amz-Signature=")
    )
    host = _canonical_host(request.headers.get("host", ""), environ.get("wsgi.url_scheme", "http"))
    expected = signature(
        secret=state.signing_secret_key,
        method=request.method if request.method != "HEAD" else "HEAD",
        raw_path=request.raw_path,
        raw_query_without_signature=raw_query,
        host=host,
        amz_date=amz_date,
        credential_scope=scope,
    )
    if not hmac.compare_digest(expected, sig):
        raise ServiceError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            403,
        )
