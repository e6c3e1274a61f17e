"""Settings: read once from the environment, typed, and handed to workers intact."""

from __future__ import annotations

from pathlib import Path

from pql.settings import DEFAULT_TRACKING_URI, Settings


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.tracking_uri == DEFAULT_TRACKING_URI
    assert settings.configured_model_uri is None
    assert settings.workers == 1 and not settings.debug and settings.score_history is None


def test_environment_is_typed_and_empty_values_are_unset() -> None:
    settings = Settings.from_env(
        {
            "MLFLOW_TRACKING_URI": "sqlite:///x.db",
            "PQL_MODEL_NAME": "pql-acme",
            "PQL_MODEL_ALIAS": "",
            "PQL_WORKERS": "3",
            "PQL_DEBUG": "yes",
            "PQL_ACCESS_LOG": "0",
            "PQL_SCORE_HISTORY": "runs",
            "UNRELATED": "x",
        }
    )
    assert settings.tracking_uri == "sqlite:///x.db"
    assert settings.configured_model_uri == "models:/pql-acme@champion"
    assert settings.workers == 3 and settings.debug and not settings.access_log
    assert settings.score_history == Path("runs")


def test_service_arguments_round_trip() -> None:
    settings = Settings(
        tracking_uri="sqlite:///s.db", model_uri="models:/pql-acme/4", api_token="t", workers=2
    )
    assert Settings.from_mapping(settings.service_args()) == settings
    assert settings.replace(workers=5).workers == 5 and settings.workers == 2


def test_connection_limits_are_positive_numbers_named_when_wrong() -> None:
    import pytest

    from pql.errors import ExitCode, UsageError

    settings = Settings.from_env(
        {"PQL_MAX_HEADER_BYTES": "8192", "PQL_HEADER_TIMEOUT": "2.5", "PQL_BODY_TIMEOUT": "7"}
    )
    assert (settings.max_header_bytes, settings.header_timeout, settings.body_timeout) == (
        8192,
        2.5,
        7.0,
    )
    assert Settings.from_mapping(settings.service_args()) == settings  # to the workers intact
    for name, bad in [
        ("PQL_MAX_HEADER_BYTES", "1.5"),
        ("PQL_MAX_HEADER_BYTES", "0"),
        ("PQL_HEADER_TIMEOUT", "-1"),
        ("PQL_BODY_TIMEOUT", "nan"),
        ("PQL_BODY_TIMEOUT", "soon"),
    ]:
        with pytest.raises(UsageError, match=name) as refused:
            Settings.from_env({name: bad})
        assert refused.value.exit_code == ExitCode.USAGE
