"""Bad input across every command: exit 2, a message naming the flag, no traceback, and not one mutating call.

One small fleet (with a job) is provisioned for the whole module, so every case meets real resources; the
emulator counts the calls each case makes. A case names the text its error message must contain, usually the
flag.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.jobs.create import JobSpec, create_job
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.spec import FleetSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from provision_setup import fleet_context, mutating_calls

FLEET = "corpus"
SPEC = FleetSpec(fleet=FLEET, devices=6, thing_types=("SedanVehicle",), prefix="corpus-")
JOB = "corpus-existing-job"
THING = "corpus-1"
# A valid jobs create up to the flag each case gets wrong.
JOB_CREATE = ["jobs", "create", "--fleet", FLEET, "--package", "SedanVehicle", "--version", "1.1.0", "--thing", THING]
LONG = "x" * 2029
# A valid rollout start up to the flag each case gets wrong (a repeated flag's last value counts).
ROLLOUT_START = ["rollout", "start", "--fleet", FLEET, "--package", "SedanVehicle", "--version", "1.1.0",
                 "--query", "thingTypeName:SedanVehicle", "--waves", "100%"]  # fmt: skip


@pytest.fixture(scope="module")
def fleet(emulator_server: LocalEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEmulator]:
    emulator_server.reset()
    with fleet_context(emulator_server) as ctx:
        assert provision(ctx, SPEC).ok
        create_job(ctx, JobSpec(fleet=FLEET, things=(THING,), package="SedanVehicle", version="1.1.0", job_id=JOB))
    yield emulator_server
    emulator_server.reset()


def files(tmp: Path) -> dict[str, str]:
    (tmp / "list.json").write_text("[1, 2]")
    (tmp / "text.json").write_text("not json")
    (tmp / "firmware.bin").write_bytes(b"firmware")
    (tmp / "bad-spec.yaml").write_text("devices: [1\n")
    names = {"list": "list.json", "text": "text.json", "firmware": "firmware.bin", "badspec": "bad-spec.yaml"}
    return {key: str(tmp / name) for key, name in names.items()}


# (id, arguments after the global target options, text the error names). {files} are filled in per test;
# a "--yes" outside cleanup stands for the global --yes.
CASES = [
    # global options
    ("region-bad", ["--region", "not a region!", "whoami"], "--region"),
    ("concurrency-zero", ["--concurrency", "0", "whoami"], "--concurrency"),
    ("concurrency-text", ["--concurrency", "many", "whoami"], "--concurrency"),
    ("quota-shape", ["--quota", "CreateThing", "whoami"], "--quota"),
    ("quota-zero", ["--quota", "iot:CreateThing=0", "whoami"], "--quota"),
    ("quota-text", ["--quota", "iot:CreateThing=fast", "whoami"], "--quota"),
    ("output-unknown", ["--output", "xml", "whoami"], "--output"),
    ("quota-empty", ["--quota", "", "whoami"], "--quota"),
    # cleanup
    ("cleanup-only-empty", ["cleanup", "--fleet", FLEET, "--only", "", "--yes"], "--only"),
    ("cleanup-only-blank", ["cleanup", "--fleet", FLEET, "--only", " ", "--yes"], "--only"),
    ("cleanup-only-comma", ["cleanup", "--fleet", FLEET, "--only", ",", "--yes"], "--only"),
    ("cleanup-only-one-blank", ["cleanup", "--fleet", FLEET, "--only", "jobs", "--only", "", "--yes"], "--only"),
    ("cleanup-only-unknown", ["cleanup", "--fleet", FLEET, "--only", "widgets", "--yes"], "--only"),
    ("cleanup-fleet-name", ["cleanup", "--fleet", "bad name!", "--yes"], "--fleet"),
    ("cleanup-no-yes", ["cleanup", "--fleet", FLEET], "--yes"),
    # groups
    ("groups-query-syntax", ["groups", "create", "G1", "--query", "attributes.country:(", "--yes"], "--query"),
    ("groups-query-field", ["groups", "create", "G1", "--query", "nosuchfield:1", "--yes"], "--query"),
    ("groups-country-empty", ["groups", "create", "G1", "--country", "", "--yes"], "--country"),
    ("groups-country-unknown", ["groups", "create", "G1", "--country", "ZZ", "--yes"], "--country"),
    ("groups-country-comma", ["groups", "create", "G1", "--country", ",", "--yes"], "--country"),
    ("groups-version-empty", ["groups", "create", "G1", "--version", " ", "--yes"], "--version"),
    ("groups-battery", ["groups", "create", "G1", "--battery", ">>5", "--yes"], "--battery"),
    ("groups-description", ["groups", "create", "G1", "--battery", ">5", "--description", LONG, "--yes"],
     "--description"),
    ("groups-name", ["groups", "create", "bad name", "--battery", ">5", "--yes"], "NAME"),
    ("groups-sample", ["groups", "create", "G1", "--battery", ">5", "--sample", "-1", "--yes"], "--sample"),
    ("groups-delete-name", ["groups", "delete", "bad name", "--yes"], "NAME"),
    ("groups-page-size", ["groups", "describe", f"{FLEET}_US", "--page-size", "0"], "--page-size"),
    ("groups-query-bad", ["groups", "query", "a:(b"], "QUERY"),
    ("groups-query-limit", ["groups", "query", "thingName:corpus*", "--limit", "-1"], "--limit"),
    # jobs create
    ("jobs-rate-zero", [*JOB_CREATE, "--max-per-minute", "0", "--yes"], "--max-per-minute"),
    ("jobs-rate-high", [*JOB_CREATE, "--max-per-minute", "1001", "--yes"], "--max-per-minute"),
    ("jobs-factor-high", [*JOB_CREATE, "--exp-base", "5", "--exp-factor", "6", "--exp-notified", "5", "--yes"], "--exp-factor"),
    ("jobs-factor-decimals", [*JOB_CREATE, "--exp-base", "5", "--exp-factor", "1.15", "--exp-notified", "5", "--yes"],
     "--exp-factor"),
    ("jobs-abort-percent", [*JOB_CREATE, "--abort", "FAILED:101:5", "--yes"], "--abort"),
    ("jobs-abort-type", [*JOB_CREATE, "--abort", "BROKEN:10:5", "--yes"], "--abort"),
    ("jobs-timeout", [*JOB_CREATE, "--timeout-minutes", "0", "--yes"], "--timeout-minutes"),
    ("jobs-retry-rejected", [*JOB_CREATE, "--retry", "REJECTED:1", "--yes"], "--retry"),
    ("jobs-retry-many", [*JOB_CREATE, "--retry", "FAILED:11", "--yes"], "--retry"),
    ("jobs-url-expiry", [*JOB_CREATE, "--url-expiry", "59", "--yes"], "--url-expiry"),
    ("jobs-window", [*JOB_CREATE, "--maintenance-window", "cron=nonsense,duration=60", "--yes"], "--maintenance-window"),
    ("jobs-start-text", [*JOB_CREATE, "--schedule-start", "tomorrow-ish", "--yes"], "--schedule-start"),
    ("jobs-start-past", [*JOB_CREATE, "--schedule-start", "2001-01-01T00:00Z", "--yes"], "--schedule-start"),
    ("jobs-end-behavior", [*JOB_CREATE, "--end-behavior", "EXPLODE", "--yes"], "--end-behavior"),
    ("jobs-tag-shape", [*JOB_CREATE, "--tag", "novalue", "--yes"], "--tag"),
    ("jobs-tag-reserved", [*JOB_CREATE, "--tag", "aws:owner=me", "--yes"], "--tag"),
    ("jobs-id-shape", [*JOB_CREATE, "--job-id", "bad id!", "--yes"], "--job-id"),
    ("jobs-id-exists", [*JOB_CREATE, "--job-id", JOB, "--yes"], "--job-id"),
    ("jobs-document-list", ["jobs", "create", "--fleet", FLEET, "--document", "{list}", "--thing", THING, "--yes"],
     "--document"),
    ("jobs-document-text", ["jobs", "create", "--fleet", FLEET, "--document", "{text}", "--thing", THING, "--yes"],
     "--document"),
    ("jobs-document-missing", ["jobs", "create", "--fleet", FLEET, "--document", "/nonexistent/doc.json", "--thing", THING,
                               "--yes"], "--document"),
    ("jobs-group-unknown", ["jobs", "create", "--fleet", FLEET, "--package", "SedanVehicle", "--version", "1.1.0", "--group",
                            "NoSuchGroup", "--yes"], "--group"),
    ("jobs-thing-unknown", ["jobs", "create", "--fleet", FLEET, "--package", "SedanVehicle", "--version", "1.1.0", "--thing",
                            "no-such-thing", "--yes"], "--thing"),
    ("jobs-package-unknown", ["jobs", "create", "--fleet", FLEET, "--package", "NoSuchPackage", "--version", "1.0.0", "--thing",
                              THING, "--yes"], "--version"),
    ("jobs-group-empty", ["jobs", "create", "--fleet", FLEET, "--package", "SedanVehicle", "--version", "1.1.0",
                          "--group", "", "--yes"], "--group"),
    ("jobs-thing-empty", ["jobs", "create", "--fleet", FLEET, "--package", "SedanVehicle", "--version", "1.1.0",
                          "--thing", " ", "--yes"], "--thing"),
    ("jobs-tag-empty", ["jobs", "create", "--fleet", FLEET, "--package", "SedanVehicle", "--version", "1.1.0",
                        "--thing", THING, "--tag", "", "--yes"], "--tag"),
    ("jobs-description", [*JOB_CREATE, "--description", LONG, "--yes"], "--description"),
    ("jobs-cancel-unknown", ["jobs", "cancel", "no-such-job", "--yes"], "no-such-job"),
    ("jobs-watch-interval", ["jobs", "watch", JOB, "--interval", "0"], "--interval"),
    ("jobs-report-details", ["jobs", "report", JOB, "--html", "out.html", "--failure-details", "some"],
     "--failure-details"),
    ("jobs-executions-status", ["jobs", "executions", JOB, "--status", "EXPLODED"], "--status"),
    # packages
    ("packages-name", ["packages", "create", "bad name", "--fleet", FLEET], "PACKAGE"),
    ("packages-file-missing", ["packages", "create-version", "SedanVehicle", "9.9.9", "--file", "/nope.bin",
                               "--fleet", FLEET], "--file"),
    ("packages-attribute-reserved", ["packages", "create-version", "SedanVehicle", "9.9.9", "--file",
                                     "{firmware}", "--attribute", "sha256=abc", "--fleet", FLEET],
     "--attribute"),
    ("packages-attribute-empty", ["packages", "create-version", "SedanVehicle", "9.9.9", "--file",
                                  "{firmware}", "--attribute", "", "--fleet", FLEET], "--attribute"),
    ("packages-attribute-shape", ["packages", "create-version", "SedanVehicle", "9.9.9", "--file",
                                  "{firmware}", "--attribute", "novalue", "--fleet", FLEET], "--attribute"),
    ("packages-role-malformed", ["packages", "config", "enable", "--role-arn", "not-an-arn"], "--role-arn"),
    ("packages-role-missing", ["packages", "config", "enable", "--role-arn",
                               "arn:aws:iam::123456789012:role/no-such-role"], "--role-arn"),
    ("packages-delete-unknown", ["packages", "delete", "NoSuchPackage", "--yes"], "PACKAGE"),
    ("packages-describe-unknown", ["packages", "describe", "NoSuchPackage"], "PACKAGE"),
    ("packages-rollback-to", ["packages", "rollback", "SedanVehicle", "--to", "0.0.1", "--fleet", FLEET,
                              "--yes"], "--to"),
    # provision
    ("provision-devices-zero", ["provision", "--fleet", FLEET, "--devices", "0", "--yes"], "--devices"),
    ("provision-devices-negative", ["provision", "--fleet", FLEET, "--devices", "-5", "--yes"], "--devices"),
    ("provision-devices-huge", ["provision", "--fleet", FLEET, "--devices", str(10**20), "--yes"], "--devices"),
    ("provision-devices-text", ["provision", "--fleet", FLEET, "--devices", "lots", "--yes"], "--devices"),
    ("provision-types-empty", ["provision", "--fleet", FLEET, "--thing-types", "", "--yes"], "--thing-types"),
    ("provision-versions-comma", ["provision", "--fleet", FLEET, "--versions", ",", "--yes"], "--versions"),
    ("provision-attributes-empty", ["provision", "--fleet", FLEET, "--searchable-attributes", " ", "--yes"],
     "--searchable-attributes"),
    ("provision-countries-empty", ["provision", "--fleet", FLEET, "--countries", "", "--yes"], "--countries"),
    ("provision-countries-unknown", ["provision", "--fleet", FLEET, "--countries", "ZZ", "--yes"], "--countries"),
    ("provision-countries-twice", ["provision", "--fleet", FLEET, "--countries", "US,US", "--yes"],
     "--countries"),
    ("provision-continent", ["provision", "--fleet", FLEET, "--continent", "Atlantis", "--yes"], "--continent"),
    ("provision-prefix", ["provision", "--fleet", FLEET, "--prefix", "bad prefix!", "--yes"], "--prefix"),
    ("provision-seed", ["provision", "--fleet", FLEET, "--seed", "abc", "--yes"], "--seed"),
    ("provision-firmware-size", ["provision", "--fleet", FLEET, "--firmware-size", "0", "--yes"],
     "--firmware-size"),
    ("provision-spec-missing", ["provision", "--spec", "/nonexistent/spec.yaml", "--yes"], "--spec"),
    ("provision-spec-broken", ["provision", "--spec", "{badspec}", "--yes"], "--spec"),
    # simulate
    ("simulate-success-rate", ["simulate", "--job", JOB, "--success-rate", "101"], "--success-rate"),
    ("simulate-weights", ["simulate", "--job", JOB, "--failure-weights", "gremlins=1"], "--failure-weights"),
    ("simulate-weights-empty", ["simulate", "--job", JOB, "--failure-weights", ""], "--failure-weights"),
    ("simulate-latency", ["simulate", "--job", JOB, "--latency", "bogus"], "--latency"),
    ("simulate-devices", ["simulate", "--job", JOB, "--devices", "0"], "--devices"),
    ("simulate-until", ["simulate", "--job", JOB, "--until", "-5"], "--until"),
    ("simulate-job-unknown", ["simulate", "--job", "no-such-job"], "--job"),
    ("simulate-both", ["simulate", "--job", JOB, "--fleet", FLEET], "--job"),
    # rollout
    ("rollout-waves-decreasing", [*ROLLOUT_START, "--waves", "10%,5%,100%"], "--waves"),
    ("rollout-waves-short", [*ROLLOUT_START, "--waves", "10%,50%"], "--waves"),
    ("rollout-waves-empty", [*ROLLOUT_START, "--waves", ""], "--waves"),
    ("rollout-gate-measure", [*ROLLOUT_START, "--gate", "uptime>=99"], "--gate"),
    ("rollout-gate-percent", [*ROLLOUT_START, "--gate", "success>=101"], "--gate"),
    ("rollout-bake", [*ROLLOUT_START, "--bake", "soon"], "--bake"),
    ("rollout-health-query", [*ROLLOUT_START, "--health-query", "shadow.reported.selfTest:("], "--health-query"),
    ("rollout-min-executed", [*ROLLOUT_START, "--min-executed", "-1"], "--min-executed"),
    ("rollout-id", [*ROLLOUT_START, "--rollout-id", "bad id!"], "--rollout-id"),
    ("rollout-version-unknown", [*ROLLOUT_START, "--version", "9.9.9"], "--version"),
    ("rollout-status-unknown", ["rollout", "status", "no-such-rollout", "--fleet", FLEET], "no-such-rollout"),
    # local and demo: refused before any emulator starts
    ("local-port", ["local", "start", "--port", "99999"], "--port"),
    ("local-time-scale", ["local", "start", "--time-scale", "1e12"], "--time-scale"),
    ("local-mqtt-port", ["local", "start", "--mqtt-port", "-1"], "--mqtt-port"),
    ("local-fault-rate", ["local", "start", "--fault-rate", "1.5"], "--fault-rate"),
    ("local-fault-after", ["local", "start", "--fault-after", "-0.1"], "--fault-after"),
    ("demo-devices", ["demo", "--devices", "0"], "--devices"),
    ("demo-success-rate", ["demo", "--success-rate", "101"], "--success-rate"),
    ("demo-weights", ["demo", "--failure-weights", "gremlins=1"], "--failure-weights"),
]


@pytest.mark.parametrize("case, arguments, named", CASES, ids=[case for case, _, _ in CASES])
def test_bad_input_is_exit_2_naming_the_flag_with_nothing_changed(
    fleet: LocalEmulator, invoke, tmp_path: Path, case: str, arguments: list[str], named: str
) -> None:
    paths = files(tmp_path)
    filled = [argument.format(**paths) if "{" in argument else argument for argument in arguments]
    if "--yes" in filled and filled[0] != "cleanup":
        # Confirmations are a global flag everywhere but in cleanup, which has its own.
        filled = ["--yes", *(argument for argument in filled if argument != "--yes")]
    fleet.reset_counters()
    ran = invoke("--target", "local", "--endpoint-url", fleet.endpoint_url, *filled)
    output = ran.stdout + ran.stderr
    assert ran.exit_code == 2, f"{case}: exit {ran.exit_code}\n{output}"
    assert named in ran.stderr, f"{case}: the message does not name {named}:\n{ran.stderr}"
    assert "Traceback" not in output
    assert mutating_calls(fleet) == {}, f"{case}: mutating calls {mutating_calls(fleet)}"


def test_the_corpus_covers_every_command_group():
    groups = {arguments[0] if not arguments[0].startswith("--") else "global" for _, arguments, _ in CASES}
    assert {"global", "cleanup", "groups", "jobs", "packages", "provision", "simulate", "rollout", "local",
            "demo"} <= groups
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999", "abc", "http://[::1", "http://127.0.0.1:port", "ftp://127.0.0.1:4567"]
)
def test_a_bad_endpoint_url_is_a_usage_error_naming_where_it_came_from(invoke, url: str) -> None:
    flag = invoke("--target", "local", "--endpoint-url", url, "whoami")
    assert flag.exit_code == 2, flag.stderr
    assert "--endpoint-url" in flag.stderr and "Traceback" not in flag.stdout + flag.stderr
    variable = invoke("--target", "local", "whoami", env={"AWS_ENDPOINT_URL": url})
    assert variable.exit_code == 2, variable.stderr
    assert "AWS_ENDPOINT_URL" in variable.stderr and "Traceback" not in variable.stdout + variable.stderr


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_a_bad_region_from_the_environment_is_a_usage_error_naming_the_variable(invoke, variable: str) -> None:
    ran = invoke("--target", "local", "whoami", env={variable: "nowhere at all"})
    assert ran.exit_code == 2, ran.stderr
    assert variable in ran.stderr
