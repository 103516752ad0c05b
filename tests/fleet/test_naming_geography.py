"""Local name and geography rules: bad input is refused before any AWS call."""

import pytest

from iotfleet.aws.errors import UsageError
from iotfleet.fleet import geography, naming, ownership


@pytest.mark.parametrize("name", ["Vehicle-VIN-1", "a", "x" * 128, "a:b_c-d"])
def test_valid_thing_names(name):
    assert naming.check_thing_name(name) == name


@pytest.mark.parametrize("name", ["", "bad name", "x" * 129, "é", "a/b"])
def test_invalid_thing_names(name):
    with pytest.raises(UsageError):
        naming.check_thing_name(name, param="--prefix")


@pytest.mark.parametrize("name", ["demo", "fleet-1", "a"])
def test_valid_fleet_names(name):
    assert naming.check_fleet_name(name) == name


@pytest.mark.parametrize("name", ["Demo", "1fleet", "fleet-", "a_b", "x" * 25, ""])
def test_invalid_fleet_names(name):
    with pytest.raises(UsageError) as info:
        naming.check_fleet_name(name)
    assert info.value.param == "--fleet"


@pytest.mark.parametrize("value", ["1", "100", 10_000, "+5"])
def test_positive_ints(value):
    assert naming.check_positive_int(value, "device count") == int(value)


@pytest.mark.parametrize("value", [0, -1, "0", "abc", "1.5", 2.0, True, None, ""])
def test_not_positive_ints(value):
    with pytest.raises(UsageError, match="device count"):
        naming.check_positive_int(value, "device count")


def test_continents_and_countries():
    assert len(geography.continent_names()) == 7
    assert geography.check_continent("north   america") == "North America"
    assert geography.first_countries("Europe", 3) == ["DE", "FR", "GB"]
    assert geography.check_countries(["us", "CA"]) == ["US", "CA"]
    assert geography.group_name_for_country("US") == "US_Fleet"
    assert geography.group_name_for_continent("North America") == "NorthAmerica_Fleet"


@pytest.mark.parametrize("codes", [["ZZ"], ["US", "XX"], [" "]])
def test_unknown_countries(codes):
    with pytest.raises(UsageError):
        geography.check_countries(codes)


def test_a_country_given_twice_is_a_usage_error_naming_it():
    with pytest.raises(UsageError, match="given twice: US") as raised:
        geography.check_countries(["us", "CA", "US"], "--countries")
    assert raised.value.param == "--countries"


def test_unknown_continent_and_too_many_countries():
    with pytest.raises(UsageError, match="unknown continent"):
        geography.check_continent("Atlantis")
    with pytest.raises(UsageError, match="1 to"):
        geography.first_countries("Antarctica", 2)


def test_ownership_records():
    tags = ownership.tag_list("demo")
    assert ownership.owned_by(tags, "demo")
    assert not ownership.owned_by(tags, "other")
    assert ownership.owned_by([{"key": "iotfleet:fleet", "value": "demo"}], "demo")
    assert not ownership.owned_by(None, "demo")
    assert ownership.thing_owned_by({ownership.FLEET_ATTRIBUTE: "demo"}, "demo")
    assert not ownership.thing_owned_by({}, "demo")
