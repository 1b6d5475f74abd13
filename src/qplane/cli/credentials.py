"""The CLI's stored session: which control plane to talk to, and the access token for it.

The file (``credentials.json`` in the qplane config directory) holds a bearer
token, so it is treated like an SSH private key: written atomically with mode
0600 inside a 0700 directory, and refused on load when anyone but its owner
could read it. The token never appears in a ``repr``, a log line or output.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

FILE_NAME: Final = "credentials.json"
_NOT_LOGGED_IN: Final = "not logged in: run `qplane login --url URL --email EMAIL`"
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


class CredentialsError(ValueError):
    """The stored session is missing, unsafe or unusable.

    A `ValueError`, so that `one_line_errors` reports it as one line on stderr.
    """


@dataclass(frozen=True, slots=True)
class Credentials:
    """A control-plane URL and the tokens issued by it. ``repr`` hides the tokens.

    *ca_file* is the CA bundle the server's certificate is verified with
    (``qplane login --ca-file``), when not the usual one.
    """

    url: str
    token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    ca_file: str | None = None


def config_dir(env: Mapping[str, str]) -> Path:
    """Where the CLI keeps its files: $QPLANE_CONFIG_DIR, else $XDG_CONFIG_HOME/qplane,
    else ~/.config/qplane."""
    if env.get("QPLANE_CONFIG_DIR"):
        return Path(env["QPLANE_CONFIG_DIR"])
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "qplane"


def credentials_path(env: Mapping[str, str]) -> Path:
    return config_dir(env) / FILE_NAME


def save(path: Path, credentials: Credentials) -> None:
    """Write *credentials* to *path* atomically, readable by the owner only.

    The directory is created (or tightened) to 0700 and the file is created
    0600 *before* the token is written, so no other user can ever read it,
    not even for a moment; a crash leaves the old file or the new, never half.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fields = {"url": credentials.url, "token": credentials.token}
    if credentials.refresh_token:
        fields["refresh_token"] = credentials.refresh_token
    if credentials.ca_file:
        fields["ca_file"] = credentials.ca_file
    body = json.dumps(fields, indent=2)
    fd, tmp_name = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def load(path: Path) -> Credentials:
    """Read the stored session; raises `CredentialsError` when it is absent or unsafe.

    Refuses a file that group or others may read or write, a file owned by
    another user, and a symbolic link: any of them means the token may have
    leaked or been planted, and using it silently would hide that.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise CredentialsError(_NOT_LOGGED_IN) from None
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, encoding="utf-8") as handle:
        info = os.fstat(handle.fileno())
        _check_private(path, info)
        try:
            data = json.loads(handle.read())
        except ValueError:
            raise CredentialsError(f"{path} is not valid JSON; run `qplane login` again") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), str) and data[key] for key in ("url", "token")
    ):
        raise CredentialsError(f"{path} lacks url or token; run `qplane login` again")
    refresh, ca_file = data.get("refresh_token"), data.get("ca_file")
    return Credentials(
        url=str(data["url"]),
        token=str(data["token"]),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        ca_file=ca_file if isinstance(ca_file, str) and ca_file else None,
    )


def remove(path: Path) -> bool:
    """Delete the stored session; returns whether there was one."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def check_login_url(url: str, *, allow_insecure_http: bool = False) -> str:
    """Return *url* normalised, or raise `CredentialsError` when a password must not go there.

    Plain http is accepted only to loopback addresses (the embedded platform),
    because login sends a password and every later request a bearer token.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CredentialsError(f"not an http(s) URL: {url!r}")
    if parts.username or parts.password:
        raise CredentialsError("the URL must not carry credentials")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS and not allow_insecure_http:
        raise CredentialsError(
            f"refusing to send a password over plain http to {parts.hostname}: "
            "use https:// (or --insecure-http on a trusted network)"
        )
    return url.rstrip("/")


def check_ca_file(path: Path) -> str:
    """*path* made absolute (later commands run from anywhere), if it holds a certificate.

    Raises `CredentialsError` when it is missing or holds no PEM certificate.
    """
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise CredentialsError(f"cannot read the CA file {path}: {exc.strerror}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise CredentialsError(f"{path} holds no PEM certificate (use the CA's .pem file)")
    return str(path.resolve())


def resolve(path: Path, url_override: str | None, env: Mapping[str, str]) -> Credentials:
    """The session a command uses: the stored one, with environment/flag overrides.

    ``QPLANE_TOKEN`` (automation) replaces the stored token. A stored token is
    only ever sent to the URL it was issued by: overriding the URL without
    also supplying ``QPLANE_TOKEN`` is refused rather than leaking the token
    to another server. ``QPLANE_CA_FILE`` replaces the stored CA bundle.
    """
    env_token = env.get("QPLANE_TOKEN")
    env_ca_file = env.get("QPLANE_CA_FILE") or None
    url = url_override.rstrip("/") if url_override else None
    if env_token:
        ca_file = env_ca_file
        if url is None:
            stored = load(path)
            url, ca_file = stored.url, ca_file or stored.ca_file
        return Credentials(url=url, token=env_token, ca_file=ca_file)
    stored = load(path)
    if env_ca_file:
        stored = replace(stored, ca_file=env_ca_file)
    if url is not None and url != stored.url.rstrip("/"):
        raise CredentialsError(
            f"the stored token was issued by {stored.url}, not {url}: "
            f"run `qplane login --url {url}` or set QPLANE_TOKEN"
        )
    return stored


def _check_private(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise CredentialsError(f"{path} is not a regular file")
    if info.st_uid != os.getuid():
        raise CredentialsError(f"{path} belongs to another user; refusing to use it")
    if info.st_mode & 0o077:
        raise CredentialsError(
            f"{path} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run `chmod 600 {path}` and consider the token leaked"
        )
