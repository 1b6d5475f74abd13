"""Policy test cases: requests with the decision a tenant expects, in YAML or JSON.

A tenant states what its policies must allow and deny, and the same file
runs on the server before a policy version is activated and locally with
the CLI. A file describes one tenant and the objects its cases use::

    tenant: {id: acme, name: acme, timezone: Europe/Berlin, region: eu-west}
    backends:                       # name -> facts; jobs route to these
      ibm-eagle: {kind: qpu, region: us-east, production: true, max_qubits: 127}
    groups:                         # optional: nesting between the tenant's groups
      acme-leads: {parents: [acme-approvers]}
    defaults:
      context: {mfa: true, auth_age_s: 60}
    cases:
      - name: researchers cannot route to a production QPU
        principal: {type: User, id: alice, roles: [member], projects: [qml],
                    groups: [acme-researchers]}
        action: job.submit
        resource: {type: Job, id: job-1, project: qml, backend: ibm-eagle,
                   qubits: 5, shots: 1000, classification: internal}
        context: {at: "2025-03-05T15:00:00Z"}
        expect: deny
        policies: [researchers-no-production-qpu]   # optional, must be determining

Principals are ``User``, ``ServicePrincipal`` (roles, projects, groups,
tenant), ``Operator`` and ``Worker`` (backends). Resources are ``Tenant``,
``Project``, ``Job``, ``Artifact`` (id, kind, job: {…}), ``Backend``,
``Worker``, ``User``, ``ServicePrincipal`` and ``Platform``. A ``tenant``
field other than the file's names another tenant (for cross-tenant cases).
The context defaults to no MFA, ``auth_age_s`` 0, a 900 s step-up window,
no break-glass, and ``at`` = `DEFAULT_MOMENT`. Expected policy ids without a
``baseline.`` or ``tenant:`` prefix are the file tenant's own ``@id`` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import yaml

from qplane.domain.backends import BackendKind
from qplane.domain.errors import ValidationFailed
from qplane.domain.tenancy import PrincipalKind
from qplane.policy._case_fields import CaseFields
from qplane.policy.actions import Action
from qplane.policy.context import AuthFacts
from qplane.policy.decision import DEFAULT_DENY, EVALUATION_ERROR, INVALID_REQUEST
from qplane.policy.entities import EntityRef, EntityType
from qplane.policy.errors import InvalidPolicyCase
from qplane.policy.facts import (
    PLATFORM,
    ArtifactFacts,
    ArtifactKind,
    BackendFacts,
    GroupFacts,
    JobFacts,
    PrincipalFacts,
    ProjectFacts,
    TenantFacts,
    WorkerFacts,
)
from qplane.policy.request import AccessRequest, PrincipalLike, ResourceLike, access_request
from qplane.policy.tenant_policies import namespaced_id

#: A Wednesday, midday UTC: the moment of a case that does not say.
DEFAULT_MOMENT: Final = datetime(2025, 1, 8, 12, 0, tzinfo=UTC)
_MARKERS: Final = frozenset({DEFAULT_DENY, INVALID_REQUEST, EVALUATION_ERROR})
_CASE_FIELDS: Final = ("name", "principal", "action", "resource", "context", "expect", "policies")
_PRINCIPAL_KINDS: Final = {"User": PrincipalKind.USER, "ServicePrincipal": PrincipalKind.SERVICE}


@dataclass(frozen=True, slots=True)
class PolicyCase:
    name: str
    request: AccessRequest
    expect_allow: bool
    #: Ids that must be among the determining policies (namespaced), if given.
    expect_policy_ids: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class PolicyCaseFile:
    tenant: TenantFacts
    cases: tuple[PolicyCase, ...]
    #: The tenant's own entities the file mentions: what its policies may name.
    known_entities: frozenset[EntityRef]


def load_case_file(path: Path) -> PolicyCaseFile:
    return load_cases(path.read_text(encoding="utf-8"))


def load_cases(text: str) -> PolicyCaseFile:
    """Parse a case file; raise `InvalidPolicyCase` naming the case at fault."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidPolicyCase(None, f"not YAML or JSON: {error}") from None
    top = CaseFields(document, None, "file")
    try:
        reader = _FileReader(top)
    except InvalidPolicyCase:
        raise
    except (ValidationFailed, ValueError) as error:
        raise InvalidPolicyCase(None, str(error)) from None
    cases = top.raw("cases")
    if not isinstance(cases, list) or not cases:
        raise top.fail("'cases' must be a non-empty list")
    loaded = tuple(reader.case(index, item) for index, item in enumerate(cases))
    top.done()
    names = [case.name for case in loaded]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise InvalidPolicyCase(duplicate, "another case has the same name")
    return PolicyCaseFile(reader.tenant, loaded, frozenset(reader.known))


class _FileReader:
    """Reads cases against the file's tenant, backends, groups and defaults."""

    def __init__(self, top: CaseFields) -> None:
        self.tenant = _tenant(top.nested("tenant"))
        self.backends = _backends(top)
        self.group_parents = _group_parents(top)
        defaults = top.optional_nested("defaults")
        self.default_context = defaults.optional_nested("context") if defaults else None
        if defaults:
            defaults.done()
        self.known: set[EntityRef] = {
            EntityRef(EntityType.GROUP, group) for group in self.group_parents
        }

    def case(self, index: int, item: object) -> PolicyCase:
        name = item.get("name") if isinstance(item, Mapping) else None
        label = name if isinstance(name, str) and name else f"#{index + 1}"
        fields = CaseFields(item, label, "case")
        fields.only(*_CASE_FIELDS)
        fields.text("name")
        try:
            case = self._case(label, fields)
        except InvalidPolicyCase:
            raise
        except (ValidationFailed, ValueError) as error:
            raise InvalidPolicyCase(label, str(error)) from None
        fields.done()
        return case

    def _case(self, name: str, fields: CaseFields) -> PolicyCase:
        try:
            action = Action(fields.text("action"))
        except ValueError:
            raise fields.fail(f"unknown action {fields.raw('action')!r}") from None
        principal = self._principal(fields.nested("principal"))
        resource = self._resource(fields.nested("resource"))
        context = fields.nested("context") if fields.has("context") else None
        context = (context or CaseFields({}, name, "case.context")).merged_over(
            self.default_context
        )
        request = _request(principal, action, resource, context)
        expect = fields.text("expect")
        if expect not in ("allow", "deny"):
            raise fields.fail("'expect' must be allow or deny")
        expected_ids = None
        if fields.has("policies"):
            expected_ids = tuple(sorted(self._policy_id(p) for p in fields.texts("policies")))
        return PolicyCase(name, request, expect == "allow", expected_ids)

    def _principal(self, fields: CaseFields) -> PrincipalLike:
        kind = fields.text("type")
        if kind == "Worker":
            worker = WorkerFacts(fields.text("id"), fields.texts("backends"))
            fields.done()
            return worker
        if kind == "Operator":
            operator = PrincipalFacts(fields.text("id"), PrincipalKind.OPERATOR, None)
            fields.done()
            return operator
        if kind not in _PRINCIPAL_KINDS:
            raise fields.fail("'type' must be User, ServicePrincipal, Operator or Worker")
        return self._member(fields, _PRINCIPAL_KINDS[kind])

    def _member(self, fields: CaseFields, kind: PrincipalKind) -> PrincipalFacts:
        tenant = self._tenant_named(fields.optional_text("tenant"))
        principal = PrincipalFacts(
            id=fields.text("id"),
            kind=kind,
            tenant=tenant,
            roles=fields.texts("roles"),
            project_ids=fields.texts("projects"),
            groups=self._groups(tenant.id, fields.texts("groups")),
            email=fields.text("email", default=f"{fields.text('id')}@example.test"),
        )
        fields.done()
        if tenant == self.tenant:
            user = kind is PrincipalKind.USER
            entity_type = EntityType.USER if user else EntityType.SERVICE_PRINCIPAL
            self.known.add(EntityRef(entity_type, principal.id))
            self.known.update(EntityRef(EntityType.PROJECT, p) for p in principal.project_ids)
            self.known.update(EntityRef(EntityType.GROUP, g.id) for g in principal.groups)
        return principal

    def _resource(self, fields: CaseFields) -> ResourceLike:
        kind = fields.text("type")
        resource: ResourceLike
        if kind in _PRINCIPAL_KINDS:
            return self._member(fields, _PRINCIPAL_KINDS[kind])
        if kind == "Tenant":
            resource = self._tenant_named(fields.optional_text("id"))
        elif kind == "Project":
            resource = self._project(fields.text("id"), fields.optional_text("tenant"))
        elif kind == "Job":
            resource = self._job(fields)
        elif kind == "Artifact":
            resource = self._artifact(fields)
        elif kind == "Backend":
            resource = self._backend_named(fields, fields.text("id"))
        elif kind == "Worker":
            resource = WorkerFacts(fields.text("id"), fields.texts("backends"))
        elif kind == "Platform":
            resource = PLATFORM
        else:
            raise fields.fail(f"unknown resource type {kind!r}")
        fields.done()
        return resource

    def _job(self, fields: CaseFields) -> JobFacts:
        project = self._project(fields.text("project"), fields.optional_text("tenant"))
        return JobFacts(
            id=fields.text("id"),
            project=project,
            owner_id=fields.text("owner", default="someone"),
            backend=self._backend_named(fields, fields.text("backend")),
            qubits=fields.integer("qubits", default=1),
            shots=fields.integer("shots", default=1000),
            classification=fields.text("classification", default="internal"),
        )

    def _artifact(self, fields: CaseFields) -> ArtifactFacts:
        try:
            kind = ArtifactKind(fields.text("kind"))
        except ValueError:
            raise fields.fail("'kind' must be circuit, result or log") from None
        job_fields = fields.nested("job")
        job = self._job(job_fields)
        job_fields.done()
        return ArtifactFacts(fields.text("id"), job, kind)

    def _backend_named(self, fields: CaseFields, name: str) -> BackendFacts:
        if name not in self.backends:
            raise fields.fail(f"backend {name!r} is not declared under 'backends'")
        return self.backends[name]

    def _project(self, project_id: str, tenant_id: str | None) -> ProjectFacts:
        tenant = self._tenant_named(tenant_id)
        if tenant == self.tenant:
            self.known.add(EntityRef(EntityType.PROJECT, project_id))
        return ProjectFacts(project_id, tenant, project_id)

    def _tenant_named(self, tenant_id: str | None) -> TenantFacts:
        if tenant_id is None or tenant_id == self.tenant.id:
            return self.tenant
        return TenantFacts(tenant_id, tenant_id)

    def _groups(self, tenant_id: str, direct: frozenset[str]) -> tuple[GroupFacts, ...]:
        """The principal's groups and, transitively, the groups those sit in."""
        found: dict[str, GroupFacts] = {}
        pending = sorted(direct)
        while pending:
            group = pending.pop()
            if group not in found:
                parents = self.group_parents.get(group, frozenset())
                found[group] = GroupFacts(group, tenant_id, parents)
                pending.extend(sorted(parents))
        return tuple(found[g] for g in sorted(found))

    def _policy_id(self, raw: str) -> str:
        if raw in _MARKERS or raw.startswith(("baseline.", "tenant:")):
            return raw
        return namespaced_id(self.tenant.id, raw)


def _tenant(fields: CaseFields) -> TenantFacts:
    tenant_id = fields.text("id")
    tenant = TenantFacts(
        id=tenant_id,
        name=fields.text("name", default=tenant_id),
        timezone=fields.text("timezone", default="UTC"),
        region=fields.text("region", default="unknown"),
    )
    fields.done()
    return tenant


def _backends(top: CaseFields) -> dict[str, BackendFacts]:
    if not top.has("backends"):
        return {}
    return {
        name: _backend(CaseFields(facts, None, f"backends.{name}"), name)
        for name, facts in top.nested("backends").items().items()
    }


def _backend(fields: CaseFields, name: str) -> BackendFacts:
    try:
        kind = BackendKind(fields.text("kind"))
    except ValueError:
        raise fields.fail("'kind' must be simulator or qpu") from None
    backend = BackendFacts(
        name=name,
        kind=kind,
        region=fields.text("region"),
        production=fields.flag("production", default=False),
        max_qubits=fields.integer("max_qubits"),
    )
    fields.done()
    return backend


def _group_parents(top: CaseFields) -> dict[str, frozenset[str]]:
    if not top.has("groups"):
        return {}
    parents: dict[str, frozenset[str]] = {}
    for name, facts in top.nested("groups").items().items():
        fields = CaseFields(facts or {}, None, f"groups.{name}")
        parents[name] = fields.texts("parents")
        fields.done()
    return parents


def _request(
    principal: PrincipalLike, action: Action, resource: ResourceLike, context: CaseFields
) -> AccessRequest:
    auth = AuthFacts(
        mfa=context.flag("mfa", default=False),
        auth_age_s=context.integer("auth_age_s", default=0),
        step_up_max_age_s=context.integer("step_up_max_age_s", default=900),
        region=context.optional_text("region"),
        source_ip=context.optional_text("source_ip"),
    )
    at = context.moment("at", DEFAULT_MOMENT)
    break_glass = context.flag("break_glass", default=False)
    context.done()
    return access_request(principal, action, resource, auth=auth, at=at, break_glass=break_glass)
