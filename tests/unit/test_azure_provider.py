"""Azure OpenAI as a provider: its settings, and where and how a call goes there (the dated
API's deployment paths with `api-version`, the v1 API, `api-key` or an Entra token)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.settings import ProviderSettings, load_settings
from gateway.config.values import ConfigError
from gateway.llm.providers import target

GOOD = {"DATABASE_URL": "postgresql://u@h/db", "ADMIN_API_KEY": "0123456789abcdef-secret"}
DATED = ProviderSettings(
    "azure", "https://eu.openai.azure.com", "k", "azure", "azure", "2024-10-21"
)
V1 = ProviderSettings("azure-v1", "https://us.openai.azure.com", "k", "azure", "azure")


def _providers(tmp_path: Path, text: str, **env: str) -> dict[str, ProviderSettings]:
    cfg = tmp_path / "meterway.toml"
    cfg.write_text(text)
    return dict(load_settings({**GOOD, **env}, cfg).providers)


def test_an_azure_table_takes_the_azure_catalogue_and_its_api_version(tmp_path: Path) -> None:
    text = (
        '[providers.azure-eu]\nwire = "azure"\nbase_url = "https://eu.openai.azure.com/"\n'
        'api_key = "file"\napi_version = "2025-03-01-preview"\n'
        '[providers.azure-us]\nwire = "azure"\nbase_url = "https://us.openai.azure.com"\n'
        'api_version = "v1"\n'
    )
    found = _providers(tmp_path, text, AZURE_US_ENTRA_TOKEN="eyJ-token")
    eu, us = found["azure-eu"], found["azure-us"]
    assert (eu.base_url, eu.catalogue, eu.api_version, eu.body_wire) == (
        "https://eu.openai.azure.com", "azure", "2025-03-01-preview", "openai"
    )  # fmt: skip
    assert (us.api_version, us.entra_token) == ("", "eyJ-token")
    assert "eyJ" not in repr(us)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('wire = "azure"\napi_version = "latest"', "api_version is a date"),
        ('api_version = "2024-10-21"', "api_version and entra_token are Azure's"),
        ('entra_token = "t"', "api_version and entra_token are Azure's"),
    ],
)
def test_azure_fields_are_checked(tmp_path: Path, text: str, message: str) -> None:
    table = f'[providers.h]\nbase_url = "https://h.example"\n{text}\n'
    with pytest.raises(ConfigError, match=message):
        _providers(tmp_path, table)


def test_the_dated_api_puts_deployments_in_the_path_with_the_version() -> None:
    chat = target(DATED, "/chat/completions", {}, model="gpt4o-prod")
    assert chat.path == "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    assert chat.url == "https://eu.openai.azure.com" + chat.path
    assert chat.headers["api-key"] == "k" and "authorization" not in chat.headers
    responses = target(DATED, "/responses", {}, model="gpt4o-prod")
    assert responses.path == "/openai/responses?api-version=2024-10-21"
    odd = target(DATED, "/embeddings", {}, model="a b/c")
    assert odd.path.startswith("/openai/deployments/a%20b%2Fc/embeddings?")


def test_the_v1_api_and_an_entra_token() -> None:
    assert target(V1, "/chat/completions", {}, model="m").path == "/openai/v1/chat/completions"
    entra = ProviderSettings(
        "azure", "https://eu.openai.azure.com", "", "azure", "azure", "", entra_token="eyJ"
    )
    headers = target(entra, "/embeddings", {}, model="m").headers
    assert headers["authorization"] == "Bearer eyJ" and "api-key" not in headers
