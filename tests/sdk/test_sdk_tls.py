"""Which CA the SDK verifies a server with: the argument, then QPLANE_CA_FILE, else the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from qplane.crypto.local_ca import LocalCA
from qplane.sdk import QplaneClient


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    return LocalCA.load_or_create(tmp_path / "tls").ca_file


@pytest.fixture(autouse=True)
def _no_ambient_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QPLANE_CA_FILE", raising=False)


def test_by_default_the_usual_bundle_is_used() -> None:
    with QplaneClient("https://qplane.example") as client:
        assert client.ca_file is None


def test_ca_file_is_the_bundle(ca_file: Path) -> None:
    with QplaneClient("https://qplane.example", ca_file=ca_file) as client:
        assert client.ca_file == str(ca_file)


def test_a_path_given_as_verify_is_the_bundle(ca_file: Path) -> None:
    with QplaneClient("https://qplane.example", verify=str(ca_file)) as client:
        assert client.ca_file == str(ca_file)


def test_qplane_ca_file_applies_when_nothing_is_given(
    ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QPLANE_CA_FILE", str(ca_file))
    with QplaneClient("https://qplane.example") as client:
        assert client.ca_file == str(ca_file)
    with QplaneClient("https://qplane.example", verify=False) as client:
        assert client.ca_file is None, "an explicit choice wins over the environment"


def test_ca_file_and_verify_together_are_refused(ca_file: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        QplaneClient("https://qplane.example", verify=False, ca_file=ca_file)


def test_a_missing_ca_file_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        QplaneClient("https://qplane.example", ca_file=tmp_path / "missing.pem")
