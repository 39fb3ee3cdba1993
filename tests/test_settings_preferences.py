"""$SIDETRACK_HOME/preferences.json (written by the dashboard's Settings page in local mode):
environment > file > default, only the known keys, and a broken file never breaks the settings."""

from __future__ import annotations

import pytest

from sidetrack_pipeline import settings


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SIDETRACK_HOME", str(tmp_path))
    for name in settings.PREFERENCE_KEYS:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_file_over_default_and_environment_over_file(home, monkeypatch):
    assert settings.get_settings().torch_device == "auto"
    settings.write_preferences({"TORCH_DEVICE": "cpu", "EXCERPT_SECONDS": "30"})
    assert (settings.get_settings().torch_device, settings.get_settings().excerpt_seconds) == ("cpu", 30.0)
    monkeypatch.setenv("TORCH_DEVICE", "auto")
    assert settings.get_settings().torch_device == "auto"
    assert settings.get_settings().excerpt_seconds == 30.0   # the other key still comes from the file


def test_writes_merge_and_unknown_keys_are_refused(home):
    settings.write_preferences({"USE_DEMUCS": "true"})
    settings.write_preferences({"EXCERPT_SECONDS": "0"})
    assert settings.read_preferences() == {"USE_DEMUCS": "true", "EXCERPT_SECONDS": "0"}
    with pytest.raises(ValueError, match="SIDETRACK_DATABASE_URL"):
        settings.write_preferences({"SIDETRACK_DATABASE_URL": "postgresql://elsewhere"})


def test_a_broken_or_foreign_file_is_ignored(home, caplog):
    (home / settings.PREFERENCES_FILE).write_text("{not json")
    assert settings.get_settings().torch_device == "auto"
    assert "ignoring" in caplog.text
    (home / settings.PREFERENCES_FILE).write_text('{"SIDETRACK_DATABASE_URL": "postgresql://x", "USE_DEMUCS": true}')
    assert settings.read_preferences() == {"USE_DEMUCS": "True"}
    assert settings.get_settings().database_url is None and settings.get_settings().use_demucs is True
