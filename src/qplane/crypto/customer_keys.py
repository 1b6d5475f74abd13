"""Customer-managed keys: which tenant token a ``cmk`` ring uses, and the rules for naming one.

A customer-managed ring stores a `CustomerKeyConfig` as its
``provider_config``: the PKCS#11 module, the token's label, the label of
the AES-256 key the customer generated there, and the name of a PIN file.
`CustomerManagedKeys` is the factory `KeyProviders` calls for such rings.

Security properties:

* No secret is ever part of a ring's configuration: the PIN lives in a file
  the operator installs at ``<pin_dir>/<tenant id>/<pin_file>`` (private to
  the service, else `InsecureKeyFile`), and a tenant names only that file.
  A tenant cannot name another tenant's PIN: the directory is chosen by
  the ring's tenant, and the file name may not contain a path.
* A configuration may name only a module on the operator's allow-list
  (``QPLANE_PKCS11_ALLOWED_MODULES``, compared after resolving links and
  checked before anything is loaded): loading a module runs its code in the
  server. The list is empty by default, which turns customer keys off; for
  a trial, list only SoftHSM's module.
* The platform's own token cannot be named, and because PKCS#11 login
  belongs to the process and the token, a token that one tenant's PIN
  unlocked is refused to every other tenant while it stays logged in.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.keyring import KeyProvider
from qplane.crypto.pkcs11_provider import CustomerKeyProvider
from qplane.crypto.pkcs11_token import Pkcs11Token, pin_file
from qplane.domain.errors import ValidationFailed
from qplane.domain.keys import KeyRing

if TYPE_CHECKING:
    from qplane.config import Settings

_FIELDS: Final = frozenset({"module", "token_label", "key_label", "pin_file"})
#: A PIN file's name, and a tenant id used as a directory: no separators, no dot-dot.
_PLAIN_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class CustomerKeyConfig:
    """A customer-managed ring's ``provider_config``: where the customer's key is, no secret.

    As JSON: ``{"module": "/usr/lib/softhsm/libsofthsm2.so", "token_label":
    "acme", "key_label": "qplane-kek", "pin_file": "acme.pin"}``. To move a
    ring to another key of the customer's, rotate it (`KeyHierarchy.rotate`)
    with a config naming the new key label, rewrap, then retire the old
    versions; each version keeps referencing the key it was made with.
    """

    module: Path
    token_label: str
    key_label: str
    pin_file: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "module": str(self.module),
                "token_label": self.token_label,
                "key_label": self.key_label,
                "pin_file": self.pin_file,
            },
            sort_keys=True,
        )

    @classmethod
    def parse(cls, text: str) -> CustomerKeyConfig:
        """The config in *text*; `ValidationFailed` for anything else, a PIN above all."""
        try:
            fields = json.loads(text)
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            raise _invalid("a customer key config is a JSON object")
        if "pin" in fields:
            raise _invalid("a customer key config must not hold the PIN: name a PIN file")
        if set(fields) != _FIELDS or not all(isinstance(v, str) and v for v in fields.values()):
            raise _invalid("a customer key config has exactly: " + ", ".join(sorted(_FIELDS)))
        if not Path(fields["module"]).is_absolute():
            raise _invalid("the module must be an absolute path")
        if not _PLAIN_NAME.fullmatch(fields["pin_file"]):
            raise _invalid("pin_file must be a plain file name")
        return cls(
            Path(fields["module"]), fields["token_label"], fields["key_label"], fields["pin_file"]
        )


class CustomerManagedKeys:
    """The `KeyProviders` factory for ``cmk`` rings: a provider per ring, a session per token."""

    def __init__(
        self,
        *,
        allowed_modules: Iterable[Path],
        pin_dir: Path,
        reserved_tokens: Iterable[tuple[Path, str]] = (),
        login_retry_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._allowed = frozenset(path.resolve() for path in allowed_modules)
        self._reserved = frozenset((path.resolve(), label) for path, label in reserved_tokens)
        self._pin_dir = pin_dir
        self._login_retry_s = login_retry_s
        self._clock = clock
        #: (module, token label) → (the tenant whose PIN it uses, the PIN file, the token).
        self._tokens: dict[tuple[Path, str], tuple[str, Path, Pkcs11Token]] = {}
        self._lock = threading.Lock()

    def __call__(self, ring: KeyRing) -> KeyProvider:
        if ring.tenant_id is None or not _PLAIN_NAME.fullmatch(ring.tenant_id):
            raise KeyUnavailable(f"ring {ring.name!r} has no tenant to own a customer key")
        try:
            config = self.validate(ring.provider_config)
        except ValidationFailed as exc:
            raise KeyUnavailable(f"ring {ring.name!r} cannot use its customer key: {exc}") from None
        return CustomerKeyProvider(self._token(ring.tenant_id, ring.name, config), config.key_label)

    def validate(self, provider_config: str) -> CustomerKeyConfig:
        """Check a config a tenant submits before a ring stores it (`ValidationFailed`)."""
        config = CustomerKeyConfig.parse(provider_config)
        module = config.module.resolve()
        if module not in self._allowed:
            raise _invalid(f"PKCS#11 module {str(config.module)!r} is not on the allow-list")
        if (module, config.token_label) in self._reserved:
            raise _invalid(f"token {config.token_label!r} cannot hold a customer key")
        return config

    def close(self) -> None:
        """Log out of every customer token."""
        with self._lock:
            tokens, self._tokens = self._tokens, {}
        for *_, token in tokens.values():
            token.close()

    def _token(self, tenant_id: str, ring: str, config: CustomerKeyConfig) -> Pkcs11Token:
        where = (config.module.resolve(), config.token_label)
        pin = self._pin_dir / tenant_id / config.pin_file
        description = f"the customer's token {config.token_label!r}"
        with self._lock:
            known = self._tokens.get(where)
            if known is not None and known[:2] == (tenant_id, pin):
                return known[2]
            if known is not None:
                if known[0] != tenant_id and known[2].logged_in:
                    raise KeyUnavailable(f"{description} is not available (ring {ring!r})")
                known[2].close()  # never logged in, or its tenant now names another PIN
            token = Pkcs11Token(
                where[0],
                config.token_label,
                pin_file(pin),
                description=description,
                login_retry_s=self._login_retry_s,
                clock=self._clock,
            )
            self._tokens[where] = (tenant_id, pin, token)
            return token


def customer_managed_providers(settings: Settings) -> CustomerManagedKeys | None:
    """The ``cmk`` factory from settings, or None (customer keys off) while no module is allowed."""
    if not settings.pkcs11_allowed_modules:
        return None
    reserved = []
    if settings.pkcs11_module is not None:
        reserved.append((settings.pkcs11_module, settings.pkcs11_token_label))
    return CustomerManagedKeys(
        allowed_modules=settings.pkcs11_allowed_modules,
        pin_dir=settings.pkcs11_customer_pin_dir or settings.key_dir / "customer-pins",
        reserved_tokens=reserved,
        login_retry_s=settings.pkcs11_login_retry_s,
    )


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="provider_config")
