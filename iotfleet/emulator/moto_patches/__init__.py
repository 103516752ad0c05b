"""Every moto-specific touch point of the emulator, and only here.

moto has no plugin API, so the emulator reaches into its private internals: the per-service Flask
apps, the backend dicts, and a handful of fixes where moto differs from AWS in the operations iotfleet
uses. This package is the one place that does: no other module of the emulator imports moto, so a moto
upgrade breaks in one place, and the contract tests (tests/emulator/test_core_moto_contract.py) show
where at once. moto is pinned exactly in pyproject.toml.

* :mod:`.contract`: the moto release the patches were written for, and the check that the installed
  moto still has the functions, parameters and attributes they rely on;
* :mod:`.installation`: :func:`~.installation.install` points moto at a running emulator (its clock,
  its event bus) and applies every fix below, once;
* :mod:`.gateway`: running requests through moto's own server machinery, the routing shortcut from
  the front app into moto, wiping moto, and the accounts moto attributes credentials to (IAM and STS
  are served by moto as shipped);
* :mod:`.clock`: moto's timestamps taken from the emulator clock;
* :mod:`.iot_registry`: fixes to things, thing types and thing groups (``moto.iot``);
* :mod:`.shadows`: fixes to classic and named shadows (``moto.iotdata``);
* :mod:`.s3`: S3 bucket policies evaluated with the request's transport (``aws:SecureTransport``);
* :mod:`.accessors`: the typed reads and writes the rest of the emulator uses instead of importing moto
  (``iter_things``, ``thing``, ``thing_group``, ``group_members``, ``add_thing_to_group``, ``shadows``,
  ``write_shadow``, ``s3_object``, ...). Accessors must be called under the emulator's global lock
  (handlers, hooks and event subscribers already are).

Each patched area keeps the moto functions it replaces or calls as shipped in ``ORIGINALS``, with the
parameters it relies on in ``EXPECTED_PARAMETERS``; the contract check reads both.
"""
