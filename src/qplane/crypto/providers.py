"""Which `KeyProvider` serves a key ring: the platform's, or a tenant's own (customer-managed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.keyring import KeyProvider, LocalKeyring
from qplane.domain.errors import ValidationFailed
from qplane.domain.keys import KekVersion, KeyRing

#: Rings whose KEK lives in a token the tenant controls.
CUSTOMER_MANAGED = "cmk"


class KeyProviders:
    """The platform's providers by name, plus a factory for customer-managed rings.

    *default* names the provider new rings use (``local`` or ``pkcs11``).
    """

    def __init__(
        self,
        local: LocalKeyring,
        *,
        default: str = "local",
        others: Mapping[str, KeyProvider] | None = None,
        customer_managed: Callable[[KeyRing], KeyProvider] | None = None,
    ) -> None:
        self._by_name: dict[str, KeyProvider] = {local.name: local, **(others or {})}
        if default not in self._by_name:
            raise KeyUnavailable(f"key provider {default!r} is not configured")
        self.local = local
        self.default = default
        self._customer_managed = customer_managed

    def for_ring(self, ring: KeyRing) -> KeyProvider:
        if ring.provider == CUSTOMER_MANAGED:
            if self._customer_managed is None:
                raise KeyUnavailable("customer-managed keys are not enabled on this platform")
            return self._customer_managed(ring)
        provider = self._by_name.get(ring.provider)
        if provider is None:
            raise KeyUnavailable(f"key provider {ring.provider!r} is not configured")
        return provider

    def for_version(self, ring: KeyRing, kek: KekVersion) -> KeyProvider:
        """The provider holding KEK *kek* (which may differ from the ring's current one)."""
        return self.for_ring(
            replace(ring, provider=kek.provider, provider_config=kek.provider_config)
        )

    def check_customer_config(self, provider_config: str) -> None:
        """Refuse (`ValidationFailed`) a customer key config this platform would not use."""
        if self._customer_managed is None:
            raise ValidationFailed(
                "customer-managed keys are not enabled on this platform", field="customer_key"
            )
        validate = getattr(self._customer_managed, "validate", None)
        if callable(validate):
            validate(provider_config)

    def close(self) -> None:
        """Release what providers hold open (HSM sessions); safe to call twice."""
        for holder in (*self._by_name.values(), self._customer_managed):
            close = getattr(holder, "close", None)
            if callable(close):
                close()

    def named(self, name: str) -> KeyProvider:
        provider = self._by_name.get(name)
        if provider is None:
            raise KeyUnavailable(f"key provider {name!r} is not configured")
        return provider
