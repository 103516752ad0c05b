"""The fleet's own record of the account-wide settings it changed, kept in AWS so cleanup works anywhere.

Some settings are not resources that can carry a tag: the account's fleet indexing configuration and its
package configuration. When provisioning changes one of them it first records the value it found, once:
a later run never overwrites that original record with values iotfleet itself set. Cleanup reads the record
and restores what was there before.

Where: a JSON object at :data:`STATE_KEY` in the fleet's own firmware bucket, which is found by its
ownership tag. The bucket is versioned, encrypted and TLS-only, it exists before any account setting is
changed (provisioning creates it first), and cleanup deletes it last, after restoring. The document::

    {
      "format": 1,
      "fleet": "default",
      "indexing": {"previous": {...thingIndexingConfiguration...}, "changes": ["thingIndexingMode: ..."],
                   "recordedAt": "2026-01-01T00:00:00+00:00"},
      "packageConfiguration": {"previous": {"enabled": false}, "enabledByIotfleet": true,
                               "recordedAt": "..."},
      "loggingOptions": null
    }
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import OperationFailed, ResourceFailure, is_error
from iotfleet.fleet.storage import owned_buckets

STATE_KEY = "iotfleet/fleet-state.json"
FORMAT = 1


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class FleetState:
    """What the fleet changed outside its own resources, and what was there before."""

    fleet: str
    # The account's thingIndexingConfiguration before iotfleet first changed it (None: never changed).
    indexing_previous: dict[str, Any] | None = None
    indexing_changes: list[str] = field(default_factory=list)
    indexing_recorded_at: str | None = None
    # The package configuration ({"enabled": bool, "roleArn": ...}) before iotfleet first enabled it.
    package_configuration_previous: dict[str, Any] | None = None
    package_configuration_enabled_by_iotfleet: bool = False
    package_configuration_recorded_at: str | None = None
    # Reserved for the account's logging options, should provisioning ever change them.
    logging_previous: dict[str, Any] | None = None

    @property
    def empty(self) -> bool:
        return (
            self.indexing_previous is None
            and not self.package_configuration_enabled_by_iotfleet
            and (self.logging_previous is None)
        )

    def record_indexing(self, previous: dict[str, Any], changes: list[str]) -> bool:
        """Record the configuration found before the first change; False (and no change) if already recorded."""
        if self.indexing_previous is not None:
            return False
        self.indexing_previous = previous
        self.indexing_changes = list(changes)
        self.indexing_recorded_at = _now()
        return True

    def record_package_configuration(self, previous: dict[str, Any]) -> bool:
        """Record the package configuration found before iotfleet first enabled it; False if already recorded."""
        if self.package_configuration_enabled_by_iotfleet:
            return False
        self.package_configuration_previous = previous
        self.package_configuration_enabled_by_iotfleet = True
        self.package_configuration_recorded_at = _now()
        return True

    def to_document(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "fleet": self.fleet,
            "indexing": None
            if self.indexing_previous is None
            else {
                "previous": self.indexing_previous,
                "changes": self.indexing_changes,
                "recordedAt": self.indexing_recorded_at,
            },
            "packageConfiguration": None
            if not self.package_configuration_enabled_by_iotfleet
            else {
                "previous": self.package_configuration_previous,
                "enabledByIotfleet": True,
                "recordedAt": self.package_configuration_recorded_at,
            },
            "loggingOptions": self.logging_previous,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any], fleet: str) -> FleetState:
        indexing = document.get("indexing") or {}
        package = document.get("packageConfiguration") or {}
        return cls(
            fleet=str(document.get("fleet") or fleet),
            indexing_previous=indexing.get("previous"),
            indexing_changes=list(indexing.get("changes") or []),
            indexing_recorded_at=indexing.get("recordedAt"),
            package_configuration_previous=package.get("previous"),
            package_configuration_enabled_by_iotfleet=bool(package.get("enabledByIotfleet")),
            package_configuration_recorded_at=package.get("recordedAt"),
            logging_previous=document.get("loggingOptions"),
        )


def read_state(ctx: AwsContext, bucket: str, fleet: str) -> FleetState:
    """The record in ``bucket`` (an empty one when there is none yet)."""
    try:
        body = ctx.s3.get_object(Bucket=bucket, Key=STATE_KEY)["Body"].read()
    except ClientError as err:
        if is_error(err, "NoSuchKey", "404"):
            return FleetState(fleet)
        raise
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise OperationFailed(
            f"the fleet's state record s3://{bucket}/{STATE_KEY} is not JSON; fix or delete it",
            [ResourceFailure("fleet state", f"s3://{bucket}/{STATE_KEY}", str(exc))],
        ) from None
    return FleetState.from_document(document, fleet)


def write_state(ctx: AwsContext, bucket: str, state: FleetState) -> None:
    ctx.s3.put_object(
        Bucket=bucket,
        Key=STATE_KEY,
        Body=json.dumps(state.to_document(), indent=2, sort_keys=True).encode(),
        ContentType="application/json",
        ServerSideEncryption="AES256",
    )


def load_fleet_state(ctx: AwsContext, fleet: str) -> FleetState | None:
    """The record of ``fleet``, its bucket found by ownership; None when the fleet has no bucket."""
    buckets = owned_buckets(ctx, fleet)
    if not buckets:
        return None
    return read_state(ctx, buckets[0], fleet)
