"""One PKCS#11 token, reached safely from many threads: locking, login and failures.

python-pkcs11 initialises a module with ``C_Initialize(NULL)``, which
promises the module that no two threads call it at once, and keeps one
library object per module path for the whole process. So every call into
a module holds that module's process-wide lock, and one long-lived session
per token is all a provider needs. PKCS#11 login belongs to the process
and the token, and closing the session that logged in logs every session
out: the session is therefore kept open for as long as its `Pkcs11Token`.

Security properties:

* The PIN is read from its `PinSource` only to log in, and never appears
  in a message or ``repr``.
* A rejected, locked or expired PIN is not tried again for
  ``login_retry_s``: tokens lock a PIN after a few wrong tries, and
  retrying on every request would lock a customer out of their own token.
* Every failure to reach the token is `KeyUnavailable`, naming the token,
  the ring and the cause.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

import pkcs11
from pkcs11.types import Session

from qplane.crypto.errors import KeyUnavailable
from qplane.crypto.keyfiles import read_secret_file
from qplane.crypto.secret_bytes import SecretBytes

T = TypeVar("T")
#: Returns the user PIN when the token needs a login (called late, so a fixed PIN file is seen).
PinSource = Callable[[], SecretBytes]

#: The session died under us (module restarted, token re-inserted, logged out): reconnect once.
_STALE: Final = (
    pkcs11.SessionHandleInvalid,
    pkcs11.SessionClosed,
    pkcs11.DeviceRemoved,
    pkcs11.TokenNotPresent,
    pkcs11.UserNotLoggedIn,
)
_PIN_PROBLEMS: Final[tuple[tuple[type[pkcs11.PKCS11Error], str], ...]] = (
    (pkcs11.PinIncorrect, "was rejected"),
    (pkcs11.PinInvalid, "was rejected"),
    (pkcs11.PinLenRange, "was rejected"),
    (pkcs11.PinLocked, "is locked"),
    (pkcs11.PinExpired, "has expired"),
    (pkcs11.UserPinNotInitialized, "is not set"),
)


def pin_file(path: Path) -> PinSource:
    """A PIN read from *path* at each login; the file must be private (else `InsecureKeyFile`)."""

    def read() -> SecretBytes:
        try:
            return SecretBytes(read_secret_file(path).strip())
        except FileNotFoundError:
            raise KeyUnavailable(f"the PIN file {path.name!r} does not exist") from None

    return read


class _Module:
    """A PKCS#11 module loaded into this process, and the lock every call into it holds."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()

    def token(self, label: str) -> pkcs11.Token:
        # Loads the module on first use; python-pkcs11 re-initialises it after a finalize.
        return pkcs11.lib(self.path).get_token(token_label=label)


#: One entry per module file, like python-pkcs11's own library cache.
_modules: dict[str, _Module] = {}
_modules_lock = threading.Lock()


def _module(path: Path) -> _Module:
    # The resolved path: two spellings of one file must share one library and one lock.
    key = str(path.resolve())
    with _modules_lock:
        return _modules.setdefault(key, _Module(key))


class Pkcs11Token:
    """One token, reached through one long-lived, logged-in session."""

    def __init__(
        self,
        module: Path,
        label: str,
        pin: PinSource,
        *,
        description: str | None = None,
        login_retry_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        #: How messages name the token ("HSM token 'qplane'").
        self.description = description or f"HSM token {label!r}"
        self._module = _module(module)
        self._pin = pin
        self._login_retry_s = login_retry_s
        self._clock = clock
        self._session: Session | None = None
        self._refused: tuple[float, str] | None = None

    def __repr__(self) -> str:
        return f"Pkcs11Token({self.label!r}, {self._module.path!r}, <PIN redacted>)"

    @property
    def logged_in(self) -> bool:
        return self._session is not None

    def run(self, operation: Callable[[Session], T], *, ring: str) -> T:
        """``operation(session)`` under the module's lock; a stale session is replaced once.

        Errors *operation* raises about keys pass through for the caller to
        name; failures to reach or log in to the token are `KeyUnavailable`.
        """
        with self._module.lock:
            try:
                return operation(self._connect(ring))
            except _STALE:
                self._drop()
            try:
                return operation(self._connect(ring))
            except _STALE as exc:
                self._drop()
                raise self._unavailable(exc, ring) from None

    def close(self) -> None:
        """Close the session, which logs this process out of the token."""
        with self._module.lock:
            self._drop()

    def _connect(self, ring: str) -> Session:
        if self._session is not None:
            return self._session
        if self._refused is not None and self._clock() - self._refused[0] < self._login_retry_s:
            raise KeyUnavailable(f"{self._refused[1]} (ring {ring!r}); not tried again yet")
        try:
            self._session = self._login(self._module.token(self.label))
        except pkcs11.PKCS11Error as exc:
            raise self._unavailable(exc, ring) from None
        self._refused = None
        return self._session

    def _login(self, token: pkcs11.Token) -> Session:
        try:
            pin = self._pin().reveal().decode()
        except UnicodeDecodeError:
            raise KeyUnavailable(f"the PIN for {self.description} is not UTF-8 text") from None
        try:
            return token.open(rw=True, user_pin=pin)
        except pkcs11.UserAlreadyLoggedIn:
            # Another session of this process logged in to the token; sessions share it.
            return token.open(rw=True)

    def _unavailable(self, exc: pkcs11.PKCS11Error, ring: str) -> KeyUnavailable:
        for kind, problem in _PIN_PROBLEMS:
            if isinstance(exc, kind):
                message = f"the PIN for {self.description} {problem}"
                self._refused = (self._clock(), message)
                return KeyUnavailable(f"{message} (ring {ring!r})")
        return KeyUnavailable(f"{self.description} is not available (ring {ring!r}): {cause(exc)}")

    def _drop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(pkcs11.PKCS11Error):  # gone with the module or the token
                session.close()


def cause(exc: pkcs11.PKCS11Error) -> str:
    """A token's error for a message: python-pkcs11's text, else its kind (neither has secrets)."""
    return str(exc) or type(exc).__name__
