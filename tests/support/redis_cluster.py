"""A real local Redis Cluster for tests: 6 `redis-server` processes, 3 masters and 3 replicas.

Made with `redis-cli --cluster create` in a temporary directory on free ports, the way an
operator would make one, so the tests exercise real MOVED redirects, per-node scripts and a
real automatic failover (cluster-node-timeout is 1 s so a killed master's replica takes over
within a few seconds; cluster-require-full-coverage is off, as the README advises, so the
other masters keep serving meanwhile). The session fixture `redis_cluster` starts it once
and removes it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
NODE_TIMEOUT_MS = 1000
MASTERS = 3


@dataclass
class ClusterNode:
    port: int
    dir: Path
    proc: subprocess.Popen[bytes] | None = None
    server: str = REDIS_SERVER

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                self.server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                "--cluster-require-full-coverage",
                "no",  # the other masters keep serving while one fails over
                "--appendonly",
                "no",
                "--save",
                "",
                "--dir",
                str(self.dir),
                "--daemonize",
                "no",
                "--logfile",
                "redis.log",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def role(self) -> str:
        with self.client() as c:
            return str(c.execute_command("ROLE")[0].decode())


@dataclass
class RedisCluster:
    nodes: list[ClusterNode]
    root: Path
    killed: list[ClusterNode] = field(default_factory=list)
    master_count: int = MASTERS

    @property
    def urls(self) -> str:
        """The REDIS_CLUSTER_URLS value: every node as a seed."""
        return ",".join(f"redis://{n.address}" for n in self.nodes)

    def live(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.proc is not None]

    def masters(self) -> list[ClusterNode]:
        return [n for n in self.live() if n.role() == "master"]

    def wait_ok(self, timeout_s: float = 30.0) -> None:
        """Every live node says cluster_state:ok and agrees its masters are all serving."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(_state_ok(n) for n in self.live()) and len(self.masters()) == self.master_count:
                return
            time.sleep(0.1)
        raise TimeoutError("Redis Cluster did not reach cluster_state:ok")

    def slot_map(self) -> dict[int, int]:
        """Slot -> port of the master serving it, as the cluster says now."""
        with self.live()[0].client() as c:
            ranges = c.execute_command("CLUSTER SLOTS")
        return {
            slot: int(master[1])
            for start, end, master, *_ in ranges
            for slot in range(int(start), int(end) + 1)
        }

    def keyslot(self, key: str) -> int:
        with self.live()[0].client() as c:
            return int(c.execute_command("CLUSTER KEYSLOT", key))

    def kill_master_of(self, key: str) -> tuple[ClusterNode, set[int]]:
        """SIGKILL the master serving `key`'s slot (its replica is promoted automatically);
        returns it and the slots it served."""
        slots = self.slot_map()
        port = slots[self.keyslot(key)]
        node = next(n for n in self.nodes if n.port == port)
        node.kill()
        self.killed.append(node)
        return node, {slot for slot, owner in slots.items() if owner == port}

    def restart_killed(self) -> None:
        """Bring killed masters back; they rejoin as replicas of whoever took over."""
        for node in self.killed:
            node.start()
        self.killed.clear()
        self.wait_ok()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(_synced(n) for n in self.live()):
            time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill(signal.SIGKILL)


def _ephemeral_floor() -> int:
    """The first port the kernel hands to outgoing connections (ip_local_port_range)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too, both below the ephemeral
    range: a port found free there can be given to one of the suite's own outgoing
    connections before redis-server binds it, and the node then never starts (a whole-suite
    run lost its 30 cluster tests to one such node)."""
    top = min(_ephemeral_floor(), 55_536) - 10_001
    while True:
        port = random.randint(min(20_000, top), top)
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def _state_ok(node: ClusterNode) -> bool:
    try:
        with node.client() as c:
            info = c.execute_command("CLUSTER INFO")
    except redis.RedisError:
        return False
    return str(info.get("cluster_state")) == "ok"


def _synced(node: ClusterNode) -> bool:
    """A replica has finished its first sync with its master (or the node is a master)."""
    try:
        with node.client() as c:
            info = c.info("replication")
    except redis.RedisError:
        return False
    serving: bool = info.get("role") == "master" or info.get("master_link_status") == "up"
    return serving


def _wait_pingable(node: ClusterNode) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if node.proc is not None and node.proc.poll() is not None:
            log = node.dir / "redis.log"
            said = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"redis-server on {node.port} exited: {said}")
        try:
            with node.client() as c:
                c.ping()
                return
        except redis.RedisError:
            time.sleep(0.05)
    raise TimeoutError(f"redis-server on {node.port} did not start")


def start_cluster(
    masters: int = MASTERS, replicas: int = 1, server: str = REDIS_SERVER, cli: str = REDIS_CLI
) -> RedisCluster:
    """`masters` (3 at least: redis-cli's rule) with `replicas` each; the benches' scale-out
    mode starts one with none, and with the embedded wheel's binaries. A node whose port was
    taken between its choice and its bind (another worker's cluster, a fake) starts the
    cluster again on other ports."""
    for attempt in range(3):
        try:
            return _start_cluster(masters, replicas, server, cli)
        except RuntimeError as exc:
            if "Address already in use" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_cluster(masters: int, replicas: int, server: str, cli: str) -> RedisCluster:
    root = Path(tempfile.mkdtemp(prefix="mw-cluster-"))
    count = masters * (1 + replicas)
    nodes = [ClusterNode(cluster_port(), root / str(i), server=server) for i in range(count)]
    cluster = RedisCluster(nodes, root, master_count=masters)
    flags = ("--cluster-replicas", str(replicas), "--cluster-yes")
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            _wait_pingable(node)
        subprocess.run(
            [cli, "--cluster", "create", *[n.address for n in nodes], *flags],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
        )
        cluster.wait_ok()
        deadline = time.monotonic() + 30
        while not all(_synced(n) for n in nodes):
            if time.monotonic() > deadline:
                raise TimeoutError("replicas did not sync")
            time.sleep(0.1)
    except BaseException:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    if not os.path.exists(REDIS_SERVER):
        pytest.fail(f"{REDIS_SERVER} is needed for the Redis Cluster tests")
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
