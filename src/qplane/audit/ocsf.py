"""An audit entry as an OCSF API Activity event, for SIEMs, still carrying its proof.

Target schema: OCSF 1.3.0, class API Activity (``class_uid`` 6003, category
Application Activity, ``category_uid`` 6), https://schema.ocsf.io/1.3.0/classes/api_activity
(attributes as listed there: ``activity_id`` 1 Create, 2 Read, 3 Update,
4 Delete, 99 Other; ``type_uid = class_uid * 100 + activity_id``;
``status_id`` 1 Success, 2 Failure; ``severity_id`` 1 Informational; the
``actor``, ``api``, ``cloud``, ``src_endpoint``, ``resources`` and
``metadata`` objects).

The mapping is a pure function of the entry's canonical record
(`qplane.audit.entry`): the event keeps that record, and its inclusion
proof, under ``unmapped.qplane_audit``, so the offline verifier
(`qplane.audit.offline`) recomputes the leaf from the record and checks
that every OCSF field says exactly what the signed record says. A SIEM that
ingests a verified export can therefore trust the OCSF fields themselves.
Fields OCSF has no place for (the clock source, the auth method, keyed
digests) are kept under ``unmapped`` too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from qplane.audit.entry import parse_rfc3339
from qplane.domain.errors import IntegrityError

OCSF_VERSION: Final = "1.3.0"
API_ACTIVITY: Final = 6003
APPLICATION_ACTIVITY: Final = 6
#: Where an event keeps the evidence it was mapped from.
EVIDENCE: Final = "qplane_audit"

_ACTIVITIES: Final = {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}
_HTTP_VERBS: Final = {"POST": 1, "GET": 2, "HEAD": 2, "PUT": 3, "PATCH": 3, "DELETE": 4}
#: The last word of an action (``job.submitted``) says what kind of change it was.
_VERBS: Final = {
    1: {"add", "bootstrap", "create", "enrol", "grant", "granted", "issue", "provision", "push"}
    | {"register", "rejected", "start", "submit", "submitted"},
    2: {"explain", "export", "get", "list", "prove", "read", "search", "use", "verify"},
    3: {"activate", "approve", "cancel", "cancelled", "confirm", "failed", "lease", "queued"}
    | {"refresh", "renew", "report", "rewrap", "rollback", "rotate", "running", "scheduled"}
    | {"succeeded", "sync", "update", "validated", "verified"},
    4: {"delete", "purge", "remove", "retention", "retire", "revoke", "shred"},
}
_STATUS: Final = {"success": (1, "Success"), "denied": (2, "Failure"), "failure": (2, "Failure")}
_USER_TYPES: Final = {"user": (1, "User"), "operator": (2, "Admin"), "worker": (3, "System")}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def activity_id(action: str) -> int:
    """OCSF's activity for a qplane action: by HTTP verb (``POST /v1/…``) or by its last word."""
    verb, _, _ = action.partition(" ")
    if verb in _HTTP_VERBS:
        return _HTTP_VERBS[verb]
    word = action.rsplit(".", 1)[-1]
    return next((uid for uid, words in _VERBS.items() if word in words), 99)


def event(record: dict[str, Any], inclusion: object) -> dict[str, Any]:
    """The OCSF API Activity event of the canonical *record*, with its *inclusion* proof."""
    activity = activity_id(record["action"])
    status_id, status = _STATUS.get(record["outcome"], (99, "Other"))
    mapped: dict[str, Any] = {
        "activity_id": activity,
        "activity_name": _ACTIVITIES[activity],
        "category_uid": APPLICATION_ACTIVITY,
        "category_name": "Application Activity",
        "class_uid": API_ACTIVITY,
        "class_name": "API Activity",
        "type_uid": API_ACTIVITY * 100 + activity,
        "type_name": f"API Activity: {_ACTIVITIES[activity]}",
        "severity_id": 1,
        "severity": "Informational",
        "time": _milliseconds(record["at"]),
        "status_id": status_id,
        "status": status,
        "status_detail": record["outcome"],
        "metadata": _metadata(record),
        "actor": _actor(record),
        "api": _api(record),
        "cloud": _cloud(record),
        "resources": _resources(record),
        "unmapped": _unmapped(record, inclusion),
    }
    if record["detail"] is not None:
        mapped["message"] = record["detail"]
    if record["source_ip"] is not None:
        mapped["src_endpoint"] = {"ip": record["source_ip"]}
    if record["decision"] in ("allow", "deny"):
        allowed = record["decision"] == "allow"
        mapped["action_id"], mapped["action"] = (1, "Allowed") if allowed else (2, "Denied")
    return mapped


def evidence(mapped: object) -> tuple[dict[str, Any], object]:
    """The (record, inclusion) an OCSF event carries; `IntegrityError` if it carries none."""
    try:
        kept = mapped["unmapped"][EVIDENCE]  # type: ignore[index]
        record, inclusion = kept["entry"], kept["inclusion"]
    except (KeyError, TypeError):
        raise IntegrityError("the OCSF event carries no qplane audit record") from None
    if not isinstance(record, dict):
        raise IntegrityError("the OCSF event's audit record is not an object")
    return record, inclusion


def _milliseconds(at: str) -> int:
    return (parse_rfc3339(at) - _EPOCH) // timedelta(milliseconds=1)


def _metadata(record: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": {"name": "qplane", "vendor_name": "qplane"},
        "log_name": record["log"],
        "sequence": record["index"],
        "uid": f"{record['log']}/{record['index']}",
    }
    if record["request_id"] is not None:
        metadata["correlation_uid"] = record["request_id"]
    return metadata


def _actor(record: dict[str, Any]) -> dict[str, Any]:
    actor: dict[str, Any] = {"app_name": "qplane"}
    if record["actor_id"] is not None:
        type_id, kind = _USER_TYPES.get(record["actor_kind"], (99, "Other"))
        user = {"uid": record["actor_id"], "type_id": type_id, "type": kind}
        actor["user"] = user
    if record["elevation_id"] is not None:
        actor["session"] = {"uid": record["elevation_id"]}
    authorizations = [
        {"decision": record["decision"], "policy": {"uid": policy}}
        for policy in record["policy_ids"]
    ]
    if not authorizations and record["decision"] is not None:
        authorizations = [{"decision": record["decision"]}]
    if authorizations:
        actor["authorizations"] = authorizations
    return actor


def _cloud(record: dict[str, Any]) -> dict[str, Any]:
    """The tenant as the cloud account (where SIEM mappings look for the customer)."""
    cloud: dict[str, Any] = {"provider": "qplane"}
    if record["tenant_id"] is not None:
        cloud["account"] = {"uid": record["tenant_id"]}
    return cloud


def _api(record: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {"operation": record["action"]}
    if record["request_id"] is not None:
        api["request"] = {"uid": record["request_id"]}
    return api


def _resources(record: dict[str, Any]) -> list[dict[str, Any]]:
    named = (("target", "target"), ("job_id", "job"), ("backend", "backend"))
    return [{"uid": record[field], "type": kind} for field, kind in named if record[field]]


def _unmapped(record: dict[str, Any], inclusion: object) -> dict[str, Any]:
    return {
        "clock": record["clock"],
        "auth_method": record["auth_method"],
        "actor_kind": record["actor_kind"],
        "correlations": record["correlations"],
        EVIDENCE: {"entry": record, "inclusion": inclusion},
    }
