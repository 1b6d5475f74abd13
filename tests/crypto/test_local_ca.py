"""The local CA of `qplane up --tls`: created private, reused, renewed, and verifiable."""

from __future__ import annotations

import ipaddress
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from qplane.crypto.errors import InsecureKeyFile
from qplane.crypto.local_ca import LocalCA, worker_id_of

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
WORKER_ID = "wrk_0123456789abcdef0123456789abcdef"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def _server_verifier(ca: LocalCA, at: datetime) -> PolicyBuilder:
    return PolicyBuilder().store(Store([ca.certificate])).time(at)


def test_first_use_creates_a_private_ca(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path / "tls", now=NOW)
    assert _mode(tmp_path / "tls") == 0o700
    assert _mode(tmp_path / "tls" / "ca-key.pem") == 0o600
    assert _mode(ca.ca_file) == 0o644, "the CA certificate is public: clients are given it"
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = ca.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert not usage.digital_signature
    assert b"PRIVATE KEY" not in ca.ca_file.read_bytes()


def test_a_later_start_reuses_the_ca_and_the_server_certificate(tmp_path: Path) -> None:
    first = LocalCA.load_or_create(tmp_path, now=NOW)
    server = first.server_credentials(["qplane.lan"], now=NOW).read_bytes()
    again = LocalCA.load_or_create(tmp_path, now=NOW + timedelta(days=10))
    assert again.certificate == first.certificate
    assert again.server_credentials(["qplane.lan"], now=NOW + timedelta(days=10)).read_bytes() == (
        server
    )


def test_the_server_certificate_names_loopback_and_the_host_and_verifies(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, now=NOW)
    path = ca.server_credentials(["qplane.lan", "10.1.2.3"], now=NOW)
    assert _mode(path) == 0o600, "it holds the server's private key"
    cert = _leaf(path)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {"localhost", "qplane.lan"}
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.1.2.3"),
    }
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    for name in (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("::1"))):
        verifier = _server_verifier(ca, NOW).build_server_verifier(name)
        assert verifier.verify(cert, [])[-1] == ca.certificate
    with pytest.raises(VerificationError):
        _server_verifier(ca, NOW).build_server_verifier(x509.DNSName("example.com")).verify(
            cert, []
        )


def test_the_server_certificate_is_renewed_near_expiry(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, now=NOW)
    old = _leaf(ca.server_credentials([], now=NOW))
    later = NOW + timedelta(days=70)  # less than a third of 90 days left
    new = _leaf(ca.server_credentials([], now=later))
    assert new.serial_number != old.serial_number
    assert new.public_key() != old.public_key(), "a renewal also rotates the server key"
    assert new.not_valid_after_utc > later + timedelta(days=80)


def test_an_expired_server_certificate_is_replaced(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, now=NOW)
    old = _leaf(ca.server_credentials([], now=NOW))
    after = NOW + timedelta(days=400)
    new = _leaf(LocalCA.load_or_create(tmp_path, now=after).server_credentials([], now=after))
    assert new.serial_number != old.serial_number
    assert new.not_valid_before_utc <= after < new.not_valid_after_utc


def test_a_changed_host_name_reissues_the_server_certificate(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, now=NOW)
    ca.server_credentials(["old.lan"], now=NOW)
    cert = _leaf(ca.server_credentials(["new.lan"], now=NOW))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "new.lan" in names.get_values_for_type(x509.DNSName)
    assert "old.lan" not in names.get_values_for_type(x509.DNSName)


def test_a_certificate_from_another_ca_is_replaced(tmp_path: Path) -> None:
    other = LocalCA.load_or_create(tmp_path / "other", now=NOW)
    ours = LocalCA.load_or_create(tmp_path / "ours", now=NOW)
    planted = other.server_credentials([], now=NOW).read_bytes()
    fd = os.open(ours.server_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(planted)
    cert = _leaf(ours.server_credentials([], now=NOW))
    cert.verify_directly_issued_by(ours.certificate)


def test_worker_certificates_name_the_worker_and_serve_only_as_clients(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, now=NOW)
    path = ca.worker_credentials("embedded-1", WORKER_ID, now=NOW)
    assert path == tmp_path / "workers" / "embedded-1.pem"
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    cert = _leaf(path)
    assert worker_id_of(cert) == WORKER_ID
    assert cert.subject.rfc4514_string().startswith(f"CN={WORKER_ID}")
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    verified = _server_verifier(ca, NOW).build_client_verifier().verify(cert, [])
    assert verified.chain[-1] == ca.certificate
    with pytest.raises(VerificationError):  # no serverAuth: it cannot pose as the API server
        _server_verifier(ca, NOW).build_server_verifier(x509.DNSName("localhost")).verify(cert, [])


def test_a_worker_certificate_is_reused_until_the_worker_id_changes(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, now=NOW)
    first = ca.worker_credentials("embedded-1", WORKER_ID, now=NOW).read_bytes()
    assert ca.worker_credentials("embedded-1", WORKER_ID, now=NOW).read_bytes() == first
    other_id = "wrk_" + "f" * 32
    assert worker_id_of(_leaf(ca.worker_credentials("embedded-1", other_id, now=NOW))) == (other_id)


def test_a_worker_name_cannot_escape_the_workers_directory(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, now=NOW)
    with pytest.raises(ValueError, match="worker name"):
        ca.worker_credentials("../server", WORKER_ID, now=NOW)


def test_an_exposed_ca_key_is_refused(tmp_path: Path) -> None:
    LocalCA.load_or_create(tmp_path, now=NOW)
    os.chmod(tmp_path / "ca-key.pem", 0o640)
    with pytest.raises(InsecureKeyFile):
        LocalCA.load_or_create(tmp_path, now=NOW)


def test_an_exposed_server_key_is_refused_not_silently_replaced(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, now=NOW)
    path = ca.server_credentials([], now=NOW)
    os.chmod(path, 0o644)
    with pytest.raises(InsecureKeyFile):
        ca.server_credentials([], now=NOW)


def test_a_lost_ca_certificate_is_reissued_from_the_same_key(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, now=NOW)
    server = _leaf(ca.server_credentials([], now=NOW))
    ca.ca_file.unlink()
    again = LocalCA.load_or_create(tmp_path, now=NOW)
    assert again.certificate.subject == ca.certificate.subject
    server.verify_directly_issued_by(again.certificate)  # earlier certificates still chain


def test_each_ca_has_its_own_key_and_name(tmp_path: Path) -> None:
    one = LocalCA.load_or_create(tmp_path / "one", now=NOW)
    two = LocalCA.load_or_create(tmp_path / "two", now=NOW)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    assert one.certificate.public_key().public_bytes(der, spki) != (
        two.certificate.public_key().public_bytes(der, spki)
    )
    assert one.certificate.subject != two.certificate.subject
