"""The ``iot`` operations on policies, their versions and targets, and on the principals of things.

Answered from the emulator's registry (:mod:`.registry`): documents are validated (see
:mod:`.policy_documents`), versions and deletion follow AWS's rules, and a thing with a principal attached
cannot be deleted (DeleteThing is refused with InvalidRequestException until every principal is detached,
as on AWS). A policy's target is a certificate ARN (which must exist), a static thing group's ARN, or a
Cognito identity id. Policies and CA certificates answer the tagging operations; certificates cannot be
tagged.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.dynamic_groups import dynamic_groups
from iotfleet.emulator.errors import InvalidRequestException, ResourceNotFoundException
from iotfleet.emulator.extension import Call, after, handles
from iotfleet.emulator.identity.handlers_certificates import DEFAULT_PAGE_SIZE, marker_page, registry_of
from iotfleet.emulator.identity.models import NON_EXCLUSIVE_THING, utc
from iotfleet.emulator.identity.registry import IdentityRegistry, identity_registry
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.pagination import page
from iotfleet.emulator.tagging import tag_holder, tags_from_list

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

_THING_GROUP_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iot:[a-z0-9-]+:\d{12}:thinggroup/(?P<name>[a-zA-Z0-9:_-]+)")
_COGNITO_ID = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d:[0-9a-f-]{36}")


# --- policies ---------------------------------------------------------------------------------------------


@handles("iot", "CreatePolicy")
def create_policy(call: Call) -> dict[str, Any]:
    params = call.params
    policy = registry_of(call).create_policy(
        params["policyName"], params.get("policyDocument"), tags_from_list(params.get("tags")), call.state.clock.now()
    )
    return {
        "policyName": policy.name,
        "policyArn": policy.arn,
        "policyDocument": policy.document,
        "policyVersionId": policy.default_version_id,
    }


@handles("iot", "GetPolicy")
def get_policy(call: Call) -> dict[str, Any]:
    return registry_of(call).policy(call.params["policyName"]).describe()


@handles("iot", "DeletePolicy")
def delete_policy(call: Call) -> dict[str, Any]:
    registry_of(call).delete_policy(call.params["policyName"])
    return {}


@handles("iot", "ListPolicies")
def list_policies(call: Call) -> dict[str, Any]:
    policies = list(registry_of(call).policies.values())
    chunk, more = marker_page(call, policies, lambda p: (p.created, p.name))
    return {"policies": [p.summary() for p in chunk], **more}


@handles("iot", "CreatePolicyVersion")
def create_policy_version(call: Call) -> dict[str, Any]:
    params = call.params
    registry = registry_of(call)
    version = registry.create_policy_version(
        params["policyName"],
        params.get("policyDocument"),
        bool(params.get("setAsDefault", False)),
        call.state.clock.now(),
    )
    policy = registry.policy(params["policyName"])
    return {
        "policyArn": policy.arn,
        "policyDocument": version.document,
        "policyVersionId": version.version_id,
        "isDefaultVersion": version.version_id == policy.default_version_id,
    }


@handles("iot", "GetPolicyVersion")
def get_policy_version(call: Call) -> dict[str, Any]:
    params = call.params
    registry = registry_of(call)
    version = registry.policy_version(params["policyName"], params["policyVersionId"])
    return registry.policy(params["policyName"]).describe_version(version)


@handles("iot", "ListPolicyVersions")
def list_policy_versions(call: Call) -> dict[str, Any]:
    policy = registry_of(call).policy(call.params["policyName"])
    return {
        "policyVersions": [
            {
                "versionId": version.version_id,
                "isDefaultVersion": version.version_id == policy.default_version_id,
                "createDate": utc(version.created),
            }
            for version in sorted(policy.versions.values(), key=lambda v: int(v.version_id), reverse=True)
        ]
    }


@handles("iot", "SetDefaultPolicyVersion")
def set_default_policy_version(call: Call) -> dict[str, Any]:
    registry_of(call).set_default_version(call.params["policyName"], call.params["policyVersionId"])
    return {}


@handles("iot", "DeletePolicyVersion")
def delete_policy_version(call: Call) -> dict[str, Any]:
    registry_of(call).delete_policy_version(call.params["policyName"], call.params["policyVersionId"])
    return {}


# --- policy targets ---------------------------------------------------------------------------------------


def _check_target(call: Call, registry: IdentityRegistry, target: str) -> None:
    """A target AWS accepts: an existing certificate, an existing static thing group, or a Cognito identity."""
    if registry.certificate_by_arn(target) is not None:
        return
    if ":cert/" in target:
        raise ResourceNotFoundException(f"No certificate has the ARN {target}")
    group = _THING_GROUP_ARN.fullmatch(target)
    if group is not None:
        dynamic = dynamic_groups(call.state, call.account_id, call.region).by_arn(target)
        if dynamic is not None:
            raise InvalidRequestException(f"Policies cannot be attached to dynamic thing group {dynamic.name}")
        if accessors.thing_group(call.account_id, call.region, group.group("name")) is None:
            raise ResourceNotFoundException(f"No thing group has the ARN {target}")
        return
    if _COGNITO_ID.fullmatch(target) is None:
        raise InvalidRequestException(
            f"{target!r} is not a certificate ARN, a thing group ARN or an Amazon Cognito identity id"
        )


def _attach(call: Call, policy_name: str, target: str) -> dict[str, Any]:
    registry = registry_of(call)
    _check_target(call, registry, target)
    registry.attach_policy(policy_name, target)
    return {}


@handles("iot", "AttachPolicy")
def attach_policy(call: Call) -> dict[str, Any]:
    return _attach(call, call.params["policyName"], call.params["target"])


@handles("iot", "AttachPrincipalPolicy")
def attach_principal_policy(call: Call) -> dict[str, Any]:
    return _attach(call, call.params["policyName"], call.params["principal"])


@handles("iot", "DetachPolicy")
def detach_policy(call: Call) -> dict[str, Any]:
    registry_of(call).detach_policy(call.params["policyName"], call.params["target"])
    return {}


@handles("iot", "DetachPrincipalPolicy")
def detach_principal_policy(call: Call) -> dict[str, Any]:
    registry_of(call).detach_policy(call.params["policyName"], call.params["principal"])
    return {}


def _group_and_parents(call: Call, target: str) -> list[str]:
    """A thing group's ARN and its ancestors' (for ``recursive``); any other target alone."""
    targets = [target]
    match = _THING_GROUP_ARN.fullmatch(target)
    name = match.group("name") if match else None
    seen: set[str] = set()
    while name and name not in seen:
        seen.add(name)
        group = accessors.thing_group(call.account_id, call.region, name)
        if group is None or group.parent_name is None:
            break
        parent = accessors.thing_group(call.account_id, call.region, group.parent_name)
        if parent is None:
            break
        targets.append(parent.arn)
        name = parent.name
    return targets


@handles("iot", "ListAttachedPolicies")
def list_attached_policies(call: Call) -> dict[str, Any]:
    registry = registry_of(call)
    target = call.params["target"]
    targets = _group_and_parents(call, target) if call.params.get("recursive") else [target]
    policies = list({p.name: p for t in targets for p in registry.policies_of(t)}.values())
    chunk, more = marker_page(call, policies)
    return {"policies": [p.summary() for p in chunk], **more}


@handles("iot", "ListPrincipalPolicies")
def list_principal_policies(call: Call) -> dict[str, Any]:
    policies = registry_of(call).policies_of(call.params["principal"])
    chunk, more = marker_page(call, policies, lambda p: (p.created, p.name))
    return {"policies": [p.summary() for p in chunk], **more}


@handles("iot", "ListTargetsForPolicy")
def list_targets_for_policy(call: Call) -> dict[str, Any]:
    registry = registry_of(call)
    registry.policy(call.params["policyName"])
    chunk, more = marker_page(call, registry.targets_of(call.params["policyName"]))
    return {"targets": chunk, **more}


@handles("iot", "ListPolicyPrincipals")
def list_policy_principals(call: Call) -> dict[str, Any]:
    registry = registry_of(call)
    registry.policy(call.params["policyName"])
    principals = [t for t in registry.targets_of(call.params["policyName"]) if not _THING_GROUP_ARN.fullmatch(t)]
    chunk, more = marker_page(call, principals)
    return {"principals": chunk, **more}


@after("iot", "DeleteThingGroup")
def _thing_group_deleted(call: Call, params: dict[str, Any], response: dict[str, Any]) -> None:
    name = params.get("thingGroupName")
    if name:
        registry_of(call).forget_target(f"arn:aws:iot:{call.region}:{call.account_id}:thinggroup/{name}")


# --- principals of things ------------------------------------------------------------------------------


def _require_thing(call: Call, thing_name: str) -> None:
    if accessors.thing(call.account_id, call.region, thing_name) is None:
        raise ResourceNotFoundException(f"Thing {thing_name} cannot be found.")


def _require_principal(registry: IdentityRegistry, principal: str) -> None:
    if ":cert/" in principal and registry.certificate_by_arn(principal) is None:
        raise ResourceNotFoundException(f"No certificate has the ARN {principal}")


@handles("iot", "AttachThingPrincipal")
def attach_thing_principal(call: Call) -> dict[str, Any]:
    params = call.params
    registry = registry_of(call)
    _require_thing(call, params["thingName"])
    _require_principal(registry, params["principal"])
    attachment = params.get("thingPrincipalType") or NON_EXCLUSIVE_THING
    registry.attach_thing(params["thingName"], params["principal"], attachment)
    return {}


@handles("iot", "DetachThingPrincipal")
def detach_thing_principal(call: Call) -> dict[str, Any]:
    params = call.params
    registry = registry_of(call)
    _require_thing(call, params["thingName"])
    _require_principal(registry, params["principal"])
    registry.detach_thing(params["thingName"], params["principal"])
    return {}


def _token_page(call: Call, items: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    chunk, token = page(items, int(call.params.get("maxResults") or DEFAULT_PAGE_SIZE), call.params.get("nextToken"))
    return chunk, ({"nextToken": token} if token else {})


def _thing_principals(call: Call) -> list[tuple[str, str]]:
    name = call.params["thingName"]
    _require_thing(call, name)
    wanted = call.params.get("thingPrincipalType")
    return [(p, kind) for p, kind in registry_of(call).principals_of(name) if wanted in (None, kind)]


@handles("iot", "ListThingPrincipals")
def list_thing_principals(call: Call) -> dict[str, Any]:
    chunk, more = _token_page(call, [principal for principal, _ in _thing_principals(call)])
    return {"principals": chunk, **more}


@handles("iot", "ListThingPrincipalsV2")
def list_thing_principals_v2(call: Call) -> dict[str, Any]:
    chunk, more = _token_page(call, _thing_principals(call))
    return {"thingPrincipalObjects": [{"principal": p, "thingPrincipalType": kind} for p, kind in chunk], **more}


def _principal_things(call: Call) -> list[tuple[str, str]]:
    registry = registry_of(call)
    principal = call.params["principal"]
    _require_principal(registry, principal)
    wanted = call.params.get("thingPrincipalType")
    return [(t, kind) for t, kind in registry.things_with_types(principal) if wanted in (None, kind)]


@handles("iot", "ListPrincipalThings")
def list_principal_things(call: Call) -> dict[str, Any]:
    chunk, more = _token_page(call, [thing for thing, _ in _principal_things(call)])
    return {"things": chunk, **more}


@handles("iot", "ListPrincipalThingsV2")
def list_principal_things_v2(call: Call) -> dict[str, Any]:
    chunk, more = _token_page(call, _principal_things(call))
    return {"principalThingObjects": [{"thingName": t, "thingPrincipalType": kind} for t, kind in chunk], **more}


@handles("iot", "DeleteThing")
def delete_thing(call: Call) -> dict[str, Any]:
    name = call.params["thingName"]
    if registry_of(call).principals_of(name):
        raise InvalidRequestException(f"Cannot delete. Thing {name} is still attached to one or more principals")
    return call.moto()


# --- tags -----------------------------------------------------------------------------------------------


@tag_holder
def _identity_tags(state: EmulatorState, account_id: str, region: str, arn: str) -> dict[str, str] | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iot":
        return None
    kind, _, name = parts[5].partition("/")
    if kind not in ("policy", "cacert", "cert"):
        return None
    if kind == "cert":
        raise InvalidRequestException(f"Certificates cannot be tagged: {arn}")
    registry = identity_registry(state, account_id, region)
    found = registry.policies.get(name) if kind == "policy" else registry.ca_certificates.get(name)
    if (parts[3], parts[4]) != (region, account_id) or found is None:
        raise ResourceNotFoundException(f"No {kind} has the ARN {arn}")
    return found.tags
