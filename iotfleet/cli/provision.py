"""``iotfleet provision``: plan a fleet against what exists, show the plan, then apply it.

The fleet comes from defaults, then a spec file (``--spec``), then flags; on a terminal the values no flag gave
are asked (see :mod:`iotfleet.cli.interactive.provision_wizard`). Everything is checked before the first AWS
call, so bad input exits 2 having changed nothing. ``--dry-run`` stops after the plan; otherwise the plan is
applied with a progress bar and the run ends with a table of what was created, already present, updated,
failed or skipped (not tried, after an earlier step of the same thing failed), per kind. A failed resource makes
the exit code 1; running the same command again finishes the job.
With ``--certificates`` every thing also gets an X.509 certificate (see :mod:`iotfleet.fleet.identity`);
key material is never printed and never part of the JSON output, which names only the key store's folder.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape

from iotfleet.aws.errors import Interrupted, UsageError
from iotfleet.cli.interactive.provision_wizard import ask_spec, describe, offer_save
from iotfleet.cli.options import new_fleet_option
from iotfleet.cli.output import key_values, table
from iotfleet.cli.state import CliState, pass_state
from iotfleet.fleet import geography, naming
from iotfleet.fleet.identity.keystore import default_root
from iotfleet.fleet.provision.apply import apply_provision
from iotfleet.fleet.provision.model import (
    CERTIFICATE,
    CREATE,
    KINDS,
    MEMBERSHIP,
    PRESENT,
    SHADOW,
    THING,
    UPDATE,
    ProvisionPlan,
)
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.provision.result import ProvisionResult
from iotfleet.fleet.spec import (
    CERT_SOURCES,
    FLAGS,
    FleetSpec,
    check_device_count,
    default_countries,
    load_spec,
    resolve_countries,
    save_spec,
    split_list,
)

AGGREGATED = (THING, MEMBERSHIP, SHADOW)
# Problems listed in text; JSON always has them all.
MAX_PROBLEMS = 25


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)


def spec_from_options(ctx: click.Context, options: dict[str, Any]) -> tuple[FleetSpec, set[str]]:
    """The spec file (or defaults) with every given flag applied; also the names of the fields flags set."""
    base = load_spec(options["spec_file"]) if options.get("spec_file") else FleetSpec()
    changes: dict[str, Any] = {}
    if _given(ctx, "fleet"):
        changes["fleet"] = options["fleet"]
    if options.get("devices") is not None:
        changes["devices"] = check_device_count(options["devices"])
    for key in ("thing_types", "versions", "searchable_attributes"):
        if options.get(key) is not None:
            changes[key] = split_list(options[key])
    continent = base.continent
    if options.get("continent") is not None:
        continent = geography.check_continent(options["continent"], FLAGS["continent"])
        changes["continent"] = continent
    if options.get("countries") is not None:
        changes["countries"] = tuple(resolve_countries(continent, options["countries"], FLAGS["countries"]))
    elif "continent" in changes and continent != base.continent:
        changes["countries"] = tuple(default_countries(continent))
    if options.get("prefix") is not None:
        changes["prefix"] = options["prefix"]
    if options.get("seed") is not None:
        try:
            changes["seed"] = int(options["seed"])
        except ValueError:
            raise UsageError(f"the seed must be a whole number, got {options['seed']!r}", FLAGS["seed"]) from None
    if options.get("group_prefix") is not None:
        changes["group_prefix"] = options["group_prefix"]
    if options.get("continent_groups") is not None:
        changes["continent_groups"] = options["continent_groups"]
    if options.get("firmware_size") is not None:
        changes["firmware_size"] = naming.check_positive_int(
            options["firmware_size"], "the firmware size", FLAGS["firmware_size"]
        )
    if options.get("certificates") is not None:
        changes["certificates"] = options["certificates"]
    if options.get("cert_source") is not None:
        if not changes.get("certificates", base.certificates):
            raise UsageError("--cert-source chooses where certificates come from: add --certificates", "--cert-source")
        changes["cert_source"] = options["cert_source"]
    return replace(base, **changes), set(changes)


@click.command("provision")
@new_fleet_option
@click.option("--devices", metavar="N", help="How many things.  [default: 100]")
@click.option("--thing-types", metavar="A,B", help="Thing types, one firmware package each.  [default: SedanVehicle,SUVVehicle,TruckVehicle]")
@click.option("--versions", metavar="V1,V2", help="Package versions; devices start on the first.  [default: 1.0.0,1.1.0]")
@click.option("--continent", metavar="NAME", help="Continent the countries come from.  [default: North America]")
@click.option("--countries", metavar="US,CA|N", help="ISO country codes, or N for the continent's first N.  [default: 3]")
@click.option("--prefix", metavar="P", help="Thing names are P1, P2, ...  [default: Vehicle-VIN-]")
@click.option("--seed", metavar="S", help="Seed of the generated attributes and battery levels.  [default: 42]")
@click.option("--group-prefix", metavar="P", help="Prefix of the static group names, so fleets can share an account.")
@click.option("--continent-group/--no-continent-group", "continent_groups", default=None, help="Put country groups under a continent group.  [default: on]")
@click.option("--searchable-attributes", metavar="A,B,C", help="The thing types' searchable attributes (at most 3).")
@click.option("--firmware-size", metavar="BYTES", help="Size of each generated firmware image.  [default: 65536]")
@click.option("--certificates/--no-certificates", "certificates", default=None, help="Give every thing an X.509 certificate and the fleet's IoT policy.  [default: off]")
@click.option("--cert-source", type=click.Choice(CERT_SOURCES), help="ca: signed here by the fleet CA (fast); aws: CreateKeysAndCertificate per device.  [default: ca]")
@click.option("--keys-dir", type=click.Path(file_okay=False), metavar="DIR", help="The fleet's key store (private keys stay here).  [default: ~/.iotfleet/keys/<fleet>]")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False), metavar="FILE", help="A YAML or TOML fleet spec; flags override it.")
@click.option("--save-spec", "save_path", type=click.Path(dir_okay=False), metavar="FILE", help="Write the resulting spec to FILE (.yaml, .yml or .toml).")
@click.option("--dry-run", is_flag=True, help="Show the plan and stop; nothing is changed.")
@pass_state
@click.pass_context
def provision(ctx: click.Context, state: CliState, spec_file: str | None, save_path: str | None, dry_run: bool, keys_dir: str | None, **options: Any) -> None:  # fmt: skip
    """Create or converge a fleet: thing types, things, shadows, groups, indexing, firmware bucket, roles, packages.

    \b
    Examples:
      iotfleet --target local provision                    # asks on a terminal; defaults otherwise
      iotfleet provision --devices 1000 --countries US,CA,MX --dry-run
      iotfleet provision --spec fleet.yaml --devices 5000  # grow a fleet; the first names stay
      iotfleet --output json provision --fleet lab --group-prefix Lab_ --yes
      iotfleet provision --devices 1000 --certificates     # a certificate per thing, from the fleet CA
    """
    options["spec_file"] = spec_file
    spec, given = spec_from_options(ctx, options)
    if state.prompts.interactive and not spec_file:
        state.offer_debug_mode()
        spec = ask_spec(state, spec, given)
    spec = spec.validated()
    if save_path:
        save_spec(spec, save_path)
        state.output.info(f"Saved the spec to {save_path}")
    elif state.prompts.interactive and not spec_file:
        offer_save(state, spec)
    output = state.output
    keys = keys_dir if keys_dir is not None else str(default_root(spec.fleet))
    if not output.json:
        rows = describe(spec)
        if spec.certificates:
            rows.append(("Key store", keys))
        output.console.print(key_values(rows))

    plan = plan_provision(state.aws, spec, progress=state.progress(), keys_dir=keys)
    if not output.json:
        render_plan(output.console, plan)
    if dry_run:
        output.result({"dryRun": True, "plan": plan.as_dict()}, render=lambda _console: None)
        return
    if plan.conflicts:
        apply_provision(state.aws, plan)  # raises the usage error that names every conflict
    if not plan.changes and not plan.problems:
        output.info("Nothing to change: the fleet is as specified.")
    elif not plan.changes:
        output.info("Nothing to change that iotfleet may change; the problems above need a person.")
    elif state.prompts.interactive and not state.prompts.yes_no("Apply this plan?", default=True):
        raise Interrupted("provisioning not confirmed; nothing was changed")
    result = apply_provision(state.aws, plan, progress=state.progress())
    output.result(
        {"dryRun": False, "plan": plan.as_dict(), "result": result.as_dict()},
        render=lambda console: render_result(console, result),
    )
    result.raise_for_failures()


def render_plan(console: Console, plan: ProvisionPlan) -> None:
    """The plan: one row per resource, things, memberships and shadows counted, then warnings and conflicts."""
    rows = [(item.kind, item.name, item.action, item.detail) for item in plan.items]
    spec = plan.spec
    names = f"{spec.prefix}1 ... {spec.prefix}{spec.devices}" if spec.devices > 1 else f"{spec.prefix}1"
    for kind in AGGREGATED + ((CERTIFICATE,) if spec.certificates else ()):
        counts = plan.counts[kind]
        summary = ", ".join(f"{action} {counts[action]}" for action in (CREATE, UPDATE, PRESENT) if counts[action])
        rows.append((kind, names if kind == THING else f"of {spec.devices} things", summary, ""))
    console.print(
        table(
            ("Kind", "Name", "Action", "Detail"),
            rows,
            title=f"Plan for fleet {spec.fleet} (account {plan.account}, {plan.region})",
        )
    )
    for warning in plan.warnings:
        console.print(f"[yellow]Warning:[/yellow] {escape(warning)}")
    for problem in plan.problems[:MAX_PROBLEMS]:
        console.print(f"[bold red]Problem:[/bold red] {escape(f'{problem.kind} of {problem.name}: {problem.error}')}")
    if len(plan.problems) > MAX_PROBLEMS:
        console.print(f"... and {len(plan.problems) - MAX_PROBLEMS} more (--output json lists them all)")
    if plan.conflicts:
        for item in plan.conflicts:
            console.print(f"[bold red]Conflict:[/bold red] {escape(f'{item.kind} {item.name}: {item.detail}')}")
    elif plan.changes:
        changes = sum(c[CREATE] + c[UPDATE] for c in plan.counts.values())
        console.print(f"{changes} change(s) to make.")


def render_result(console: Console, result: ProvisionResult) -> None:
    rows = []
    for kind in KINDS:
        counts = result.counts[kind]
        if counts.created or counts.present or counts.updated or counts.failed or counts.skipped:
            rows.append((kind, counts.created, counts.present, counts.updated, counts.failed, counts.skipped))
    console.print(
        table(
            ("Kind", "Created", "Present", "Updated", "Failed", "Skipped"),
            rows,
            title=f"Fleet {result.fleet}: provisioned in {result.elapsed:.1f} s (bucket {result.bucket})",
        )
    )
