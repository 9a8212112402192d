"""Forwarding benchmark for the Anthropic door: ``/v1/messages`` to an Anthropic-format upstream.

    python bench/forward_anthropic.py            # 3 interleaved rounds, about 1 min

The same set-up as bench/forward.py (whose upstream, load generator and process
helpers are in bench/loopback.py): a minimal upstream answering ``POST
/v1/messages`` with a canned Messages reply (JSON, or the SSE event sequence for
``"stream": true``), the gateway (``python -m gateway``, an ``api = "anthropic"``
upstream) pinned to core 0, the load generator pinned to the other core with the
upstream. **direct** is the load generator talking to the upstream itself. Each
round measures both, in turn; the table shows medians:

- latency p50/p99 at concurrency 1 (a non-streaming Messages request);
- requests/s at concurrency 32;
- time to first body byte of a streaming request, at concurrency 1.

For comparison in the same run, **openai** is the same gateway forwarding
``/v1/chat/completions`` to bench/forward.py's canned OpenAI upstream (with that
benchmark's own load). The load generator sends its key as ``Authorization: Bearer``
(as the anthropic SDK does with ``auth_token``). Everything stays on 127.0.0.1; every
process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import loopback

MESSAGE = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "bench-upstream",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 2},
    }
).encode()
JSON_REPLY = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(MESSAGE)).encode() + b"\r\n\r\n" + MESSAGE
)


def _event(kind: str, body: dict) -> bytes:
    return loopback._chunk(
        f"event: {kind}\ndata: {json.dumps({'type': kind, **body})}\n\n".encode()
    )


START = {**json.loads(MESSAGE), "content": [], "stop_reason": None}
STREAM_FIRST = _event("message_start", {"message": START})
STREAM_REST = (
    _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    + _event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hello!"}})
    + _event("content_block_stop", {"index": 0})
    + _event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}})
    + _event("message_stop", {})
    + b"0\r\n\r\n"
)
BODY = {
    "model": "bench-claude",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say hello."}],
}
REQUEST_BODY = json.dumps(BODY).encode()
STREAM_BODY = json.dumps({**BODY, "stream": True}).encode()


class AnthropicUpstream(loopback.UpstreamProtocol):
    """The canned upstream, answering as the Messages API does."""

    reply = JSON_REPLY


def run_load(url: str, args: argparse.Namespace) -> dict:
    """The figures for one target, measured with Anthropic bodies."""
    loopback.use_uvloop()

    async def main() -> dict:
        plain = await loopback.latencies(url, REQUEST_BODY, args.count, args.count // 5)
        rates = [
            (await loopback.throughput_and_cpu(url, REQUEST_BODY, args.concurrency, args.seconds))[
                0
            ]
            for _ in range(args.throughput_runs)
        ]
        stream = await loopback.latencies(
            url, STREAM_BODY, args.stream_count, args.stream_count // 5
        )
        return {
            "p50_ms": loopback.percentile([end for _, end in plain], 50) * 1000,
            "p99_ms": loopback.percentile([end for _, end in plain], 99) * 1000,
            "rps": statistics.median(rates),
            "ttfb_ms": loopback.percentile([first for first, _ in stream], 50) * 1000,
        }

    return asyncio.run(main())


def measure(url: str, core: int, args: argparse.Namespace) -> dict:
    command = [
        sys.executable, __file__, "--load", url, "--count", str(args.count),
        "--stream-count", str(args.stream_count), "--concurrency", str(args.concurrency),
        "--seconds", str(args.seconds),
    ]  # fmt: skip
    done = subprocess.run(
        command, preexec_fn=loopback.pinned(core), capture_output=True, text=True, timeout=300
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout)


def orchestrate(args: argparse.Namespace) -> None:
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average {load:.2f} before the run; other work skews the figures")
    cores = sorted(os.sched_getaffinity(0))
    other = cores[-1] if cores[-1] != loopback.GATEWAY_CORE else cores[0]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    upstream_port, port = loopback.free_port(), loopback.free_port()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        config = home / "bench.toml"
        config.write_text(
            f'[auth]\nclient_keys = ["{loopback.CLIENT_KEY}"]\nsecret_file = "{home / "secret"}"\n'
            f'[upstreams.claude]\napi = "anthropic"\napi_key = "sk-ant-bench"\n'
            f'base_url = "http://127.0.0.1:{upstream_port}"\n'
            f'[models.bench-claude]\nupstream = "claude"\nupstream_model = "bench-upstream"\n'
            f'[store]\npath = "{home / "bench.db"}"\n'
        )
        openai_port = loopback.free_port()
        config.write_text(
            config.read_text()
            + f'[upstreams.openai]\nbase_url = "http://127.0.0.1:{openai_port}/v1"\n'
            + '[models.bench]\nupstream = "openai"\nupstream_model = "bench-upstream"\n'
        )
        upstream = [sys.executable, __file__, "--serve-upstream", str(upstream_port)]
        openai_upstream = [sys.executable, loopback.__file__, "--serve-upstream", str(openai_port)]
        gateway = [sys.executable, "-m", "gateway", "--config", str(config), "--port", str(port)]
        env = {**os.environ, "PYTHONPATH": str(loopback.ROOT)}
        with (
            loopback.process(upstream, other, None, **quiet),
            loopback.process(openai_upstream, other, None, **quiet),
            loopback.process(
                gateway, loopback.GATEWAY_CORE, f"http://127.0.0.1:{port}/healthz", env=env, **quiet
            ),
        ):
            loopback.wait_port(upstream_port)
            loopback.wait_port(openai_port)
            targets = {
                "direct": f"http://127.0.0.1:{upstream_port}/v1/messages",
                "gateway": f"http://127.0.0.1:{port}/v1/messages",
                "openai": f"http://127.0.0.1:{port}/v1/chat/completions",
            }
            results: dict[str, list[dict]] = {name: [] for name in targets}
            for round_ in range(args.rounds):
                shift = round_ % len(targets)  # a different target first each round
                names = list(targets)
                for name in names[shift:] + names[:shift]:
                    if name == "openai":  # bench/forward.py's own load, model bench
                        figures = loopback.measure(targets[name], other, _openai_args(args))
                    else:
                        figures = measure(targets[name], other, args)
                    results[name].append(figures)
                rates = "  ".join(f"{n} {r[-1]['rps']:,.0f}" for n, r in results.items())
                print(f"round {round_ + 1}/{args.rounds}: req/s at c={args.concurrency}: {rates}")
    _print_table(results, args)


def _openai_args(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "rounds": 1})


def _print_table(results: dict[str, list[dict]], args: argparse.Namespace) -> None:
    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\nmedians of {args.rounds} interleaved rounds")
    print(f"{'':34}{'direct':>12}{'gateway':>12}{'difference':>14}{'openai':>12}")
    for label, key in (
        ("latency p50, c=1 (ms)", "p50_ms"),
        ("latency p99, c=1 (ms)", "p99_ms"),
        (f"throughput, c={args.concurrency} (req/s)", "rps"),
        ("stream TTFB p50, c=1 (ms)", "ttfb_ms"),
    ):
        direct, gateway, openai = (median(name, key) for name in ("direct", "gateway", "openai"))
        if key == "rps":
            row = f"{direct:12,.0f}{gateway:12,.0f}{gateway / direct:13.2f}x{openai:12,.0f}"
        else:
            row = f"{direct:12.3f}{gateway:12.3f}{gateway - direct:+14.3f}{openai:12.3f}"
        print(f"{label:34}{row}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="requests per latency run")
    parser.add_argument("--stream-count", type=int, default=500, help="streams for TTFB")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a throughput run")
    parser.add_argument("--throughput-runs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians shown)")
    parser.add_argument("--load", metavar="URL", help="measure URL; print the figures as JSON")
    parser.add_argument("--serve-upstream", type=int, metavar="PORT", help="run the upstream")
    args = parser.parse_args()
    if args.serve_upstream:
        # This process serves only Messages replies: its streams are this module's events.
        loopback.STREAM_FIRST, loopback.STREAM_REST = STREAM_FIRST, STREAM_REST
        loopback.serve_upstream(args.serve_upstream, AnthropicUpstream)
    elif args.load:
        print(json.dumps(run_load(args.load, args)))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
