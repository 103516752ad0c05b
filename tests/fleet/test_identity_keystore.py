"""The key store on disk and the certificates made here: modes whatever the umask, atomic files, the binding
to one fleet and account, entries checked against their keys, removal that deletes only the store's files."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from identity_setup import mode

from iotfleet.fleet.identity import certificates
from iotfleet.fleet.identity.keystore import KeyStore, KeyStoreError, default_root

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def device(ca_key: object, ca: x509.Certificate, thing: str) -> tuple[str, bytes]:
    key, certificate = certificates.sign_device_certificate(ca_key, ca, thing, NOW)  # type: ignore[arg-type]
    return certificates.certificate_pem(certificate), certificates.private_key_pem(key)


def test_files_and_folders_get_their_modes_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    store = KeyStore(tmp_path / "deep" / "keys")
    store.bind("lab", "123456789012", "us-east-1")
    ca_key, ca = certificates.create_ca("lab", NOW)
    store.write_ca(certificates.certificate_pem(ca), certificates.private_key_pem(ca_key))
    pem, key = device(ca_key, ca, "t-1")
    folder = store.write_device("t-1", pem, key, certificates.certificate_pem(ca))
    assert {mode(p) for p in (store.root, store.root.parent, store.root / "things", folder)} == {0o700}
    assert mode(folder / "private.key") == mode(store.root / "ca" / "ca.key") == mode(store.root / "store.json") == 0o600
    assert mode(folder / "cert.pem") == mode(folder / "ca-chain.pem") == 0o644
    assert not [p for p in store.root.rglob("*") if p.name.endswith(".tmp")]
    entry = store.read_device("t-1")
    assert entry.complete and entry.certificate_id == certificates.certificate_id(pem)
    assert store.read_ca() is not None


def test_entries_are_checked_against_their_keys(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    ca_key, ca = certificates.create_ca("lab", NOW)
    pem, key = device(ca_key, ca, "t-1")
    _, other_key = device(ca_key, ca, "t-2")
    store.write_device("t-1", pem, other_key, None)
    assert "is not the key of" in str(store.read_device("t-1").problem)
    store.write_device("t-1", pem, key, None)
    assert store.read_device("t-1").complete
    os.chmod(store.device_folder("t-1") / "private.key", 0o640)
    loose = store.read_device("t-1")
    assert loose.unsafe and "chmod 600" in str(loose.problem)
    (store.device_folder("t-2")).mkdir(parents=True)
    (store.device_folder("t-2") / "cert.pem").write_text(pem)
    cut_short = store.read_device("t-2")
    assert cut_short.exists and not cut_short.complete and cut_short.problem is None
    assert not store.read_device("t-3").exists


def test_a_store_is_bound_to_one_fleet_account_and_region(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    assert store.binding() is None and store.binding_problem("lab", "123456789012", "us-east-1") is None
    store.bind("lab", "123456789012", "us-east-1")
    assert store.binding_problem("lab", "123456789012", "us-east-1") is None
    assert "account 123456789012" in str(store.binding_problem("lab", "210987654321", "us-east-1"))
    assert "fleet 'lab'" in str(store.binding_problem("other", "123456789012", "us-east-1"))
    (store.root / "store.json").write_text("{not json")
    with pytest.raises(KeyStoreError):
        store.binding()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    assert "is not a key store" in str(KeyStore(busy).binding_problem("lab", "123456789012", "us-east-1"))


def test_removal_deletes_only_what_the_store_is_made_of(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    store.bind("lab", "123456789012", "us-east-1")
    ca_key, ca = certificates.create_ca("lab", NOW)
    for thing in ("t-1", "t-2"):
        store.write_device(thing, *device(ca_key, ca, thing), None)
    (store.device_folder("t-2") / "mine.txt").write_text("mine")
    removed, left = store.remove()
    assert removed == 5 and left == [store.device_folder("t-2"), store.root / "things", store.root]
    assert sorted(p.name for p in store.root.rglob("*")) == ["mine.txt", "t-2", "things"]


def test_the_default_root_is_under_iotfleets_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOTFLEET_HOME", str(tmp_path))
    assert default_root("lab") == tmp_path / "keys" / "lab"


def test_certificates_made_here_chain_to_the_fleet_ca() -> None:
    ca_key, ca = certificates.create_ca("lab", NOW)
    assert certificates.is_ca(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    key, leaf = certificates.sign_device_certificate(ca_key, ca, "t-1", NOW)
    assert certificates.issued_by(leaf, ca) and not certificates.is_ca(leaf)
    assert certificates.common_name(leaf) == "t-1" and certificates.key_matches(leaf, key)
    assert leaf.not_valid_after_utc <= ca.not_valid_after_utc
    other_key, other = certificates.create_ca("other", NOW)
    assert not certificates.issued_by(leaf, other)
    verification = certificates.verification_certificate(ca_key, ca, "ab" * 32, NOW)
    assert certificates.common_name(verification) == "ab" * 32 and certificates.issued_by(verification, ca)
    assert isinstance(leaf.signature_hash_algorithm, type(certificates.SIGNATURE_HASH))
    assert not certificates.key_matches(leaf, other_key)
