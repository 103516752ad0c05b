"""What each thing's certificate needs: :class:`DeviceIdentity` for one thing, :class:`DeviceIdentities` for all.

A fleet may have a million things, so the plan keeps one byte of flags per thing (what to do) and, only for
a thing whose planned work is on a certificate already known (one to activate, attach or register from the
key store), that certificate's id in 32 bytes. A thing's :class:`DeviceIdentity` is made from them when it is
asked for: by apply, a chunk of things at a time. See :mod:`.plan` for how each thing's work is decided.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from iotfleet.fleet.identity.certificate_ids import raw_id
from iotfleet.fleet.identity.keystore import KeyStore
from iotfleet.fleet.provision import model
from iotfleet.fleet.provision.inventory import index_of, thing_name

# The flags of one thing.
PLANNED = 1  # its work is planned (no problem blocks it)
ISSUE = 2
REPLACE_ENTRY = 4
REGISTER = 8
ACTIVATE = 16
ATTACH_POLICY = 32
ATTACH_THING = 64
FOLDER = 128  # the key store has a folder for it (seen as planning began)
NEW_CERTIFICATE = ISSUE | REGISTER
ON_KNOWN_CERTIFICATE = ACTIVATE | ATTACH_POLICY | ATTACH_THING


@dataclass
class DeviceIdentity:
    """What one thing's identity needs. ``certificate_arn`` is the certificate to use, once known.

    ``register_id`` names the key store's certificate to register; ``register_pem`` is that certificate, or
    None when the key store no longer holds it (it changed after the plan was made: applying fails that thing).
    """

    thing: str
    issue: bool = False
    replace_entry: bool = False
    register_id: str | None = None
    register_pem: str | None = None
    certificate_arn: str | None = None
    activate: bool = False
    attach_policy: bool = False
    attach_thing: bool = False

    @property
    def new_certificate(self) -> bool:
        return self.issue or self.register_id is not None

    @property
    def pending(self) -> bool:
        return self.new_certificate or self.activate or self.attach_policy or self.attach_thing

    @property
    def action(self) -> str:
        if self.new_certificate:
            return model.CREATE
        return model.UPDATE if self.pending else model.PRESENT


class DeviceIdentities(Mapping[str, DeviceIdentity]):
    """Every planned thing's :class:`DeviceIdentity` by thing name, kept in a byte or so per thing."""

    def __init__(self, prefix: str, count: int, store: KeyStore, arn_prefix: str) -> None:
        self._prefix, self._store, self._arn_prefix = prefix, store, arn_prefix
        self._flags = bytearray(count)
        # Thing index -> the certificate its pending work is on: a raw id (the ARN is arn_prefix + id), or a
        # string (the id to register, or an ARN of another form) when it is not in AWS's id form.
        self._certificates: dict[int, bytes | str] = {}
        self._planned = 0
        self.new_certificates = 0

    def name(self, index: int) -> str:
        return thing_name(self._prefix, index)

    def mark_folder(self, index: int) -> None:
        """Note that the key store has a folder for thing ``index``."""
        self._flags[index] |= FOLDER

    def has_folder(self, index: int) -> bool:
        return bool(self._flags[index] & FOLDER)

    def record(self, index: int, device: DeviceIdentity) -> None:
        """Keep ``device``'s planned work for thing ``index``."""
        flags = PLANNED
        for wanted, flag in (
            (device.issue, ISSUE), (device.replace_entry, REPLACE_ENTRY), (device.register_id is not None, REGISTER),
            (device.activate, ACTIVATE), (device.attach_policy, ATTACH_POLICY), (device.attach_thing, ATTACH_THING),
        ):  # fmt: skip
            if wanted:
                flags |= flag
        if device.register_id is not None:
            self._certificates[index] = raw_id(device.register_id) or device.register_id
        elif device.certificate_arn is not None and device.pending:
            identifier = device.certificate_arn.rsplit("/", 1)[1]
            raw = raw_id(identifier)
            same_form = raw is not None and device.certificate_arn == self._arn_prefix + identifier
            self._certificates[index] = raw if raw is not None and same_form else device.certificate_arn
        self._flags[index] = (self._flags[index] & FOLDER) | flags
        self._planned += 1
        self.new_certificates += bool(flags & NEW_CERTIFICATE)

    def action(self, index: int) -> str | None:
        """The plan action for thing ``index``'s certificate; None when a problem blocks it."""
        flags = self._flags[index]
        if not flags & PLANNED:
            return None
        if flags & NEW_CERTIFICATE:
            return model.CREATE
        return model.UPDATE if flags & ON_KNOWN_CERTIFICATE else model.PRESENT

    def at(self, index: int) -> DeviceIdentity | None:
        """Thing ``index``'s work, or None when a problem blocks it. A certificate to register is read from the
        key store now."""
        flags = self._flags[index]
        if not flags & PLANNED:
            return None
        name = thing_name(self._prefix, index)
        device = DeviceIdentity(
            name, issue=bool(flags & ISSUE), replace_entry=bool(flags & REPLACE_ENTRY),
            activate=bool(flags & ACTIVATE), attach_policy=bool(flags & ATTACH_POLICY),
            attach_thing=bool(flags & ATTACH_THING),
        )  # fmt: skip
        kept = self._certificates.get(index)
        if kept is None:
            return device
        text = kept.hex() if isinstance(kept, bytes) else kept
        if flags & REGISTER:
            device.register_id = text
            entry = self._store.read_device(name)
            if entry.complete and entry.certificate_id == text:
                device.register_pem = entry.certificate_pem
        else:
            device.certificate_arn = self._arn_prefix + text if isinstance(kept, bytes) else text
        return device

    def __getitem__(self, name: str) -> DeviceIdentity:
        index = index_of(self._prefix, name)
        device = self.at(index) if index is not None and index < len(self._flags) else None
        if device is None:
            raise KeyError(name)
        return device

    def __iter__(self) -> Iterator[str]:
        return (thing_name(self._prefix, i) for i, flags in enumerate(self._flags) if flags & PLANNED)

    def __len__(self) -> int:
        return self._planned
