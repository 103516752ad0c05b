"""The scripts/ workflow on a pseudo-terminal: provision, a dynamic group, an OTA job, simulate, packages, explore,
cleanup, each script answered prompt by prompt the way a person would, against the emulator as its own process.

After each script the emulator is asked (with plain boto3) what it now holds, so the test checks what the
scripts did, not only what they printed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from script_terminal import DEBUG_PROMPT, RunScript, Terminal, pick

from iotfleet.fleet.ownership import FLEET_ATTRIBUTE, FLEET_TAG

FLEET = "scripts"
PACKAGE = "SedanVehicle"
DEVICES = 12
JOB = "ota-scripts-1"
TARGET_GROUP = "US_Fleet"
DYNAMIC_GROUP = "US_LowBattery"

Clients = Callable[[str], BaseClient]


def fleet_things(iot: BaseClient) -> list[str]:
    pages = iot.get_paginator("list_things").paginate(attributeName=FLEET_ATTRIBUTE, attributeValue=FLEET)
    return sorted(thing["thingName"] for page in pages for thing in page["things"])


def group_members(iot: BaseClient, group: str) -> list[str]:
    pages = iot.get_paginator("list_things_in_thing_group").paginate(thingGroupName=group)
    return sorted(name for page in pages for name in page["things"])


def executions(iot: BaseClient, job: str) -> dict[str, str]:
    pages = iot.get_paginator("list_job_executions_for_job").paginate(jobId=job)
    return {e["thingArn"].rsplit("/", 1)[1]: e["jobExecutionSummary"]["status"] for p in pages for e in p["executionSummaries"]}  # fmt: skip


def tags(iot: BaseClient, arn: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in iot.list_tags_for_resource(resourceArn=arn)["tags"]}


def ended(term: Terminal, code: int = 0) -> None:
    assert term.wait() == code, term.transcript
    assert "Traceback" not in term.transcript, term.transcript


# --- the steps ---------------------------------------------------------------------------------------------------


def provision(run_script: RunScript, iot: BaseClient) -> None:
    term = run_script("provision_script.py")
    term.answer(DEBUG_PROMPT, "n")
    term.answer(r"Thing types \(comma-separated\) \[SedanVehicle,SUVVehicle,TruckVehicle\]: ", PACKAGE)
    term.answer(r"Package versions \(comma-separated\) \[1\.0\.0,1\.1\.0\]: ", "")
    term.answer(r"Continent \(number or name\) \[1\]: ", "")
    term.answer(r"Countries: how many \(the first N\), or ISO codes such as US,CA \[3\]: ", "US,CA")
    term.answer(r"Number of devices \[100\]: ", str(DEVICES))
    term.answer(r"Thing name prefix \[Vehicle-VIN-\]: ", "")
    term.answer(r"Fleet name \[default\]: ", FLEET)
    term.answer(r"Give every device an X\.509 certificate \(keys stay on this machine\)\? \[y/N\] ", "")
    term.answer(r"Save these answers as a spec file\? \[y/N\] ", "")
    term.expect(rf"Plan for fleet {FLEET}")
    term.expect(rf"Vehicle-VIN-1 \.\.\. Vehicle-VIN-{DEVICES}\W+create {DEVICES}")
    term.answer(r"Apply this plan\? \[Y/n\] ", "")
    term.expect(rf"Fleet {FLEET}: provisioned in")
    ended(term)

    assert fleet_things(iot) == sorted(f"Vehicle-VIN-{n}" for n in range(1, DEVICES + 1))
    us, ca = group_members(iot, "US_Fleet"), group_members(iot, "CA_Fleet")
    assert us and ca and len(us) + len(ca) == DEVICES
    assert (
        iot.describe_thing_group(thingGroupName="US_Fleet")["thingGroupMetadata"]["parentGroupName"]
        == "NorthAmerica_Fleet"
    )
    versions = iot.list_package_versions(packageName=PACKAGE)["packageVersionSummaries"]
    assert {v["versionName"]: v["status"] for v in versions} == {"1.0.0": "PUBLISHED", "1.1.0": "PUBLISHED"}
    assert iot.describe_thing_type(thingTypeName=PACKAGE)["thingTypeName"] == PACKAGE
    assert (
        iot.get_indexing_configuration()["thingIndexingConfiguration"]["thingIndexingMode"]
        == "REGISTRY_AND_SHADOW"
    )


def create_dynamic_group(run_script: RunScript, iot: BaseClient) -> None:
    term = run_script("manage_dynamic_groups.py", "--fleet", FLEET)
    term.answer(DEBUG_PROMPT, "n")
    pick(term, "Create a dynamic group with the query builder", "Choose: ")
    term.answer(r"Countries, ISO codes separated by commas \(empty for any\): ", "US")
    term.answer(r"Thing type \(empty for any\): ", "")
    term.answer(r"Package versions the devices report, separated by commas \(empty for any\): ", "")
    term.answer(r"Battery level, .*\(empty for any\): ", "<50")
    term.answer(rf"Only fleet {FLEET}'s things\? \[Y/n\] ", "")
    term.answer(r"Group name: ", DYNAMIC_GROUP)
    term.answer(r"Description \(empty for none\): ", "US devices below half charge")
    matching = int(term.expect(r"Matching things\s+(\d+)").group(1))
    term.answer(rf"Create dynamic group {DYNAMIC_GROUP} \({matching} matching things now\)\? \[y/N\] ", "y")
    term.expect(rf"Created dynamic group {DYNAMIC_GROUP}")
    pick(term, "Exit", "Choose: ")
    ended(term)

    group = iot.describe_thing_group(thingGroupName=DYNAMIC_GROUP)
    assert group["queryString"] == (
        f"attributes.{FLEET_ATTRIBUTE}:{FLEET} AND attributes.country:US AND shadow.reported.batteryStatus<50"
    )
    assert tags(iot, group["thingGroupArn"])[FLEET_TAG] == FLEET
    assert 0 < matching <= len(group_members(iot, TARGET_GROUP))


def create_job(run_script: RunScript, iot: BaseClient) -> None:
    term = run_script("create_job.py", "--fleet", FLEET)
    term.answer(DEBUG_PROMPT, "n")
    pick(term, "OTA update (a package version)")
    pick(term, PACKAGE)
    pick(term, "1.1.0 (PUBLISHED)")
    pick(term, TARGET_GROUP, r"Numbers separated by commas \(empty for none\): ")
    term.answer(r"Thing names, separated by commas \(empty for none\): ", "")
    pick(term, "SNAPSHOT: the targets as they are now")
    term.answer(r"Configure advanced settings .*\? \[y/N\] ", "y")
    pick(term, "constant rate")
    term.answer(r"Executions per minute \(1-1000\) \[50\]: ", "100")
    term.answer(r"Add an abort criterion\? \[y/N\] ", "y")
    term.answer(r"TYPE:PERCENT:MIN_EXECUTED, .*: ", "FAILED:50:5")
    term.answer(r"Add an abort criterion\? \[y/N\] ", "")
    term.answer(r"Set an in-progress timeout\? \[y/N\] ", "")
    term.answer(r"Add a retry criterion\? \[y/N\] ", "")
    term.answer(r"Schedule the job .*\? \[y/N\] ", "")
    term.answer(r"Presigned URL lifetime in seconds \(60-3600\) \[3600\]: ", "")
    term.answer(r"Job id \[ota-SedanVehicle-1_1_0-[^\]]+\]: ", JOB)
    term.answer(r"Description \(empty for none\): ", "Firmware 1.1.0 to the US")
    term.answer(r"Show the exact CreateJob request\? \[y/N\] ", "")
    term.answer(rf"Create job {JOB}\? \[Y/n\] ", "")
    term.expect(rf"Created job {JOB}")
    ended(term)

    job = iot.describe_job(jobId=JOB)["job"]
    assert job["status"] == "IN_PROGRESS"
    assert job["targets"] == [iot.describe_thing_group(thingGroupName=TARGET_GROUP)["thingGroupArn"]]
    assert job["targetSelection"] == "SNAPSHOT"
    assert job["description"] == "Firmware 1.1.0 to the US"
    assert job["jobExecutionsRolloutConfig"]["maximumPerMinute"] == 100
    [criterion] = job["abortConfig"]["criteriaList"]
    assert (
        criterion["failureType"],
        criterion["thresholdPercentage"],
        criterion["minNumberOfExecutedThings"],
    ) == ("FAILED", 50, 5)
    assert [arn.rsplit("/", 3)[1:] for arn in job["destinationPackageVersions"]] == [
        [PACKAGE, "version", "1.1.0"]
    ]
    assert tags(iot, job["jobArn"])[FLEET_TAG] == FLEET


def simulate(run_script: RunScript, iot: BaseClient) -> None:
    # Each device gives itself ten hours for a step, so the sped-up emulator clock never times a device out.
    term = run_script("simulate_job_execution.py", "--step-timeout", "600")
    term.answer(DEBUG_PROMPT, "n")
    pick(term, f"{JOB}  (IN_PROGRESS")
    targeted = len(group_members(iot, TARGET_GROUP))
    term.expect(rf"Job {JOB} targets {targeted} device\(s\)")
    term.answer(r"Process ALL devices or a number\? \[ALL/number\] \[ALL\]: ", "")
    term.answer(r"Success percentage \(0-100\) \[100\]: ", "100")
    term.answer(r"Failure weights .*: ", "")
    term.answer(r"Step latency .*: ", "0")
    term.answer(r"Seed \(the same seed replays the same run\) \[\d+\]: ", "7")
    term.answer(r"Ready to simulate these job executions\. Proceed\? \[Y/n\] ", "y")
    term.expect(rf"succeeded\W+{targeted}\W+100\.0%")
    ended(term)

    assert executions(iot, JOB) == dict.fromkeys(group_members(iot, TARGET_GROUP), "SUCCEEDED")
    deadline = time.monotonic() + 10
    while iot.describe_job(jobId=JOB)["job"]["status"] != "COMPLETED":
        assert time.monotonic() < deadline, iot.describe_job(jobId=JOB)["job"]
        time.sleep(0.1)


def set_default_version(run_script: RunScript, iot: BaseClient) -> None:
    term = run_script("manage_packages.py", "--fleet", FLEET)
    term.answer(DEBUG_PROMPT, "n")
    pick(term, "Set the default version", "Choose: ")
    pick(term, PACKAGE)
    pick(term, "1.1.0 (PUBLISHED)")
    pick(term, "Show the version distribution", "Choose: ")
    pick(term, PACKAGE)
    term.expect(r"1\.1\.0")
    pick(term, "Exit", "Choose: ")
    ended(term)

    assert iot.get_package(packageName=PACKAGE)["defaultVersionName"] == "1.1.0"


def explore(run_script: RunScript, iot: BaseClient, report: Path) -> None:
    menu = "Choose: "
    succeeded = len(group_members(iot, TARGET_GROUP))
    before = iot.describe_job(jobId=JOB)["job"]
    term = run_script("explore_jobs.py")
    term.answer(DEBUG_PROMPT, "n")
    pick(term, "List jobs", menu)
    term.answer(r"Status \(.*; empty for all\): ", "")
    term.expect(rf"{JOB}\W+COMPLETED\W+SNAPSHOT")
    pick(term, "Job statistics", menu)
    pick(term, f"{JOB}  (COMPLETED)")
    term.expect(rf"Things\s+{succeeded} released, {succeeded} finished, 0 pending")
    term.expect(rf"SUCCEEDED\W+{succeeded}\W+100\.0%")
    pick(term, "HTML report of a job", menu)
    pick(term, f"{JOB}  (COMPLETED)")
    term.answer(rf"HTML file \[{JOB}-report\.html\]: ", str(report))
    term.answer(r"Failed executions to read statusDetails of \(number or all\) \[\d+\]: ", "")
    term.expect(re.escape(report.name))
    pick(term, "Quit", menu)
    ended(term)

    assert JOB in report.read_text()
    assert iot.describe_job(jobId=JOB)["job"] == before


def cleanup(run_script: RunScript, typed: str) -> Terminal:
    term = run_script("cleanup_script.py", timeout=60)
    term.answer(DEBUG_PROMPT, "n")
    pick(term, FLEET)
    term.answer(r"Delete everything of the fleet .*\? \[Y/n\] ", "")
    term.expect(rf"Cleanup plan for fleet '{FLEET}'")
    term.answer(rf"Delete \d+ resource\(s\) of fleet '{FLEET}'.*\. Type DELETE to confirm: ", typed)
    return term


def _gone(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as err:
        return err.response["Error"]["Code"] in {"ResourceNotFoundException", "NoSuchEntity"}
    return False


# --- the test ----------------------------------------------------------------------------------------------------


def test_the_workflow_through_the_scripts(
    fresh_emulator: str, run_script: RunScript, aws: Clients, tmp_path: Path
) -> None:
    iot = aws("iot")
    provision(run_script, iot)
    create_dynamic_group(run_script, iot)
    create_job(run_script, iot)
    simulate(run_script, iot)
    set_default_version(run_script, iot)
    explore(run_script, iot, tmp_path / "ota-report.html")

    declined = cleanup(run_script, typed="no")
    declined.expect("not confirmed; nothing was changed")
    ended(declined, 130)
    assert len(fleet_things(iot)) == DEVICES
    assert iot.describe_job(jobId=JOB)["job"]["status"] == "COMPLETED"

    confirmed = cleanup(run_script, typed="DELETE")
    confirmed.expect(rf"Cleanup report: fleet '{FLEET}'")
    confirmed.expect(r"Done\.")
    ended(confirmed)
    assert fleet_things(iot) == []
    assert iot.list_thing_groups()["thingGroups"] == []
    assert iot.list_packages()["packageSummaries"] == []
    assert _gone(lambda: iot.describe_job(jobId=JOB))
    assert _gone(lambda: iot.describe_thing_type(thingTypeName=PACKAGE))
    assert iot.get_indexing_configuration()["thingIndexingConfiguration"]["thingIndexingMode"] == "OFF"
    assert [b["Name"] for b in aws("s3").list_buckets()["Buckets"]] == []
    assert [
        r["RoleName"] for r in aws("iam").list_roles()["Roles"] if r["RoleName"].startswith("iotfleet-")
    ] == []
