"""Where the client connects: arguments, then environment, then the local daemon's key file."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.client.connection import DEFAULT_URL, resolve


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("CORRAL_URL", raising=False)
    monkeypatch.delenv("CORRAL_API_KEY", raising=False)
    monkeypatch.setenv("CORRAL_STATE_DIR", str(tmp_path))
    return tmp_path


def test_defaults_without_a_key_file(clean_env: Path) -> None:
    connection = resolve()
    assert (connection.url, connection.api_key, connection.headers) == (DEFAULT_URL, None, {})


def test_the_admin_key_file_is_the_fallback(clean_env: Path) -> None:
    (clean_env / "admin.key").write_text("crl_fromfile\n")
    assert resolve().api_key == "crl_fromfile"


def test_environment_beats_the_key_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "admin.key").write_text("crl_fromfile\n")
    monkeypatch.setenv("CORRAL_URL", "http://env:1/")
    monkeypatch.setenv("CORRAL_API_KEY", "crl_env")
    connection = resolve()
    assert (connection.url, connection.api_key) == ("http://env:1", "crl_env")


def test_arguments_beat_the_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_API_KEY", "crl_env")
    connection = resolve("http://arg:2", "crl_arg", timeout=3)
    assert (connection.url, connection.api_key, connection.timeout) == (
        "http://arg:2",
        "crl_arg",
        3,
    )
    assert connection.headers == {"Authorization": "Bearer crl_arg"}
