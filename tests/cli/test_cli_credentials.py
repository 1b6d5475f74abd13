"""The CLI's stored session: private on disk, refused when it is not, never echoed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from qplane.cli import credentials
from qplane.cli.credentials import Credentials, CredentialsError

TOKEN = "eyJhbGciOiJFZERTQSJ9.secret-token-body.signature"
URL = "http://127.0.0.1:8080"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "qplane" / credentials.FILE_NAME


def test_saved_file_is_owner_only_inside_owner_only_directory(path: Path) -> None:
    credentials.save(path, Credentials(URL, TOKEN))
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert credentials.load(path) == Credentials(URL, TOKEN)


def test_save_tightens_an_existing_loose_directory(path: Path) -> None:
    path.parent.mkdir(parents=True, mode=0o755)
    os.chmod(path.parent, 0o755)  # noqa: S103 - the loose directory is the point of the test
    credentials.save(path, Credentials(URL, TOKEN))
    assert _mode(path.parent) == 0o700


def test_save_replaces_the_old_session_and_leaves_no_temporary_files(path: Path) -> None:
    credentials.save(path, Credentials(URL, "old-token"))
    credentials.save(path, Credentials("https://qplane.example", TOKEN))
    assert credentials.load(path) == Credentials("https://qplane.example", TOKEN)
    assert [p.name for p in path.parent.iterdir()] == [credentials.FILE_NAME]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o620])
def test_load_refuses_a_file_group_or_others_can_access(path: Path, mode: int) -> None:
    credentials.save(path, Credentials(URL, TOKEN))
    os.chmod(path, mode)
    with pytest.raises(CredentialsError, match="group or others") as caught:
        credentials.load(path)
    message = str(caught.value)
    assert "\n" not in message
    assert TOKEN not in message


def test_load_refuses_a_symlink(path: Path, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.json"
    credentials.save(real, Credentials(URL, TOKEN))
    path.parent.mkdir(parents=True)
    path.symlink_to(real)
    with pytest.raises(CredentialsError, match="cannot read"):
        credentials.load(path)


def test_missing_file_means_not_logged_in(path: Path) -> None:
    with pytest.raises(CredentialsError, match="not logged in"):
        credentials.load(path)


@pytest.mark.parametrize("body", ["not json", "[]", '{"url": "x"}', '{"url": "", "token": "t"}'])
def test_malformed_file_is_refused_in_one_line(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(body)
    os.chmod(path, 0o600)
    with pytest.raises(CredentialsError) as caught:
        credentials.load(path)
    assert "\n" not in str(caught.value)


def test_repr_never_shows_the_token() -> None:
    assert TOKEN not in repr(Credentials(URL, TOKEN))


def test_remove_reports_whether_a_session_existed(path: Path) -> None:
    assert credentials.remove(path) is False
    credentials.save(path, Credentials(URL, TOKEN))
    assert credentials.remove(path) is True
    assert not path.exists()


def test_config_dir_prefers_qplane_config_dir_then_xdg_then_home(tmp_path: Path) -> None:
    both = {"QPLANE_CONFIG_DIR": str(tmp_path / "q"), "XDG_CONFIG_HOME": str(tmp_path / "x")}
    assert credentials.config_dir(both) == tmp_path / "q"
    assert credentials.config_dir({"XDG_CONFIG_HOME": str(tmp_path / "x")}) == (
        tmp_path / "x" / "qplane"
    )
    assert credentials.config_dir({}) == Path.home() / ".config" / "qplane"


def test_env_token_overrides_the_stored_one(path: Path) -> None:
    credentials.save(path, Credentials(URL, TOKEN))
    resolved = credentials.resolve(path, None, {"QPLANE_TOKEN": "automation"})
    assert resolved == Credentials(URL, "automation")


def test_env_token_and_url_work_without_a_stored_session(path: Path) -> None:
    resolved = credentials.resolve(path, "https://q.example/", {"QPLANE_TOKEN": "automation"})
    assert resolved == Credentials("https://q.example", "automation")


def test_stored_token_is_never_sent_to_another_url(path: Path) -> None:
    credentials.save(path, Credentials(URL, TOKEN))
    with pytest.raises(CredentialsError, match="issued by"):
        credentials.resolve(path, "https://attacker.example", {})
    assert credentials.resolve(path, URL + "/", {}) == Credentials(URL, TOKEN)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://q.example"]
)
def test_login_url_accepts_https_and_loopback_http(url: str) -> None:
    assert credentials.check_login_url(url + "/") == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://q.example", "plain http"),
        ("ftp://q.example", "not an http"),
        ("q.example", "not an http"),
        ("https://user:pw@q.example", "credentials"),
    ],
)
def test_login_url_refuses_where_a_password_must_not_go(url: str, reason: str) -> None:
    with pytest.raises(CredentialsError, match=reason):
        credentials.check_login_url(url)


def test_login_url_allows_plain_http_when_told_to() -> None:
    url = "http://qplane.internal:8080"
    assert credentials.check_login_url(url, allow_insecure_http=True) == url
