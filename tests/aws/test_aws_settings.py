"""Target settings: defaults < config file < env < flags, and clear errors naming the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotfleet.aws.errors import UsageError
from iotfleet.aws.settings import LOCAL_ENDPOINT, TargetSettings


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        'target = "aws"\nregion = "eu-west-1"\nprofile = "fleet"\nconcurrency = 8\n'
        '[quotas]\n"iot:CreateThing" = 50\n"iot:DescribeThing" = 30\n[retry]\nmax_attempts = 5\nbudget = 7\n'
    )
    return path


def test_defaults_with_no_config(tmp_path: Path) -> None:
    settings = TargetSettings.resolve(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert (settings.target, settings.profile, settings.region, settings.endpoint_url) == ("aws", None, None, None)
    assert (settings.concurrency, settings.debug, settings.quota_overrides) == (16, False, {})
    assert settings.quotas["iot:CreateThing"] == 80.0


def test_local_target_defaults() -> None:
    settings = TargetSettings.resolve(target="local", env={"AWS_PROFILE": "someone-elses-sso"})
    assert settings.endpoint_url == LOCAL_ENDPOINT
    assert settings.endpoint_default
    assert settings.region == "us-east-1"
    assert settings.profile is None  # a profile from the environment does not apply to the emulator


def test_config_file_is_read_from_iotfleet_config(config: Path) -> None:
    settings = TargetSettings.resolve(env={"IOTFLEET_CONFIG": str(config)})
    assert (settings.region, settings.profile, settings.concurrency) == ("eu-west-1", "fleet", 8)
    assert settings.quota_overrides == {"iot:CreateThing": 50.0, "iot:DescribeThing": 30.0}
    assert (settings.max_attempts, settings.retry_budget) == (5, 7)
    assert settings.config_path == config


def test_config_file_is_found_under_xdg_config_home(tmp_path: Path, config: Path) -> None:
    (tmp_path / "iotfleet").mkdir()
    config.rename(tmp_path / "iotfleet" / "config.toml")
    settings = TargetSettings.resolve(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.region == "eu-west-1"


def test_env_beats_config_and_flags_beat_env(config: Path) -> None:
    env = {
        "IOTFLEET_CONFIG": str(config),
        "IOTFLEET_TARGET": "local",
        "AWS_REGION": "us-west-2",
        "AWS_ENDPOINT_URL": "http://localhost:9000/",
        "IOTFLEET_DEBUG": "1",
        "IOTFLEET_QUOTAS": "iot:CreateThing=40,iot:*=5",
        "IOTFLEET_CONCURRENCY": "4",
    }
    from_env = TargetSettings.resolve(env=env)
    assert (from_env.target, from_env.region, from_env.endpoint_url) == ("local", "us-west-2", "http://localhost:9000")
    assert not from_env.endpoint_default
    assert (from_env.debug, from_env.concurrency) == (True, 4)
    assert from_env.quota_overrides == {"iot:CreateThing": 40.0, "iot:DescribeThing": 30.0, "iot:*": 5.0}
    assert from_env.quotas["iot:CreateThing"] == 40.0
    assert from_env.quotas["iot:CreateThingType"] == 5.0

    flags = TargetSettings.resolve(
        env=env,
        target="aws",
        region="ap-south-1",
        endpoint_url="http://127.0.0.1:1234",
        debug=False,
        concurrency=2,
        quota_overrides=["iot:CreateThing=20"],
        profile="admin",
    )
    assert (flags.target, flags.region, flags.endpoint_url, flags.profile) == (
        "aws", "ap-south-1", "http://127.0.0.1:1234", "admin"
    )
    assert (flags.debug, flags.concurrency, flags.quotas["iot:CreateThing"]) == (False, 2, 20.0)


def test_aws_default_region_and_profile_from_env(tmp_path: Path) -> None:
    settings = TargetSettings.resolve(env={"AWS_DEFAULT_REGION": "eu-north-1", "AWS_PROFILE": "p"})
    assert (settings.region, settings.profile) == ("eu-north-1", "p")


@pytest.mark.parametrize(
    ("kwargs", "env", "param"),
    [
        ({"target": "gcp"}, {}, "--target"),
        ({}, {"IOTFLEET_TARGET": "moon"}, "--target"),
        ({"concurrency": 0}, {}, "--concurrency"),
        ({"concurrency": 100000}, {}, "--concurrency"),
        ({}, {"IOTFLEET_CONCURRENCY": "many"}, "IOTFLEET_CONCURRENCY"),
        ({}, {"IOTFLEET_DEBUG": "maybe"}, "IOTFLEET_DEBUG"),
        ({"endpoint_url": "localhost:4567"}, {}, "--endpoint-url"),
        ({}, {"AWS_ENDPOINT_URL": "ftp://x"}, "AWS_ENDPOINT_URL"),
        ({"quota_overrides": ["iot:CreateThing"]}, {}, "--quota"),
        ({"quota_overrides": ["iot:CreateThing=-1"]}, {}, "--quota"),
        ({"quota_overrides": ["iot:CreateThng=5"]}, {}, "--quota"),
        ({"quota_overrides": ["dynamo:*=5"]}, {}, "--quota"),
        ({}, {"IOTFLEET_QUOTAS": "iot:CreateThing=fast"}, "IOTFLEET_QUOTAS"),
        ({"config_path": "/nonexistent/config.toml"}, {}, "config file"),
        ({}, {"IOTFLEET_CONFIG": "/nonexistent/config.toml"}, "IOTFLEET_CONFIG"),
        ({"access_key": "AKIA"}, {}, "credentials"),
    ],
)
def test_bad_settings_name_their_source(kwargs: dict[str, object], env: dict[str, str], param: str) -> None:
    with pytest.raises(UsageError) as caught:
        TargetSettings.resolve(env=env, **kwargs)  # type: ignore[arg-type]
    assert caught.value.param == param
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    "text",
    ['target = "aws"\ncolour = "blue"\n', "[quotas]\n\"iot:CreateThing\" = \"x\"\n", "not toml = = =\n",
     "[retry]\nsleep = 1\n", 'quotas = "iot:*=5"\n'],
)
def test_bad_config_files_are_usage_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        TargetSettings.resolve(env={"IOTFLEET_CONFIG": str(path)})
    assert str(path) in str(caught.value.param)


def test_with_debug_returns_a_copy() -> None:
    settings = TargetSettings.resolve(env={})
    assert settings.with_debug().debug and not settings.debug
