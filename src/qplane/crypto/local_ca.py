"""The local certificate authority behind `qplane up --tls`.

On first start it creates an ECDSA P-256 CA in ``<data_dir>/tls`` and
issues, from it, the API server's certificate and one client certificate
per embedded worker (mutual TLS on the internal API). Later starts reuse
them, and re-issue a certificate that is missing, expiring, issued by
another CA, or (the server's) made for other host names.

Files (the directory is 0700; everything holding a private key is 0600):

* ``ca-key.pem`` — the CA's private key (written once, never replaced);
* ``ca.pem`` — the CA certificate, the one file clients are told to trust;
* ``server.pem`` — the server's private key and certificate, one file, so a
  renewal replaces both in one atomic rename;
* ``workers/<name>.pem`` — a worker's private key and client certificate.

Security properties:

* Key files are created private and read through `keyfiles.read_secret_file`,
  so one that group or others can access is refused (`InsecureKeyFile`), not
  silently used or replaced.
* Server certificates carry only the serverAuth extended key usage and worker
  certificates only clientAuth, so neither can stand in for the other.
* The CA signs nothing but certificates (``keyCertSign``) and cannot certify
  another CA (``pathLen=0``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from qplane.crypto.keyfiles import (
    ensure_private_dir,
    load_or_create_secret_file,
    read_secret_file,
)

CA_KEY_FILE: Final = "ca-key.pem"
CA_CERT_FILE: Final = "ca.pem"
SERVER_FILE: Final = "server.pem"
WORKERS_DIR: Final = "workers"
#: Names every server certificate carries, so loopback clients always verify.
LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "::1")
WORKER_URI_PREFIX: Final = "urn:qplane:worker:"

_CA_LIFETIME: Final = timedelta(days=3650)
_LEAF_LIFETIME: Final = timedelta(days=90)
#: Tolerated clock difference between this machine and its clients.
_BACKDATE: Final = timedelta(minutes=5)
_PUBLIC_MODE: Final = 0o644
_PRIVATE_MODE: Final = 0o600
_WORKER_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class LocalCA:
    """A CA whose key lives in *directory*; issues and renews the server's and workers' certs."""

    def __init__(self, directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate):
        self.directory = directory
        self._key = key
        self.certificate = cert

    @classmethod
    def load_or_create(cls, directory: Path, *, now: datetime | None = None) -> LocalCA:
        """The CA in *directory*, created on first use; its certificate re-issued when expiring.

        A re-issued CA certificate keeps the key and name, so certificates it
        issued before still verify; clients need the new ``ca.pem`` only once
        the old one has expired.
        """
        now = now or datetime.now(UTC)
        ensure_private_dir(directory)
        key = _load_ec_key(load_or_create_secret_file(directory / CA_KEY_FILE, _new_key_pem))
        cert = _read_certificate(directory / CA_CERT_FILE)
        if cert is None or not _ca_cert_fits(cert, key, now):
            cert = _ca_certificate(key, now)
            _replace_file(directory / CA_CERT_FILE, _cert_pem(cert), _PUBLIC_MODE)
        return cls(directory, key, cert)

    @property
    def ca_file(self) -> Path:
        """The CA certificate: what a client passes as its CA bundle (``--ca-file``)."""
        return self.directory / CA_CERT_FILE

    @property
    def server_file(self) -> Path:
        return self.directory / SERVER_FILE

    def worker_file(self, name: str) -> Path:
        if not _WORKER_NAME.fullmatch(name):
            raise ValueError(f"unusable worker name for a certificate file: {name!r}")
        return self.directory / WORKERS_DIR / f"{name}.pem"

    def server_credentials(self, hosts: Iterable[str], *, now: datetime | None = None) -> Path:
        """The server's key-and-certificate file, valid for *hosts* plus `LOOPBACK_NAMES`.

        Reused while it is this CA's, names exactly these hosts and has more
        than a third of its lifetime left; re-issued (new key) otherwise.
        """
        now = now or datetime.now(UTC)
        names = _subject_alt_names([*LOOPBACK_NAMES, *hosts])
        path = self.server_file
        current = _read_credentials(path)
        if current is None or not (
            self._issued_and_fresh(current, now) and _san_set(current.cert) == set(names)
        ):
            leaf = ec.generate_private_key(ec.SECP256R1())
            cert = self._issue(
                leaf, "qplane API server", names, ExtendedKeyUsageOID.SERVER_AUTH, now
            )
            _replace_file(path, _credentials_pem(leaf, cert), _PRIVATE_MODE)
        return path

    def worker_credentials(self, name: str, worker_id: str, *, now: datetime | None = None) -> Path:
        """Worker *name*'s key-and-client-certificate file, naming *worker_id* (CN and SAN URI)."""
        now = now or datetime.now(UTC)
        path = self.worker_file(name)
        current = _read_credentials(path)
        if current is None or not (
            self._issued_and_fresh(current, now) and worker_id_of(current.cert) == worker_id
        ):
            leaf = ec.generate_private_key(ec.SECP256R1())
            names = [x509.UniformResourceIdentifier(WORKER_URI_PREFIX + worker_id)]
            cert = self._issue(leaf, worker_id, names, ExtendedKeyUsageOID.CLIENT_AUTH, now)
            _replace_file(path, _credentials_pem(leaf, cert), _PRIVATE_MODE)
        return path

    def _issued_and_fresh(self, current: _Credentials, now: datetime) -> bool:
        cert = current.cert
        try:
            cert.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        return (
            cert.not_valid_before_utc <= now
            and cert.not_valid_after_utc - now > lifetime / 3
            and _same_public_key(cert, current.key)
        )

    def _issue(
        self,
        leaf: ec.EllipticCurvePrivateKey,
        common_name: str,
        names: Sequence[x509.GeneralName],
        usage: x509.ObjectIdentifier,
        now: datetime,
    ) -> x509.Certificate:
        ca_public = self._key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(leaf.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _LEAF_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
            )
        )
        return builder.sign(self._key, hashes.SHA256())


def worker_id_of(cert: x509.Certificate) -> str | None:
    """The worker id a client certificate names (its SAN URI), or None if it names none."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in sans.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(WORKER_URI_PREFIX):
            return uri.removeprefix(WORKER_URI_PREFIX)
    return None


# -- certificates ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Credentials:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    public = key.public_key()
    name = _name(f"qplane local CA {_fingerprint(public)}")
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def _ca_cert_fits(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, now: datetime) -> bool:
    return (
        _same_public_key(cert, key)
        and cert.not_valid_before_utc <= now
        and cert.not_valid_after_utc - now > _LEAF_LIFETIME
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "qplane"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _fingerprint(public: ec.EllipticCurvePublicKey) -> str:
    """A short, stable tag of the CA key: two local CAs never share a name."""
    return x509.SubjectKeyIdentifier.from_public_key(public).digest[:4].hex()


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _subject_alt_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    """DNS names and IP addresses, de-duplicated and in a stable order."""
    names: dict[str, x509.GeneralName] = {}
    for host in hosts:
        host = host.strip().strip("[]").lower()
        if not host:
            continue
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            names[f"dns:{host}"] = x509.DNSName(host)
        else:
            names[f"ip:{address}"] = x509.IPAddress(address)
    return [names[key] for key in sorted(names)]


def _san_set(cert: x509.Certificate) -> set[x509.GeneralName]:
    try:
        return set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return set()


def _same_public_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


# -- files ----------------------------------------------------------------
def _new_key_pem() -> bytes:
    return _key_pem(ec.generate_private_key(ec.SECP256R1()))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _credentials_pem(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> bytes:
    return _key_pem(key) + _cert_pem(cert)


def _load_ec_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the local CA key is not an EC key")
    return key


def _read_certificate(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:  # damaged: issue a new one
        return None


def _read_credentials(path: Path) -> _Credentials | None:
    """A key-and-certificate file; None when missing or unreadable as such (re-issue it).

    Raises `InsecureKeyFile` when group or others can access it.
    """
    try:
        pem = read_secret_file(path)
    except FileNotFoundError:
        return None
    try:
        key = _load_ec_key(pem)
        cert = x509.load_pem_x509_certificate(pem[pem.index(b"-----BEGIN CERTIFICATE-----") :])
    except ValueError:
        return None
    return _Credentials(key, cert)


def _replace_file(path: Path, data: bytes, mode: int) -> None:
    """Write *data* to *path* with *mode*, replacing it atomically (never a half file)."""
    ensure_private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)  # the umask may have narrowed a public file
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
