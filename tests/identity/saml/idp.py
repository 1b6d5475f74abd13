"""A real SAML identity provider for the tests: pysaml2's IdP `Server`, in process.

Each `TestIdp` generates its own RSA key and self-signed certificate at test
time (with `cryptography`; no private key is committed), publishes its
metadata, reads our signed AuthnRequests from the HTTP-Redirect URL and
answers with real responses signed by xmlsec1.
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT, SCM_BEARER, NameID
from saml2.server import Server

from tests.requirements import unavailable

PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
MFA_CLASS = "https://refeds.org/profile/mfa"


def require_xmlsec() -> str:
    """xmlsec1's path. Missing: skip locally, FAIL under CI=true (never a silent pass)."""
    found = shutil.which("xmlsec1")
    if found is None:
        unavailable("xmlsec1 is not installed (apt-get install xmlsec1)", "SAML tests")
    return found


def write_key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """A fresh RSA-2048 key (0600) and self-signed certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@dataclass
class AuthnRequest:
    request_id: str
    relay_state: str
    acs_url: str
    sp_entity_id: str


@dataclass
class TestIdp:
    """One IdP: an entity id and a key pair of its own."""

    entity_id: str
    key_dir: Path
    lifetime_minutes: int = 5
    key_path: Path = field(init=False)
    cert_path: Path = field(init=False)

    __test__ = False  # not a test class

    def __post_init__(self) -> None:
        name = urlsplit(self.entity_id).hostname or "idp"
        self.key_path, self.cert_path = write_key_pair(self.key_dir, name)

    def _config(self, sp_metadata: str | None = None) -> IdPConfig:
        conf: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": require_xmlsec(),
            "key_file": str(self.key_path),
            "cert_file": str(self.cert_path),
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [
                            (f"{self.entity_id}/sso/redirect", BINDING_HTTP_REDIRECT)
                        ]
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": self.lifetime_minutes},
                            "attribute_restrictions": None,
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                }
            },
        }
        if sp_metadata is not None:
            conf["metadata"] = {"inline": [sp_metadata]}
        config = IdPConfig()
        config.load(conf)
        return config

    @property
    def metadata(self) -> str:
        xml = create_metadata_string(None, self._config(), sign=False)
        return xml.decode() if isinstance(xml, bytes) else str(xml)

    def read_request(self, location: str, sp_metadata: str) -> AuthnRequest:
        """What our SP asked for, read from its HTTP-Redirect URL."""
        query = parse_qs(urlsplit(location).query)
        assert location.startswith(f"{self.entity_id}/sso/redirect?")
        assert "Signature" in query  # the AuthnRequest is signed
        assert "SigAlg" in query
        server = Server(config=self._config(sp_metadata))
        parsed = server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        message = parsed.message
        return AuthnRequest(
            request_id=message.id,
            relay_state=query["RelayState"][0],
            acs_url=message.assertion_consumer_service_url,
            sp_entity_id=message.issuer.text,
        )

    def respond(
        self,
        request: AuthnRequest,
        sp_metadata: str,
        *,
        name_id: str = "alice-0001",
        attributes: dict[str, list[str]] | None = None,
        authn_class: str = PASSWORD_CLASS,
        sign_assertion: bool = True,
        sign_response: bool = False,
        audience: str | None = None,
        destination: str | None = None,
        recipient: str | None = None,
    ) -> str:
        """A base64 SAMLResponse answering *request* (overrides make it wrong on purpose)."""
        server = Server(config=self._config(sp_metadata))
        identity = attributes or {"email": ["alice@acme.test"], "groups": ["quantum-users"]}
        extra: dict[str, Any] = {}
        if recipient is not None:  # a bearer Recipient other than the Destination
            confirmation = {
                "method": SCM_BEARER,
                "subject_confirmation_data": {
                    "recipient": recipient,
                    "in_response_to": request.request_id,
                },
            }
            extra["farg"] = {"assertion": {"subject": {"subject_confirmation": confirmation}}}
        xml = server.create_authn_response(
            identity,
            in_response_to=request.request_id,
            destination=destination or request.acs_url,
            sp_entity_id=audience or request.sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=name_id),
            authn={"class_ref": authn_class, "authn_auth": self.entity_id},
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            **extra,
        )
        return base64.b64encode(str(xml).encode("utf-8")).decode("ascii")
