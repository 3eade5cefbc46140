"""Settings read from the environment and `.env`: unparsable lines and misspelt KG_ variables are reported."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kg_service.config as config
from kg_service.config import OTHER_KG_VARIABLES, Settings, get_settings, setting_variable_names

KG_SERVICE = str(Path(sys.executable).parent / "kg-service")


@pytest.fixture(autouse=True)
def fresh_settings(tmp_path: Path, monkeypatch, caplog) -> None:
    """Run each test in an empty folder, with no problem reported yet and settings read anew."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "_reported_problems", set())
    caplog.set_level(logging.WARNING)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def config_warnings(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "kg_service.config" and record.levelno == logging.WARNING]


# Unparsable .env lines

def test_env_parse_warning_names_the_file(tmp_path: Path, caplog) -> None:
    (tmp_path / ".env").write_text("KG_LOG_LEVEL=DEBUG\nKG_API_PORT 8000\n=x\nKG_API_HOST=0.0.0.0\n",
                                   encoding="utf-8")

    settings = Settings()

    warnings = config_warnings(caplog)
    env_file = tmp_path.resolve() / ".env"
    assert len(warnings) == 2
    assert warnings[0].startswith(f"{env_file}, line 2: not a NAME=value line (starting with 'KG_API_PORT')")
    assert warnings[1].startswith(f"{env_file}, line 3: not a NAME=value line, so it is ignored")
    assert "Write it as NAME=value" in warnings[0]
    assert "start it with # to make it a comment" in warnings[0]
    assert settings.log_level == "DEBUG"
    assert settings.api_host == "0.0.0.0"


def test_env_parse_warning_replaces_dotenv_one(tmp_path: Path, caplog) -> None:
    (tmp_path / ".env").write_text("KG_API_PORT 8000\n", encoding="utf-8")

    Settings()

    assert "python-dotenv could not parse" not in caplog.text
    assert str(tmp_path.resolve() / ".env") in caplog.text


def test_env_parse_warning_hides_value(tmp_path: Path, caplog) -> None:
    (tmp_path / ".env").write_text("NEO4J_PASSWORD s3cret-value\n", encoding="utf-8")

    Settings()

    assert "'NEO4J_PASSWORD'" in caplog.text
    assert "s3cret-value" not in caplog.text


def test_env_parse_warning_in_cli_stderr(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KG_API_PORT 8000\n", encoding="utf-8")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("KG_")}
    environment["KG_STATE_DIR"] = str(tmp_path / "state")

    result = subprocess.run([KG_SERVICE, "neo4j", "status"], capture_output=True, text=True, cwd=tmp_path,
                            env=environment, timeout=120)

    assert f"{tmp_path.resolve() / '.env'}, line 1: not a NAME=value line" in result.stderr
    assert "python-dotenv could not parse" not in result.stderr


# Misspelt KG_ variables

def test_misspelt_setting_is_named_with_a_suggestion(monkeypatch, caplog) -> None:
    monkeypatch.setenv("KG_BOLTPORT", "7800")

    settings = get_settings()

    assert config_warnings(caplog) == ["KG_BOLTPORT (in the environment) is not a kg-service setting and is "
                                       "ignored; did you mean KG_BOLT_PORT?"]
    assert settings.bolt_port != 7800


def test_misspelt_setting_in_env_file_named(tmp_path: Path, caplog) -> None:
    (tmp_path / ".env").write_text("KG_API_PRT=1\n", encoding="utf-8")

    settings = Settings()

    assert config_warnings(caplog) == [f"KG_API_PRT (in {tmp_path.resolve() / '.env'}) is not a kg-service setting "
                                       "and is ignored; did you mean KG_API_PORT?"]
    assert settings.api_port == 8000


def test_unknown_setting_without_close_name(monkeypatch, caplog) -> None:
    monkeypatch.setenv("KG_XYZZY", "1")

    Settings()

    warnings = config_warnings(caplog)
    assert len(warnings) == 1
    assert warnings[0].startswith("KG_XYZZY (in the environment) is not a kg-service setting")
    assert "did you mean" not in warnings[0]
    assert "README.md" in warnings[0]


def test_unknown_setting_reported_once(monkeypatch, caplog) -> None:
    monkeypatch.setenv("KG_API_PRT", "not a port")

    Settings()
    Settings()
    get_settings()

    assert len(config_warnings(caplog)) == 1


def test_known_and_other_kg_variables_not_reported(tmp_path: Path, monkeypatch, caplog) -> None:
    for name in OTHER_KG_VARIABLES:
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("kg_api_port", "8001")
    monkeypatch.setenv("KG_NEO4J_USER", "reader")
    (tmp_path / ".env").write_text("KG_LOG_LEVEL=WARNING\nNEO4J_DATABASE=plant\nOTHER_TOOL_VARIABLE=1\n",
                                   encoding="utf-8")

    settings = Settings()

    assert config_warnings(caplog) == []
    assert settings.api_port == 8001
    assert settings.neo4j_user == "reader"
    assert settings.neo4j_database == "plant"


def test_setting_variable_names_cover_aliases() -> None:
    names = setting_variable_names()

    assert "KG_BOLT_PORT" in names
    assert "NEO4J_URI" in names
    assert "KG_NEO4J_URI" in names
    assert "NEO4J_USERNAME" in names


def test_other_settings_classes_not_reported():
    from kg_service.api.app import ServerOptions
    from kg_service.ask.service import AskSettings
    from kg_service.config import OTHER_KG_VARIABLES

    for settings_class in (AskSettings, ServerOptions):
        prefix = settings_class.model_config["env_prefix"]
        for field_name in settings_class.model_fields:
            assert f"{prefix}{field_name.upper()}" in OTHER_KG_VARIABLES


def test_invalid_secret_not_shown(monkeypatch):
    from kg_service.config import Settings, invalid_settings_message
    from pydantic import ValidationError

    monkeypatch.setenv("KG_JWT_SECRET", "short-secret-abc")
    try:
        Settings()
    except ValidationError as error:
        message = invalid_settings_message(error)
    else:
        raise AssertionError("a 16-character JWT secret was accepted")
    assert "short-secret-abc" not in message
    assert "KG_JWT_SECRET (value of 16 characters)" in message


# KG_MQTT_PORT from the environment or .env

def test_mqtt_port_read_from_env_file(tmp_path: Path, monkeypatch, caplog) -> None:
    from kg_service.commands.telemetry_live import _broker

    monkeypatch.delenv("KG_MQTT_PORT", raising=False)
    assert _broker(None) == ("127.0.0.1", 1883)
    get_settings.cache_clear()
    (tmp_path / ".env").write_text("KG_MQTT_PORT=18854\n", encoding="utf-8")

    assert _broker(None) == ("127.0.0.1", 18854)
    assert _broker("broker.local:1884") == ("broker.local", 1884)
    assert config_warnings(caplog) == []


def test_invalid_mqtt_port_names_variable(tmp_path: Path, monkeypatch) -> None:
    from kg_service.commands.telemetry_live import _broker
    from kg_service.errors import ConfigurationError

    monkeypatch.delenv("KG_MQTT_PORT", raising=False)
    (tmp_path / ".env").write_text("KG_MQTT_PORT=18x3\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="invalid settings: KG_MQTT_PORT='18x3': Input should be a valid "
                                                 "integer"):
        _broker(None)

    get_settings.cache_clear()
    monkeypatch.setenv("KG_MQTT_PORT", "70000")
    with pytest.raises(ConfigurationError, match="KG_MQTT_PORT='70000': Input should be less than or equal to 65535"):
        get_settings()


def test_invalid_mqtt_port_in_cli_stderr(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KG_MQTT_PORT=0\n", encoding="utf-8")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("KG_")}
    environment["KG_STATE_DIR"] = str(tmp_path / "state")

    result = subprocess.run([KG_SERVICE, "telemetry", "replay", str(tmp_path / "missing-run")], capture_output=True,
                            text=True, cwd=tmp_path, env=environment, timeout=120)

    assert result.returncode == 1
    assert "error: invalid settings: KG_MQTT_PORT='0': Input should be greater than or equal to 1" in result.stderr


def test_mosquitto_script_reads_port_from_env_file(tmp_path: Path) -> None:
    from tests.conftest import ROOT

    (tmp_path / ".env").write_text("KG_MQTT_PORT=18854\n", encoding="utf-8")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("KG_")}
    environment["KG_STATE_DIR"] = str(tmp_path / "state")
    script = str(ROOT / "scripts" / "mosquitto.sh")

    from_file = subprocess.run(["bash", script, "status"], capture_output=True, text=True, cwd=tmp_path,
                               env=environment, timeout=60)
    from_argument = subprocess.run(["bash", script, "status", "18855"], capture_output=True, text=True,
                                   cwd=tmp_path, env=environment, timeout=60)
    (tmp_path / ".env").write_text("KG_MQTT_PORT=port\n", encoding="utf-8")
    invalid = subprocess.run(["bash", script, "status"], capture_output=True, text=True, cwd=tmp_path,
                             env=environment, timeout=60)

    assert from_file.stdout.strip() == "mosquitto is not running on port 18854"
    assert from_argument.stdout.strip() == "mosquitto is not running on port 18855"
    assert invalid.returncode == 1
    assert "error: invalid settings: KG_MQTT_PORT='port'" in invalid.stderr
