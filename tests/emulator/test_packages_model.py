"""The package catalog's rules, on the model alone (the HTTP contract is in test_packages_api.py)."""

from __future__ import annotations

import pytest

from iotfleet.emulator.errors import ConflictException, ResourceNotFoundException, ValidationException
from iotfleet.emulator.package_catalog.models import (
    DEPRECATED,
    DRAFT,
    PUBLISHED,
    parse_package_arn,
    parse_package_version_arn,
)
from iotfleet.emulator.package_catalog.store import PackageCatalog, page
from iotfleet.emulator.package_catalog.validation import (
    check_artifact,
    check_attributes,
    check_package_name,
    check_version_name,
)

ACCOUNT = "123456789012"
REGION = "eu-west-1"


def new_catalog() -> PackageCatalog:
    return PackageCatalog(ACCOUNT, REGION)


def with_version(status: str = DRAFT) -> PackageCatalog:
    catalog = new_catalog()
    catalog.create_package("fw", None, {}, now=1.0)
    catalog.create_version(
        "fw", "1.0", description=None, attributes={"a": "1"}, artifact=None, recipe=None, tags={}, now=2.0
    )
    if status in (PUBLISHED, DEPRECATED):
        catalog.update_version("fw", "1.0", **_no_change(action="PUBLISH"))
    if status == DEPRECATED:
        catalog.update_version("fw", "1.0", **_no_change(action="DEPRECATE"))
    return catalog


def _no_change(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "description": None,
        "attributes": None,
        "artifact": None,
        "recipe": None,
        "action": None,
        "now": 3.0,
    }
    base.update(overrides)
    return base


def test_arns_parse_back_to_names() -> None:
    catalog = with_version()
    version = catalog.version("fw", "1.0")
    assert version.arn == f"arn:aws:iot:{REGION}:{ACCOUNT}:package/fw/version/1.0"
    assert parse_package_version_arn(version.arn) == ("fw", "1.0")
    assert parse_package_arn(catalog.package("fw").arn) == ("fw", None)
    with pytest.raises(ValueError, match="not a package version ARN"):
        parse_package_version_arn(catalog.package("fw").arn)


@pytest.mark.parametrize("name", ["", "has space", "slash/no", "x" * 129])
def test_bad_package_names_are_validation_errors(name: str) -> None:
    with pytest.raises(ValidationException):
        check_package_name(name)


def test_version_names_allow_dots_dashes_underscores_up_to_64() -> None:
    assert check_version_name("1.2.3-rc_1") == "1.2.3-rc_1"
    with pytest.raises(ValidationException, match="less than or equal to 64"):
        check_version_name("v" * 65)


def test_attributes_are_limited_to_3kb_in_total() -> None:
    assert check_attributes({"k": "v" * 3071}) == {"k": "v" * 3071}
    with pytest.raises(ValidationException, match="3KB"):
        check_attributes({"k": "v" * 3072})
    with pytest.raises(ValidationException, match="pattern"):
        check_attributes({"bad key": "v"})
    with pytest.raises(ValidationException, match="greater than or equal to 1"):
        check_attributes({"k": ""})


def test_artifact_must_exist_in_s3() -> None:
    def exists(bucket: str, key: str, version: str | None) -> str | None:
        return None if (bucket, key, version) == ("b", "k", "v1") else "no such object version"

    location = {"s3Location": {"bucket": "b", "key": "k", "version": "v1"}}
    assert check_artifact(location, exists) == location
    with pytest.raises(ValidationException, match="no such object version"):
        check_artifact({"s3Location": {"bucket": "b", "key": "k", "version": "v2"}}, exists)
    with pytest.raises(ValidationException, match="s3Location"):
        check_artifact({}, exists)


def test_duplicate_package_and_version_conflict() -> None:
    catalog = with_version()
    with pytest.raises(ConflictException):
        catalog.create_package("fw", None, {}, now=5.0)
    with pytest.raises(ConflictException):
        catalog.create_version(
            "fw", "1.0", description=None, attributes={}, artifact=None, recipe=None, tags={}, now=5.0
        )


def test_version_of_missing_package_is_a_validation_error() -> None:
    with pytest.raises(ValidationException, match="does not exist"):
        new_catalog().create_version(
            "nope", "1", description=None, attributes={}, artifact=None, recipe=None, tags={}, now=1.0
        )


def test_lifecycle_draft_published_deprecated_and_back() -> None:
    catalog = with_version()
    assert catalog.version("fw", "1.0").status == DRAFT
    with pytest.raises(ConflictException, match="only a PUBLISHED version can be deprecated"):
        catalog.update_version("fw", "1.0", **_no_change(action="DEPRECATE"))
    assert catalog.update_version("fw", "1.0", **_no_change(action="PUBLISH")).status == PUBLISHED
    assert catalog.update_version("fw", "1.0", **_no_change(action="DEPRECATE")).status == DEPRECATED
    assert catalog.update_version("fw", "1.0", **_no_change(action="PUBLISH")).status == PUBLISHED


def test_draft_changes_everything_published_only_description() -> None:
    catalog = with_version()
    updated = catalog.update_version("fw", "1.0", **_no_change(attributes={"b": "2"}, recipe="{}"))
    assert (updated.attributes, updated.recipe) == ({"b": "2"}, "{}")
    catalog.update_version("fw", "1.0", **_no_change(action="PUBLISH"))
    with pytest.raises(ConflictException, match="attributes can be updated only"):
        catalog.update_version("fw", "1.0", **_no_change(attributes={"c": "3"}))
    assert catalog.version("fw", "1.0").attributes == {"b": "2"}
    assert catalog.update_version("fw", "1.0", **_no_change(description="new")).description == "new"


def test_default_version_rules() -> None:
    catalog = with_version()
    with pytest.raises(ConflictException, match="DRAFT"):
        catalog.update_package("fw", None, "1.0", False, now=4.0)
    with pytest.raises(ResourceNotFoundException):
        catalog.update_package("fw", None, "9.9", False, now=4.0)
    with pytest.raises(ValidationException, match="cannot name"):
        catalog.update_package("fw", None, "1.0", True, now=4.0)
    catalog.update_version("fw", "1.0", **_no_change(action="PUBLISH"))
    catalog.update_package("fw", None, "1.0", False, now=4.0)
    assert catalog.package("fw").default_version_name == "1.0"
    with pytest.raises(ValidationException, match="default version"):
        catalog.delete_version("fw", "1.0")
    with pytest.raises(ValidationException, match="all package versions must be deleted"):
        catalog.delete_package("fw")
    catalog.update_package("fw", None, None, True, now=5.0)
    catalog.delete_version("fw", "1.0")
    catalog.delete_package("fw")
    assert catalog.packages == {}


def test_deleting_what_does_not_exist_succeeds() -> None:
    catalog = new_catalog()
    catalog.delete_package("nope")
    catalog.delete_version("nope", "1")


def test_pages_resume_after_the_last_name_even_when_items_go_away() -> None:
    names = [f"p{i:02d}" for i in range(7)]
    first, token = page(names, None, 3)
    assert first == ["p00", "p01", "p02"] and token is not None
    remaining = [name for name in names if name != "p03"]
    second, token = page(remaining, token, 3)
    assert second == ["p04", "p05", "p06"] and token is None
    with pytest.raises(ValidationException, match="nextToken"):
        page(names, "garbage", 3)


def test_client_token_replays_and_conflicts() -> None:
    catalog = new_catalog()
    token = "t" * 36
    request = {"packageName": "fw"}
    assert catalog.replay("CreatePackage", token, request) is None
    catalog.remember("CreatePackage", token, request, {"packageName": "fw"})
    assert catalog.replay("CreatePackage", token, request) == {"packageName": "fw"}
    with pytest.raises(ConflictException, match="client token"):
        catalog.replay("CreatePackage", token, {"packageName": "other"})


def test_configuration_requires_a_role_to_enable() -> None:
    catalog = new_catalog()
    assert catalog.configuration() == {"versionUpdateByJobsConfig": {"enabled": False}}
    with pytest.raises(ValidationException, match="roleArn is required"):
        catalog.update_configuration({"enabled": True})
    with pytest.raises(ValidationException, match="not an IAM role ARN"):
        catalog.update_configuration({"enabled": True, "roleArn": "arn:aws:s3:::bucket-name-long"})
    role = f"arn:aws:iam::{ACCOUNT}:role/pkg-updates"
    catalog.update_configuration({"enabled": True, "roleArn": role})
    assert catalog.configuration() == {"versionUpdateByJobsConfig": {"enabled": True, "roleArn": role}}
    catalog.update_configuration({"enabled": False})
    assert catalog.configuration()["versionUpdateByJobsConfig"]["enabled"] is False


def test_taggable_finds_packages_and_versions_of_this_account_only() -> None:
    catalog = with_version()
    assert catalog.taggable(catalog.package("fw").arn) is catalog.package("fw")
    assert catalog.taggable(catalog.version("fw", "1.0").arn) is catalog.version("fw", "1.0")
    assert catalog.taggable(f"arn:aws:iot:{REGION}:999999999999:package/fw") is None
    assert catalog.taggable(f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/fw") is None
