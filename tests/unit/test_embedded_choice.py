"""Which stores `meterway dev` and `serve --embedded` embed (gateway/devtools/embedded):
a set URL always wins, then (dev only) a server answering on the default address, and
only then an embedded server; each store decided on its own."""

from __future__ import annotations

import socket
from pathlib import Path

from gateway.devtools.embedded.choice import answers, choose
from gateway.devtools.embedded.command import given
from gateway.devtools.embedded.servers import state_dir

UNSET: dict[str, str | None] = {}


class Only:
    """A probe for which only `ports` answer; it keeps what it was asked."""

    def __init__(self, *ports: int) -> None:
        self.ports = ports
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> bool:
        self.asked.append((host, port))
        return port in self.ports


def test_nothing_set_and_nothing_answering_embeds_both() -> None:
    probe = Only()
    choice = choose(UNSET, probe)
    assert (choice.embed_postgres, choice.embed_redis) == (True, True)
    assert choice.why_postgres == "nothing answered on 127.0.0.1:5432"
    assert choice.why_redis == "nothing answered on 127.0.0.1:6379"
    assert probe.asked == [("127.0.0.1", 5432), ("127.0.0.1", 6379)]


def test_a_set_url_is_used_and_never_probed() -> None:
    probe = Only()
    urls = {"DATABASE_URL": "postgresql://db.internal/x", "REDIS_URL": "redis://cache:6379/0"}
    choice = choose(urls, probe)
    assert not choice.any and (choice.why_postgres, choice.why_redis) == ("as set", "as set")
    assert probe.asked == []


def test_a_server_answering_on_the_default_address_is_used_each_store_apart() -> None:
    choice = choose(UNSET, Only(6379))
    assert (choice.embed_postgres, choice.embed_redis) == (True, False)
    assert choice.why_redis == "the server answering on 127.0.0.1:6379"
    choice = choose({"REDIS_CLUSTER_URLS": "redis://a:7000"}, Only(5432))
    assert not choice.any


def test_serve_embedded_embeds_what_is_not_set_without_probing() -> None:
    choice = choose({"DATABASE_URL": "postgresql://db/x"}, None)
    assert (choice.embed_postgres, choice.embed_redis) == (False, True)
    assert choice.why_redis == "no URL set"


def test_given_reads_the_environment_over_the_toml_file_and_blank_is_unset() -> None:
    toml = {"database_url": "postgresql://from-toml/x", "redis_url": "redis://toml:1/0"}
    found = given({"REDIS_URL": "redis://env:2/0", "DATABASE_URL": "  "}, toml)
    assert found["REDIS_URL"] == "redis://env:2/0"
    assert found["DATABASE_URL"] is None  # set but blank in the environment: not a URL
    assert given({}, toml)["DATABASE_URL"] == "postgresql://from-toml/x"


def test_the_probe_is_a_tcp_connect() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert answers("127.0.0.1", port)
    assert not answers("127.0.0.1", port)  # closed now


def test_the_state_directory_is_xdg_s() -> None:
    assert state_dir({"XDG_STATE_HOME": "/srv/state"}, "dev") == Path("/srv/state/meterway/dev")
    default = Path.home() / ".local" / "state" / "meterway" / "serve"
    assert state_dir({}, "serve") == default
    assert state_dir({"XDG_STATE_HOME": "relative/dir"}, "serve") == default  # XDG: ignored
