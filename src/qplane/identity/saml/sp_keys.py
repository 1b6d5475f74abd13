"""The service provider's SAML key pair: signs our metadata and AuthnRequests.

One RSA-2048 key and a self-signed certificate for the whole platform live in
``key_dir/saml/`` (files 0600, directory 0700, created atomically through
`qplane.crypto.keyfiles`). Every tenant's SP publishes the same certificate;
the per-tenant entity ids and ACS URLs keep the tenants apart.

Security property: the private key is only ever on disk in its 0600 file and
handed to xmlsec1 by path; a key file readable by group or others is refused
(`InsecureKeyFile`), and a certificate that does not match the key is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from qplane.crypto.keyfiles import load_or_create_secret_file

SAML_DIR: Final = "saml"
_KEY_FILE: Final = "sp-key.pem"
_CERT_FILE: Final = "sp-cert.pem"
_CERT_YEARS: Final = 10


@dataclass(frozen=True, slots=True)
class SpKeyFiles:
    """Paths of the SP key and certificate; the key itself is never held here."""

    key_path: Path
    cert_path: Path
    cert_pem: str

    @classmethod
    def load_or_create(cls, key_dir: Path) -> SpKeyFiles:
        directory = key_dir / SAML_DIR
        key_path, cert_path = directory / _KEY_FILE, directory / _CERT_FILE
        key_pem = load_or_create_secret_file(key_path, _new_key_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} does not hold an RSA key")
        cert_pem = load_or_create_secret_file(cert_path, lambda: _self_signed(key))
        cert = x509.load_pem_x509_certificate(cert_pem)
        if cert.public_key() != key.public_key():
            raise ValueError(f"{cert_path} does not match {key_path}")
        return cls(key_path=key_path, cert_path=cert_path, cert_pem=cert_pem.decode("ascii"))


def _new_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qplane SAML service provider")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * _CERT_YEARS))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
