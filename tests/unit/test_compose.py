"""docker-compose.yml cannot be run here (no Docker engine), so read it and hold it to the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gateway.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_services_and_health_checks() -> None:
    services = compose()["services"]
    assert set(services) == {"gateway", "postgres", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, name
    depends = services["gateway"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"


def test_redis_keeps_an_append_only_file() -> None:
    command = compose()["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_gateway_environment_is_valid_for_the_settings_loader() -> None:
    env = {k: str(v) for k, v in compose()["services"]["gateway"]["environment"].items()}
    env["ADMIN_API_KEY"] = "a-secret-of-enough-length"
    settings = load_settings(env)
    pg = compose()["services"]["postgres"]["environment"]
    assert settings.database_url == (
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
        f"{pg['POSTGRES_DB']}"
    )
    assert settings.redis_url.startswith("redis://redis:6379")
    port = settings.listen_port
    assert f"{port}:{port}" in compose()["services"]["gateway"]["ports"]


def test_dockerfile_installs_what_the_gateway_needs() -> None:
    build = compose()["services"]["gateway"]["build"]
    dockerfile = (ROOT / build["context"] / build["dockerfile"]).read_text()
    for folder in ("gateway", "billing", "config"):
        assert f"COPY {folder}" in dockerfile
    assert 'CMD ["meterway", "serve"]' in dockerfile


def test_up_needs_no_manual_step() -> None:
    """`meterway rebuild` after `up` zeroed open holds, and a fresh deployment answered 503
    until someone ran it: the gateway migrates and restores by itself, and the comments
    advise no rebuild."""
    assert compose()["services"]["gateway"]["command"] == ["meterway", "serve", "--migrate"]
    text = (ROOT / "docker-compose.yml").read_text()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            assert "run --rm gateway meterway rebuild" not in line, line
