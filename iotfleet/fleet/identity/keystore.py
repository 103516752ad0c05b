"""A fleet's key store: the private keys that never leave this machine, with their certificates.

Layout (folders 0700, private keys 0600, certificates 0644; the default root is
``~/.iotfleet/keys/<fleet>/``, or ``$IOTFLEET_HOME/keys/<fleet>/``)::

    <root>/store.json                 which fleet, account and region the keys belong to
    <root>/ca/ca.pem, ca.key          the fleet CA (with the ``ca`` certificate source)
    <root>/things/<thing>/cert.pem    the thing's certificate
                         private.key  its private key
                         ca-chain.pem the CA that signed it (fleet CA certificates only)

A store is bound to one fleet in one account and region: the same thing name elsewhere is another
device. Files are written atomically (a temporary file, then a rename), the certificate before the key,
so an entry with a key always has its certificate, and an entry cut short still names the certificate
it was for. Nothing here ever prints or logs key material; errors name files, never their contents.
Removal deletes only the files a store is made of, so a ``--keys-dir`` that points somewhere else loses
nothing.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from iotfleet.fleet.identity.certificates import (
    CertificateIssuerPrivateKeyTypes,
    certificate_id,
    key_matches,
    load_certificate,
    load_private_key,
)
from iotfleet.home import iotfleet_home

FOLDER_MODE = 0o700
KEY_MODE = 0o600
CERTIFICATE_MODE = 0o644
STORE_FILE = "store.json"
CA_FOLDER = "ca"
CA_CERTIFICATE = "ca.pem"
CA_KEY = "ca.key"
THINGS_FOLDER = "things"
CERTIFICATE_FILE = "cert.pem"
KEY_FILE = "private.key"
CHAIN_FILE = "ca-chain.pem"
DEVICE_FILES = (CERTIFICATE_FILE, CHAIN_FILE, KEY_FILE)
FORMAT = 1


def default_root(fleet: str) -> Path:
    """``~/.iotfleet/keys/<fleet>`` (``$IOTFLEET_HOME/keys/<fleet>`` when set)."""
    return iotfleet_home() / "keys" / fleet


class KeyStoreError(Exception):
    """The key store cannot be used as it is; the message says which file and why (never its content)."""


@dataclass(frozen=True)
class Binding:
    fleet: str
    account: str
    region: str


@dataclass(frozen=True)
class DeviceEntry:
    """What the store holds for one thing. ``problem`` says why the entry cannot be used as it is."""

    thing: str
    folder: Path
    certificate_pem: str | None = None
    certificate_id: str | None = None
    has_key: bool = False
    problem: str | None = None
    # The private key file is readable by others.
    unsafe: bool = False

    @property
    def exists(self) -> bool:
        return self.certificate_pem is not None or self.has_key

    @property
    def complete(self) -> bool:
        """A certificate and the key that matches it, with safe permissions."""
        return self.certificate_pem is not None and self.has_key and self.problem is None


class KeyStore:
    """The key store rooted at ``root`` (see the module docstring for the layout and the modes)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()
        self._folders_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyStore({str(self.root)!r})"

    # --- binding -------------------------------------------------------------------------------------------

    def binding(self) -> Binding | None:
        """Whose keys these are, or None for a store not yet written."""
        path = self.root / STORE_FILE
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"{path} cannot be read as a key store record: {exc}") from None
        try:
            return Binding(str(data["fleet"]), str(data["account"]), str(data["region"]))
        except (KeyError, TypeError):
            raise KeyStoreError(f"{path} is not a key store record (fleet, account and region)") from None

    def binding_problem(self, fleet: str, account: str, region: str) -> str | None:
        """Why this store cannot serve ``fleet`` in ``account``/``region``, or None when it can."""
        try:
            found = self.binding()
        except KeyStoreError as exc:
            return str(exc)
        if found is None:
            if self.root.exists() and any(self.root.iterdir()):
                return f"{self.root} is not empty and is not a key store (it has no {STORE_FILE})"
            return None
        if found != Binding(fleet, account, region):
            return (
                f"{self.root} holds the keys of fleet {found.fleet!r} in account {found.account} ({found.region}), "
                f"not of fleet {fleet!r} in account {account} ({region})"
            )
        return None

    def bind(self, fleet: str, account: str, region: str) -> None:
        """Create the store for ``fleet`` in ``account``/``region`` (no-op when it exists)."""
        if self.binding() is not None:
            return
        self._folder(self.root)
        record = {"format": FORMAT, "fleet": fleet, "account": account, "region": region}
        _write(self.root / STORE_FILE, json.dumps(record, indent=2).encode() + b"\n", KEY_MODE)

    # --- the fleet CA -----------------------------------------------------------------------------------

    def read_ca(self) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes] | None:
        """The fleet CA's certificate and key, None when the store has no CA; KeyStoreError when unusable."""
        folder = self.root / CA_FOLDER
        cert_path, key_path = folder / CA_CERTIFICATE, folder / CA_KEY
        if not cert_path.exists() and not key_path.exists():
            return None
        if not cert_path.exists() or not key_path.exists():
            missing = cert_path if not cert_path.exists() else key_path
            raise KeyStoreError(f"the fleet CA in {folder} is incomplete: {missing.name} is missing")
        loose = _loose(key_path)
        if loose:
            raise KeyStoreError(loose)
        try:
            certificate = load_certificate(cert_path.read_bytes())
            key = load_private_key(key_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"the fleet CA in {folder} cannot be read: {type(exc).__name__}") from None
        if not key_matches(certificate, key):
            raise KeyStoreError(f"{key_path} is not the key of {cert_path}")
        return certificate, key

    def write_ca(self, certificate_pem: str, key_pem: bytes) -> None:
        folder = self._folder(self.root / CA_FOLDER)
        _write(folder / CA_CERTIFICATE, certificate_pem.encode("ascii"), CERTIFICATE_MODE)
        _write(folder / CA_KEY, key_pem, KEY_MODE)

    # --- devices -------------------------------------------------------------------------------------------

    def device_folder(self, thing: str) -> Path:
        return self.root / THINGS_FOLDER / thing

    def read_device(self, thing: str) -> DeviceEntry:
        """The entry of ``thing``: its certificate (and id), whether its key is there and usable."""
        folder = self.device_folder(thing)
        cert_path, key_path = folder / CERTIFICATE_FILE, folder / KEY_FILE
        pem: str | None = None
        identifier: str | None = None
        certificate: x509.Certificate | None = None
        try:
            pem = cert_path.read_text(encoding="ascii")
            certificate = load_certificate(pem)
            identifier = certificate_id(certificate)
        except FileNotFoundError:
            pem = None
        except (OSError, ValueError, UnicodeError) as exc:
            return DeviceEntry(thing, folder, problem=f"{cert_path} cannot be read: {type(exc).__name__}")
        if not key_path.exists():
            return DeviceEntry(thing, folder, pem, identifier, has_key=False)
        loose = _loose(key_path)
        if loose:
            return DeviceEntry(thing, folder, pem, identifier, has_key=True, problem=loose, unsafe=True)
        if certificate is None:
            return DeviceEntry(thing, folder, has_key=True, problem=f"{key_path} has no {CERTIFICATE_FILE}")
        try:
            key = load_private_key(key_path.read_bytes())
        except (OSError, ValueError) as exc:
            problem = f"{key_path} cannot be read: {type(exc).__name__}"
            return DeviceEntry(thing, folder, pem, identifier, has_key=True, problem=problem)
        if not key_matches(certificate, key):
            return DeviceEntry(thing, folder, pem, identifier, True, f"{key_path} is not the key of {cert_path}")
        return DeviceEntry(thing, folder, pem, identifier, has_key=True)

    def write_device(self, thing: str, certificate_pem: str, key_pem: bytes, chain_pem: str | None) -> Path:
        """Write a thing's certificate, CA chain and key (the key last); returns the thing's folder."""
        folder = self._folder(self.device_folder(thing))
        _write(folder / CERTIFICATE_FILE, certificate_pem.encode("ascii"), CERTIFICATE_MODE)
        if chain_pem is not None:
            _write(folder / CHAIN_FILE, chain_pem.encode("ascii"), CERTIFICATE_MODE)
        _write(folder / KEY_FILE, key_pem, KEY_MODE)
        return folder

    def device_names(self) -> Iterator[str]:
        """The names of the things that have a folder here, in no order (read lazily: there may be many)."""
        things = self.root / THINGS_FOLDER
        if not things.is_dir():
            return
        with os.scandir(things) as found:
            for entry in found:
                if entry.is_dir():
                    yield entry.name

    def device_entries(self) -> list[DeviceEntry]:
        """Every thing's entry, by thing name."""
        things = self.root / THINGS_FOLDER
        if not things.is_dir():
            return []
        return [self.read_device(folder.name) for folder in sorted(things.iterdir()) if folder.is_dir()]

    # --- removal ---------------------------------------------------------------------------------------------

    def remove(self) -> tuple[int, list[Path]]:
        """Delete the store's own files and then its folders if empty: (files removed, paths left behind)."""
        removed = 0
        left: list[Path] = []
        things = self.root / THINGS_FOLDER
        folders: list[Path] = []
        if things.is_dir():
            for folder in sorted(things.iterdir()):
                if folder.is_dir() and not folder.is_symlink():
                    removed += _unlink(folder / name for name in DEVICE_FILES)
                    folders.append(folder)
        removed += _unlink([self.root / CA_FOLDER / CA_CERTIFICATE, self.root / CA_FOLDER / CA_KEY])
        folders += [things, self.root / CA_FOLDER]
        removed += _unlink([self.root / STORE_FILE])
        folders.append(self.root)
        for folder in folders:
            try:
                folder.rmdir()
            except FileNotFoundError:
                continue
            except OSError:
                left.append(folder)
        return removed, left

    def _folder(self, path: Path) -> Path:
        with self._folders_lock:
            if not path.is_dir():
                for parent in reversed([path, *path.parents]):
                    if not parent.exists():
                        parent.mkdir(mode=FOLDER_MODE)
                        os.chmod(parent, FOLDER_MODE)
            return path


def _loose(key_path: Path) -> str | None:
    """Why a private key file's permissions are unsafe (readable by others), or None."""
    mode = stat.S_IMODE(key_path.stat().st_mode)
    if mode & 0o077:
        return f"{key_path} is readable by others (mode {mode:04o}); run: chmod 600 {key_path}"
    return None


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically with ``mode`` (set before any byte is written), synced to disk."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as file:
            descriptor = -1
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if descriptor >= 0:
            os.close(descriptor)
        temporary.unlink(missing_ok=True)
        raise


def _unlink(paths: Any) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed
