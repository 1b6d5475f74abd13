"""A real SoftHSM for the PKCS#11 tests, and token owners who act on it from their own process.

`SoftHsm` is one SoftHSM configuration and token directory per test
process; `SoftHsm.new_token` initialises a fresh token for one test.
SoftHSM reads ``SOFTHSM2_CONF`` and its list of tokens when the module is
initialised, and python-pkcs11 loads a module once per process, so the
configuration is set before anything loads the module and the module is
re-initialised in this process after each new token.

`TokenOwner` is whoever holds a token's PIN besides qplane: the platform's
HSM administrator or a customer. PKCS#11 login belongs to the process and
the token, so an owner acting inside the test process would share (and, on
logging out, end) qplane's login; owners act from a subprocess of their
own, as they would in life. Run as a script, this module is that process.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.types import Session

from qplane.crypto.pkcs11_provider import Pkcs11Provider
from qplane.crypto.pkcs11_token import Pkcs11Token
from qplane.crypto.secret_bytes import SecretBytes

MODULE: Final = Path("/usr/lib/softhsm/libsofthsm2.so")
#: Attributes the tests read back from a key object.
ATTRIBUTES: Final = (
    "TOKEN",
    "PRIVATE",
    "SENSITIVE",
    "ALWAYS_SENSITIVE",
    "EXTRACTABLE",
    "NEVER_EXTRACTABLE",
    "COPYABLE",
    "ENCRYPT",
    "DECRYPT",
    "WRAP",
    "UNWRAP",
    "SIGN",
    "VERIFY",
    "DERIVE",
    "VALUE_LEN",
)


@cache
def _softhsm_missing() -> str | None:
    """Why SoftHSM cannot be used, or None when it can."""
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util is not installed (apt-get install softhsm2)"
    if not MODULE.exists():
        return f"the SoftHSM PKCS#11 module {MODULE} is missing"
    return None


def require_softhsm() -> None:
    """Skip without SoftHSM locally; FAIL under ``CI=true``, like the PostgreSQL tests."""
    # Imported here: this file also runs as a plain script (the token owner's process).
    from tests.requirements import unavailable

    problem = _softhsm_missing()
    if problem is not None:
        unavailable(problem, "the PKCS#11 tests")


class SoftHsm:
    """A SoftHSM configuration whose tokens live in *directory*."""

    def __init__(self, directory: Path) -> None:
        tokens = directory / "tokens"
        tokens.mkdir(parents=True)
        self.conf = directory / "softhsm2.conf"
        self.conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )

    def new_token(self, prefix: str) -> TokenOwner:
        """A fresh token (random PINs), visible to the module loaded in this process."""
        owner = TokenOwner(self, f"{prefix}-{secrets.token_hex(4)}", secrets.token_hex(8))
        self._util("--init-token", "--free", "--label", owner.label, "--pin", owner.pin,
                   "--so-pin", secrets.token_hex(8))  # fmt: skip
        restart_module()
        return owner

    def delete_token(self, owner: TokenOwner) -> None:
        self._util("--delete-token", "--token", owner.label)

    def _util(self, *args: str) -> None:
        env = {**os.environ, "SOFTHSM2_CONF": str(self.conf)}
        subprocess.run(["softhsm2-util", *args], env=env, check=True, capture_output=True)


_SOFTHSM: Final = pytest.StashKey[SoftHsm]()


def softhsm_for(request: pytest.FixtureRequest) -> SoftHsm:
    """This test process's SoftHSM, made on first use; ``SOFTHSM2_CONF`` stays set until the end."""
    require_softhsm()
    config = request.config
    if _SOFTHSM not in config.stash:
        tmp_path_factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        hsm = SoftHsm(tmp_path_factory.mktemp("softhsm"))
        patch = pytest.MonkeyPatch()
        patch.setenv("SOFTHSM2_CONF", str(hsm.conf))
        config.add_cleanup(patch.undo)
        restart_module()  # in case something loaded the module under another configuration
        config.stash[_SOFTHSM] = hsm
    return config.stash[_SOFTHSM]


def pkcs11_provider(request: pytest.FixtureRequest) -> Pkcs11Provider:
    """A `Pkcs11Provider` on a fresh token of its own, closed and deleted after the test.

    Shaped for the ``PROVIDERS`` contract suite in conftest.py.
    """
    hsm = softhsm_for(request)
    owner = hsm.new_token("qplane")
    provider = Pkcs11Provider(Pkcs11Token(MODULE, owner.label, owner.pin_source()))
    request.addfinalizer(lambda: hsm.delete_token(owner))
    request.addfinalizer(provider.close)
    return provider


def restart_module() -> None:
    """Finalise and re-initialise SoftHSM in this process, as a restarted HSM client would."""
    pkcs11.lib(str(MODULE.resolve())).reinitialize()


@dataclass(frozen=True)
class TokenOwner:
    """Someone holding a token's PIN, acting through a session in a process of their own."""

    hsm: SoftHsm
    label: str
    pin: str

    def pin_source(self) -> Callable[[], SecretBytes]:
        """The PIN as qplane's `Pkcs11Token` reads it."""
        return lambda: SecretBytes(self.pin.encode())

    def generate_aes_key(self, label: str, bits: int = 256) -> None:
        self._act("generate", label=label, bits=bits)

    def set_attribute(self, label: str, attribute: str, value: bool) -> None:
        """E.g. ``set_attribute(key, "DECRYPT", False)``: the customer disables their key."""
        self._act("set", label=label, attribute=attribute, value=value)

    def destroy(self, label: str) -> None:
        self._act("destroy", label=label)

    def secret_keys(self) -> list[dict[str, Any]]:
        """Every secret key in the token: label, id (hex) and `ATTRIBUTES`."""
        keys: list[dict[str, Any]] = self._act("keys")
        return keys

    def try_to_extract(self, label: str) -> dict[str, str]:
        """How each way of getting the key's value out fails (the error's name), or "ok"."""
        outcomes: dict[str, str] = self._act("extract", label=label)
        return outcomes

    def _act(self, action: str, **args: Any) -> Any:
        request = json.dumps({"token": self.label, "pin": self.pin, "action": action, **args})
        env = {**os.environ, "SOFTHSM2_CONF": str(self.hsm.conf)}
        done = subprocess.run(
            [sys.executable, __file__],
            input=request,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"token owner's {action!r} failed:\n{done.stderr}")
        return json.loads(done.stdout)


# -- the owner's process ------------------------------------------------------------


def _generate(session: Session, request: dict[str, Any]) -> None:
    session.generate_key(
        KeyType.AES, request["bits"], label=request["label"], id=os.urandom(8), store=True,
        template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True},
    )  # fmt: skip


def _set(session: Session, request: dict[str, Any]) -> None:
    session.get_key(label=request["label"])[Attribute[request["attribute"]]] = request["value"]


def _destroy(session: Session, request: dict[str, Any]) -> None:
    session.get_key(label=request["label"]).destroy()


def _keys(session: Session, request: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"label": key.label, "id": key.id.hex()}
        | {name: key[Attribute[name]] for name in ATTRIBUTES}
        for key in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})
    ]


def _extract(session: Session, request: dict[str, Any]) -> dict[str, str]:
    key = session.get_key(label=request["label"])
    wrapper = session.generate_key(KeyType.AES, 256, capabilities=MechanismFlag.WRAP)
    attempts: dict[str, Callable[[], object]] = {
        "read value": lambda: key[Attribute.VALUE],
        "wrap out": lambda: wrapper.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP),
        "make extractable": lambda: key.__setitem__(Attribute.EXTRACTABLE, True),
        "copy": lambda: key.copy({Attribute.LABEL: "copy"}),
    }
    return {name: _outcome(attempt) for name, attempt in attempts.items()}


def _outcome(attempt: Callable[[], object]) -> str:
    try:
        attempt()
    except pkcs11.PKCS11Error as exc:
        return type(exc).__name__ if type(exc) is not pkcs11.PKCS11Error else str(exc)
    return "ok"


_ACTIONS: Final[dict[str, Callable[[Session, dict[str, Any]], object]]] = {
    "generate": _generate,
    "set": _set,
    "destroy": _destroy,
    "keys": _keys,
    "extract": _extract,
}

if __name__ == "__main__":
    _request = json.load(sys.stdin)
    _token = pkcs11.lib(str(MODULE.resolve())).get_token(token_label=_request["token"])
    with _token.open(rw=True, user_pin=_request["pin"]) as _session:
        json.dump(_ACTIONS[_request["action"]](_session, _request), sys.stdout)
