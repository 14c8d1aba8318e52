"""The benchmark upstream: nginx answering fixed OpenAI bodies, run from a temp dir."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.bench.procs import spawn, stop, wait_port

HERE = Path(__file__).resolve().parent
MODEL = "gpt-4o-mini"
STREAM_MODEL = "gemini-2.5-flash"  # routed by Meterway to nginx's SSE location
USAGE = {"prompt_tokens": 21, "completion_tokens": 12, "total_tokens": 33}


def json_body() -> str:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        }
    )


def _chunk(delta: dict[str, str], finish: str | None = None, usage: bool = False) -> str:
    body: dict[str, object] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = USAGE
    return "data: " + json.dumps(body) + "\n\n"


WORDS = ("Hello!", " How can", " I help", " you today?")
CHUNK_COUNTS = (10, 100, 1000)  # the growth bench's streams, served under /sse<N>/v1/


def sse_body(chunks: int = len(WORDS)) -> str:
    """A stream of `chunks` content chunks (the default one is the main bench's)."""
    parts = [_chunk({"role": "assistant", "content": ""})]
    parts += [_chunk({"content": WORDS[i % len(WORDS)]}) for i in range(chunks)]
    parts += [_chunk({}, "stop"), _chunk({}, usage=True), "data: [DONE]\n\n"]
    return "".join(parts)


def _nginx_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


@dataclass
class Upstream:
    url: str
    proc: subprocess.Popen[bytes]
    tmp: tempfile.TemporaryDirectory[str]

    def close(self) -> None:
        stop(self.proc)
        self.tmp.cleanup()


def start_nginx(port: int, cpu: int) -> Upstream:
    tmp = tempfile.TemporaryDirectory(prefix="mwbench-nginx-")
    conf = (HERE / "nginx.conf.template").read_text()
    conf = conf.replace("@PORT@", str(port)).replace("@JSON@", _nginx_quote(json_body()))
    conf = conf.replace("@SSE@", _nginx_quote(sse_body()))
    (Path(tmp.name) / "files").mkdir()
    Path(tmp.name).chmod(0o755)  # nginx's workers (not root) read the files
    for n in CHUNK_COUNTS:
        (Path(tmp.name) / "files" / f"sse{n}.txt").write_text(sse_body(n))
    conf = conf.replace("@DIR@", tmp.name)
    (Path(tmp.name) / "nginx.conf").write_text(conf)
    (Path(tmp.name) / "tmp").mkdir()
    proc = spawn(["nginx", "-p", tmp.name, "-c", "nginx.conf"], cpu=cpu, log=Path(tmp.name) / "out")
    wait_port(port)
    return Upstream(f"http://127.0.0.1:{port}", proc, tmp)
