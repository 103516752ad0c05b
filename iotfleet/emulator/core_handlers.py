"""Operations the core answers itself because moto's answer cannot be right.

- ``iot:DescribeEndpoint``: the emulator's own address (``host:port``, no scheme), so a client that
  builds ``https://<endpointAddress>`` as AWS documents reaches this emulator (start it with TLS).
- ``iot-data:ListNamedShadowsForThing``: live named shadows only, for any thing name (shadows need no
  registry entry), with ``pageSize``/``nextToken`` pagination and the ``timestamp`` AWS returns.
"""

from __future__ import annotations

from typing import Any

from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.extension import Call, handles
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.pagination import page

ENDPOINT_TYPES = ("iot:Data", "iot:Data-ATS", "iot:CredentialProvider", "iot:Jobs")


@handles("iot", "DescribeEndpoint")
def describe_endpoint(call: Call) -> dict[str, Any]:
    endpoint_type = call.params.get("endpointType", "iot:Data")
    if endpoint_type not in ENDPOINT_TYPES:
        raise InvalidRequestException(f"Endpoint type {endpoint_type} not recognized.")
    host = call.request.headers.get("host") or call.base_url.partition("://")[2]
    return {"endpointAddress": host}


@handles("iot-data", "ListNamedShadowsForThing")
def list_named_shadows_for_thing(call: Call) -> dict[str, Any]:
    thing_name = call.params["thingName"]  # any valid name: shadows need no registry entry
    page_size = call.params.get("pageSize", 25)
    if not 1 <= page_size <= 100:
        raise InvalidRequestException("pageSize must be between 1 and 100")
    names = sorted(
        name for name in accessors.shadows(call.account_id, call.region, thing_name) if name is not None
    )
    results, next_token = page(names, page_size, call.params.get("nextToken"))
    response: dict[str, Any] = {"results": results, "timestamp": int(call.state.clock.now())}
    if next_token:
        response["nextToken"] = next_token
    return response
