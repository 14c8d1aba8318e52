"""docker-compose.yml cannot be run here (no Docker engine), so read it and hold it to the code."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from gateway.config.settings import load_settings

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


MYPY_PIN = re.compile(r'"mypy==([0-9.]+)"')


def dockerfile() -> str:
    build = compose()["services"]["gateway"]["build"]
    return (ROOT / str(build["context"]) / str(build["dockerfile"])).read_text()


def test_every_service_is_checked_the_way_production_md_says() -> None:
    guide = (ROOT / "docs" / "guides" / "production.md").read_text()
    section = guide.split("## In containers", 1)[1].split("\n## ", 1)[0]
    services = compose()["services"]
    rows = {line.split("|")[1].strip(" `"): line for line in section.splitlines()
            if line.startswith("| `")}  # fmt: skip
    assert set(rows) == set(services)
    for name in ("postgres", "redis"):
        assert f"`{services[name]['image']}`" in rows[name], name
        check = services[name]["healthcheck"]["test"]
        said = check[1] if check[0] == "CMD-SHELL" else " ".join(check[1:])
        assert f"`{said}`" in rows[name], (name, said)
    redis_flags = " ".join(services["redis"]["command"][1:])
    assert f"`{redis_flags}`" in rows["redis"]
    gateway_check = " ".join(services["gateway"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8080/healthz" in gateway_check and "/healthz" in rows["gateway"]
    assert "`meterway serve --migrate`" in section
    assert services["gateway"]["command"] == ["meterway", "serve", "--migrate"]


def test_the_image_is_the_compiled_wheel_built_after_its_dependencies() -> None:
    text = dockerfile()
    stages = text.split("\nFROM ")[1:]
    assert len(stages) == 2, "a build stage and the image"
    build, image = stages
    install = build.index("pip install")
    compile_ = build.index("MW_MYPYC=1 pip wheel")
    assert install < compile_, "mypyc reads the dependencies' types: installed first"
    assert re.search(r"pip install [^\n]* \. ", build[install:compile_]), "the package's deps"
    assert "--no-build-isolation" in build[compile_:] and "-w /wheels" in build[compile_:]
    assert "COPY --from=build /wheels /wheels" in image
    assert "pip install --no-cache-dir /wheels/*.whl" in image
    assert "ENV MW_CONFIG_DIR=/app/config" in image and "COPY config ./config" in image


def test_the_image_and_the_docs_pin_the_mypy_the_build_is_tested_with() -> None:
    pins = {
        "gateway/Dockerfile": MYPY_PIN.findall(dockerfile()),
        "docs/performance.md": MYPY_PIN.findall((ROOT / "docs/performance.md").read_text()),
        "pyproject.toml": MYPY_PIN.findall((ROOT / "pyproject.toml").read_text()),
    }
    guide = (ROOT / "docs/guides/production.md").read_text()
    pins["docs/guides/production.md"] = re.findall(r"`mypy==([0-9.]+)`", guide)
    assert {where: set(found) for where, found in pins.items()} == {
        where: {metadata.version("mypy")} for where in pins
    }
