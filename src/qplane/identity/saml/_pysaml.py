"""The dangerous layer: every call into pysaml2 and xmlsec1 happens here.

Signatures are checked by pysaml2 through xmlsec1 against the certificates
in the IdP metadata the tenant admin registered, never against a key carried
in the message. On top of pysaml2 we check, ourselves and without
exception, what it leaves optional: exactly one assertion and no encrypted
ones; a signature on the assertion itself; the response ``Destination`` and
the bearer ``Recipient`` equal our ACS URL; the audience restriction is
present and names our SP entity id; the issuer is the registered IdP;
``InResponseTo`` (response and subject confirmation) is the request we sent;
``NotBefore``/``NotOnOrAfter`` hold within the configured skew.

`verify_response` returns a `VerifiedAssertion` or raises `Unauthenticated`;
it never "mostly succeeds". Reasons are short and never echo the message.
"""

from __future__ import annotations

import base64
import binascii
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_TRANSIENT, SCM_BEARER

from qplane.domain.errors import Unauthenticated, ValidationFailed
from qplane.identity.saml.sp_keys import SpKeyFiles

_MAX_RESPONSE_BYTES: Final = 256 * 1024


class XmlsecUnavailable(RuntimeError):
    """xmlsec1 is not installed: SAML cannot verify anything, so it refuses to run."""


@dataclass(frozen=True, slots=True)
class SpEndpoints:
    """One tenant's service provider: its entity id and assertion consumer URL."""

    entity_id: str
    acs_url: str


@dataclass(frozen=True, slots=True)
class IdpFacts:
    """What we rely on from an IdP's metadata."""

    entity_id: str
    sso_url: str


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    """The content of a response whose assertion passed every check above."""

    issuer: str
    assertion_id: str
    name_id: str
    attributes: dict[str, tuple[str, ...]]
    authn_class: str | None
    authn_instant: datetime | None
    expires_at: datetime


def xmlsec_binary() -> str:
    found = shutil.which("xmlsec1")
    if found is None:
        raise XmlsecUnavailable("xmlsec1 is required for SAML (apt-get install xmlsec1)")
    return found


def _config(sp: SpEndpoints, keys: SpKeyFiles, idp_xml: str | None, skew_s: int) -> SPConfig:
    conf: dict[str, Any] = {
        "entityid": sp.entity_id,
        "xmlsec_binary": xmlsec_binary(),
        "key_file": str(keys.key_path),
        "cert_file": str(keys.cert_path),
        "accepted_time_diff": skew_s,
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(sp.acs_url, BINDING_HTTP_POST)]},
                "want_assertions_signed": True,
                "want_response_signed": False,
                "want_assertions_or_response_signed": True,
                "authn_requests_signed": True,
                "allow_unsolicited": False,
            }
        },
    }
    if idp_xml is not None:
        conf["metadata"] = {"inline": [idp_xml]}
    config = SPConfig()
    config.load(conf)
    return config


def idp_facts(metadata_xml: str, sp: SpEndpoints, keys: SpKeyFiles) -> IdpFacts:
    """The single IdP described by *metadata_xml*; `ValidationFailed` unless usable."""
    try:
        store = _config(sp, keys, metadata_xml, 0).metadata
        idps = list(store.identity_providers())
    except XmlsecUnavailable:
        raise
    except Exception:  # pysaml2 raises many types for bad XML
        raise ValidationFailed(
            "IdP metadata is not valid SAML metadata", field="metadata"
        ) from None
    if len(idps) != 1:
        raise ValidationFailed("IdP metadata must describe exactly one IdP", field="metadata")
    entity_id = idps[0]
    if not store.certs(entity_id, "idpsso", "signing"):
        raise ValidationFailed("IdP metadata has no signing certificate", field="metadata")
    services = store.single_sign_on_service(entity_id, BINDING_HTTP_REDIRECT)
    if not services:
        raise ValidationFailed(
            "IdP metadata has no HTTP-Redirect single sign-on endpoint", field="metadata"
        )
    return IdpFacts(entity_id=entity_id, sso_url=services[0]["location"])


def sp_metadata(sp: SpEndpoints, keys: SpKeyFiles) -> str:
    """The SP's metadata XML, signed with the SP key."""
    xml = create_metadata_string(None, _config(sp, keys, None, 0), valid=24 * 7, sign=True)
    return xml.decode("utf-8") if isinstance(xml, bytes) else str(xml)


def authn_request(
    sp: SpEndpoints, keys: SpKeyFiles, idp_xml: str, idp_entity_id: str, relay_state: str
) -> tuple[str, str]:
    """A signed AuthnRequest for HTTP-Redirect: (its request id, the URL to send the user to)."""
    client = Saml2Client(config=_config(sp, keys, idp_xml, 0))
    request_id, info = client.prepare_for_authenticate(
        entityid=idp_entity_id,
        relay_state=relay_state,
        binding=BINDING_HTTP_REDIRECT,
        sign=True,
    )
    location = dict(info["headers"])["Location"]
    return str(request_id), str(location)


def verify_response(
    sp: SpEndpoints,
    keys: SpKeyFiles,
    idp_xml: str,
    idp_entity_id: str,
    saml_response: str,
    request_id: str,
    skew_s: int,
    now: Callable[[], datetime],
) -> VerifiedAssertion:
    """Verify an HTTP-POST ``SAMLResponse`` answering *request_id*; see the module docstring."""
    _precheck(_decode(saml_response), sp, idp_entity_id, request_id)
    client = Saml2Client(config=_config(sp, keys, idp_xml, skew_s))
    try:
        parsed = client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={request_id: sp.acs_url}
        )
    except XmlsecUnavailable:
        raise
    except Exception as exc:  # pysaml2 signals refusal with many exception types
        raise Unauthenticated(f"SAML response refused: {_reason(exc)}") from None
    if parsed is None or parsed.assertion is None:
        raise Unauthenticated("SAML response refused")
    return _postcheck(parsed, sp, idp_entity_id, request_id, skew_s, now())


_REASONS: Final = {
    "SignatureError": "signature missing or invalid",
    "ResponseLifetimeExceed": "assertion expired",
    "ToEarly": "assertion not yet valid",
    "VerificationError": "conditions or subject confirmation not satisfied",
}


def _reason(exc: Exception) -> str:
    """A fixed phrase for a pysaml2 refusal; its message is never echoed."""
    if "AudienceRestrictions" in str(exc):
        return "audience is not this service provider"
    return _REASONS.get(type(exc).__name__, type(exc).__name__)


def _decode(saml_response: str) -> bytes:
    if len(saml_response) > _MAX_RESPONSE_BYTES:
        raise Unauthenticated("SAML response too large")
    try:
        return base64.b64decode(saml_response, validate=True)
    except (binascii.Error, ValueError):
        raise Unauthenticated("SAML response malformed") from None


def _precheck(xml: bytes, sp: SpEndpoints, idp_entity_id: str, request_id: str) -> None:
    try:
        response = samlp.response_from_string(xml)
    except Exception:  # defusedxml refusals and parse errors alike
        raise Unauthenticated("SAML response malformed") from None
    if response is None:
        raise Unauthenticated("SAML response malformed")
    if response.encrypted_assertion or len(response.assertion) != 1:
        raise Unauthenticated("SAML response must carry exactly one plain assertion")
    if response.destination != sp.acs_url:
        raise Unauthenticated("SAML response destination is not this service provider")
    if response.in_response_to != request_id:
        raise Unauthenticated("SAML response does not answer our request")
    if response.issuer is not None and _text(response.issuer) != idp_entity_id:
        raise Unauthenticated("SAML response issuer is not the registered IdP")


def _postcheck(
    parsed: Any, sp: SpEndpoints, idp_entity_id: str, request_id: str, skew_s: int, now: datetime
) -> VerifiedAssertion:
    assertion = parsed.assertion
    if not assertion.signature:
        raise Unauthenticated("SAML assertion is not signed")
    if assertion.issuer is None or _text(assertion.issuer) != idp_entity_id:
        raise Unauthenticated("SAML assertion issuer is not the registered IdP")
    skew = timedelta(seconds=skew_s)
    expires_at = _check_conditions(assertion.conditions, sp.entity_id, now, skew)
    confirmed_until = _check_bearer(assertion.subject, sp.acs_url, request_id, now, skew)
    name_id = assertion.subject.name_id
    if name_id is None or not _text(name_id):
        raise Unauthenticated("SAML assertion has no NameID")
    if name_id.format == NAMEID_FORMAT_TRANSIENT:
        raise Unauthenticated("SAML NameID must be persistent, not transient")
    authn_class, authn_instant = _authn_context(assertion)
    return VerifiedAssertion(
        issuer=idp_entity_id,
        assertion_id=str(assertion.id),
        name_id=_text(name_id),
        attributes=_attributes(assertion, parsed.ava or {}),
        authn_class=authn_class,
        authn_instant=authn_instant,
        expires_at=min(expires_at, confirmed_until),
    )


def _check_conditions(conditions: Any, audience: str, now: datetime, skew: timedelta) -> datetime:
    if conditions is None or not conditions.not_on_or_after:
        raise Unauthenticated("SAML assertion has no validity period")
    audiences = {
        _text(item) for rule in conditions.audience_restriction for item in rule.audience or []
    }
    if audience not in audiences:
        raise Unauthenticated("SAML assertion audience is not this service provider")
    expires_at = _time(conditions.not_on_or_after)
    if now >= expires_at + skew:
        raise Unauthenticated("SAML assertion expired")
    if conditions.not_before and now + skew < _time(conditions.not_before):
        raise Unauthenticated("SAML assertion not yet valid")
    return expires_at


def _check_bearer(
    subject: Any, acs_url: str, request_id: str, now: datetime, skew: timedelta
) -> datetime:
    for confirmation in subject.subject_confirmation if subject is not None else []:
        data = confirmation.subject_confirmation_data
        if confirmation.method != SCM_BEARER or data is None:
            continue
        if data.recipient != acs_url:
            raise Unauthenticated("SAML assertion recipient is not this service provider")
        if data.in_response_to != request_id:
            raise Unauthenticated("SAML assertion does not answer our request")
        if not data.not_on_or_after or now >= _time(data.not_on_or_after) + skew:
            raise Unauthenticated("SAML assertion expired")
        return _time(data.not_on_or_after)
    raise Unauthenticated("SAML assertion has no bearer subject confirmation")


def _authn_context(assertion: Any) -> tuple[str | None, datetime | None]:
    for statement in assertion.authn_statement:
        context = statement.authn_context
        ref = context.authn_context_class_ref if context is not None else None
        instant = _time(statement.authn_instant) if statement.authn_instant else None
        return (_text(ref) or None if ref is not None else None), instant
    raise Unauthenticated("SAML assertion has no authentication statement")


def _attributes(assertion: Any, ava: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {name: [str(v) for v in values] for name, values in ava.items()}
    for statement in assertion.attribute_statement:
        for attribute in statement.attribute:
            values = [_text(value) for value in attribute.attribute_value]
            for name in {attribute.name, attribute.friendly_name} - {None, ""}:
                found.setdefault(str(name), []).extend(values)
    return {name: tuple(dict.fromkeys(values)) for name, values in found.items()}


def _text(element: Any) -> str:
    return (element.text or "").strip()


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Unauthenticated("SAML assertion has a malformed time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
