"""Applying a fleet's identity plan: the key store, the fleet CA and the policy first, then each device.

Order, so that a run stopped anywhere is finished by the next (see :mod:`.plan` for how it finds its way):

* the fleet CA is written to the key store before it is registered, and registered with a verification
  certificate made from the account's registration code;
* a device's key and certificate are written to the key store before AWS hears of the certificate (``ca``:
  signed here, then ``RegisterCertificate``; ``aws``: ``CreateKeysAndCertificate``, written at once), then
  the policy is attached to the certificate, then the certificate to its thing, exclusively. So the only
  per-device calls are register (or create), attach policy and attach thing.

Private keys go from memory to files with mode 0600 and nowhere else.
"""

from __future__ import annotations

import datetime as dt

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import is_error
from iotfleet.fleet.identity import policy as fleet_policy
from iotfleet.fleet.identity.certificates import (
    certificate_id,
    certificate_pem,
    create_ca,
    private_key_pem,
    sign_device_certificate,
    verification_certificate,
)
from iotfleet.fleet.identity.devices import DeviceIdentity
from iotfleet.fleet.identity.keystore import KeyStoreError
from iotfleet.fleet.identity.plan import FleetCa, IdentityPlan
from iotfleet.fleet.ownership import tag_list
from iotfleet.fleet.provision import model

EXCLUSIVE_THING = "EXCLUSIVE_THING"
Done = list[tuple[str, str]]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def apply_fleet_identity(ctx: AwsContext, fleet: str, account: str, region: str, plan: IdentityPlan) -> Done:
    """The key store record, the fleet CA (``ca`` source) and the policy; what was done, as (kind, action)."""
    done: Done = []
    if plan.bind:
        plan.store.bind(fleet, account, region)
        done.append((model.KEY_STORE, model.CREATE))
    if plan.ca is not None:
        done += _apply_ca(ctx, fleet, plan, plan.ca)
    done += _apply_policy(ctx, fleet, plan)
    return done


def _apply_ca(ctx: AwsContext, fleet: str, plan: IdentityPlan, ca: FleetCa) -> Done:
    if ca.action == model.CREATE:
        if ca.certificate is None or ca.key is None:
            key, certificate = create_ca(fleet, _now())
            plan.store.write_ca(certificate_pem(certificate), private_key_pem(key))
            ca.certificate, ca.key, ca.certificate_id = certificate, key, certificate_id(certificate)
        code = str(ctx.iot.get_registration_code()["registrationCode"])
        verification = verification_certificate(ca.key, ca.certificate, code, _now())
        try:
            answer = ctx.iot.register_ca_certificate(
                caCertificate=ca.pem, verificationCertificate=certificate_pem(verification), setAsActive=True,
                allowAutoRegistration=False, certificateMode="DEFAULT", tags=tag_list(fleet),
            )  # fmt: skip
            ca.arn = str(answer["certificateArn"])
        except ClientError as err:
            # Registered meanwhile (a run stopped after the call): it is this key store's CA all the same.
            if not is_error(err, "ResourceAlreadyExistsException"):
                raise
            ca.arn = str(err.response.get("resourceArn") or ctx.iot.describe_ca_certificate(
                certificateId=ca.certificate_id)["certificateDescription"]["certificateArn"])  # fmt: skip
        ca.registered = True
        return [(model.CA_CERTIFICATE, model.CREATE)]
    if ca.action != model.UPDATE:
        return []
    if ca.activate:
        ctx.iot.update_ca_certificate(certificateId=ca.certificate_id, newStatus="ACTIVE")
    if ca.tag and ca.arn:
        ctx.iot.tag_resource(resourceArn=ca.arn, tags=tag_list(fleet))
    return [(model.CA_CERTIFICATE, model.UPDATE)]


def _apply_policy(ctx: AwsContext, fleet: str, plan: IdentityPlan) -> Done:
    text = fleet_policy.policy_text(plan.policy_document)
    if plan.policy_action == model.CREATE:
        try:
            ctx.iot.create_policy(policyName=plan.policy_name, policyDocument=text, tags=tag_list(fleet))
        except ClientError as err:
            if not is_error(err, "ResourceAlreadyExistsException"):
                raise
        return [(model.POLICY, model.CREATE)]
    if plan.policy_action == model.UPDATE:
        if plan.policy_version_to_delete:
            ctx.iot.delete_policy_version(policyName=plan.policy_name, policyVersionId=plan.policy_version_to_delete)
        ctx.iot.create_policy_version(policyName=plan.policy_name, policyDocument=text, setAsDefault=True)
        return [(model.POLICY, model.UPDATE)]
    return []


def apply_device_identity(ctx: AwsContext, plan: IdentityPlan, thing: str, device: DeviceIdentity) -> str:
    """Give ``thing`` its certificate as planned (the thing exists); returns the plan action carried out."""
    action = device.action
    arn = device.certificate_arn
    if device.issue:
        arn = _issue(ctx, plan, thing)
    elif device.register_id is not None:
        if device.register_pem is None:
            raise KeyStoreError(
                f"the key store's certificate {device.register_id[:12]}... for {thing} was planned for registration "
                f"and is no longer in {plan.store.device_folder(thing)}; run again to plan anew"
            )
        arn = _register(ctx, plan, device.register_pem)
    assert arn is not None, f"no certificate planned for {thing}"
    if device.activate:
        ctx.iot.update_certificate(certificateId=arn.rsplit("/", 1)[1], newStatus="ACTIVE")
    if device.attach_policy:
        ctx.iot.attach_policy(policyName=plan.policy_name, target=arn)
    if device.attach_thing:
        ctx.iot.attach_thing_principal(thingName=thing, principal=arn, thingPrincipalType=EXCLUSIVE_THING)
    return action


def _issue(ctx: AwsContext, plan: IdentityPlan, thing: str) -> str:
    """A new key and certificate for ``thing``, in the key store first; returns the certificate's ARN."""
    ca = plan.ca
    if ca is None:
        answer = ctx.iot.create_keys_and_certificate(setAsActive=True)
        key_pem = str(answer["keyPair"]["PrivateKey"]).encode("ascii")
        plan.store.write_device(thing, str(answer["certificatePem"]), key_pem, None)
        return str(answer["certificateArn"])
    assert ca.key is not None and ca.certificate is not None, "the fleet CA's key is needed to sign"
    key, certificate = sign_device_certificate(ca.key, ca.certificate, thing, _now())
    pem = certificate_pem(certificate)
    plan.store.write_device(thing, pem, private_key_pem(key), ca.pem)
    return _register(ctx, plan, pem)


def _register(ctx: AwsContext, plan: IdentityPlan, pem: str) -> str:
    ca = plan.ca
    assert ca is not None and ca.pem is not None
    try:
        answer = ctx.iot.register_certificate(certificatePem=pem, caCertificatePem=ca.pem, status="ACTIVE")
    except ClientError as err:
        # Registered by a run that stopped right after: the same certificate, from this key store.
        if not is_error(err, "ResourceAlreadyExistsException"):
            raise
        return str(err.response.get("resourceArn") or _certificate_arn(ctx, certificate_id(pem)))
    return str(answer["certificateArn"])


def _certificate_arn(ctx: AwsContext, identifier: str) -> str:
    return str(ctx.iot.describe_certificate(certificateId=identifier)["certificateDescription"]["certificateArn"])
