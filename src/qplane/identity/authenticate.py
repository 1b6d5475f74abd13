"""The one place a caller's bearer token becomes an `Actor`.

Single sign-on, sender-constrained tokens and revocation will hook in here;
nothing else in qplane checks a token.
"""

from __future__ import annotations

from qplane.domain.errors import NotFound, Unauthenticated
from qplane.domain.ports import UnitOfWorkFactory
from qplane.domain.tenancy import PrincipalKind
from qplane.identity.tokens import TokenVerifier
from qplane.policy.actor import Actor


class Authenticator:
    def __init__(self, uow_factory: UnitOfWorkFactory, verifier: TokenVerifier) -> None:
        self._uow = uow_factory
        self._verifier = verifier

    def actor_for(
        self, token: str, request_id: str | None = None, source_ip: str | None = None
    ) -> Actor:
        """Verify *token* and load its principal's current state.

        Roles come from the principal's record, not the token, so a demotion
        or a disabled account takes effect on the next request.
        """
        claims = self._verifier.verify(token)
        if claims.kind == "worker":
            raise Unauthenticated("worker tokens are not accepted here")
        with self._uow() as uow:
            try:
                principal = uow.principals.get(claims.tenant, claims.sub)
            except NotFound:
                raise Unauthenticated("principal no longer exists") from None
        if principal.disabled:
            raise Unauthenticated("principal is disabled")
        return Actor(
            principal_id=principal.id,
            kind=PrincipalKind(principal.kind),
            tenant_id=principal.tenant_id,
            roles=principal.roles,
            request_id=request_id,
            source_ip=source_ip,
        )
