"""Forwarding throughput with ``--workers 2`` against one worker, on one machine.

    python bench/workers.py            # about a minute; prints one table

The gateway runs on a throwaway PostgreSQL 15 cluster (``--workers`` needs one;
tests/postgres.py starts it), in front of bench/loopback.py's canned upstream,
loaded by bench/loopback.py's load generator (keep-alive HTTP/1.1, concurrency 32).

How the cores are split (``os.sched_setaffinity``): the upstream and the load
generator always share the last core. One worker gets core 0 to itself. Two
workers may use every core, so the second worker competes with the load
generator for the last one: on a two-core machine the figure shows what a second
process buys when no core is free for it, and on a bigger machine give the load
its own cores (``--load-cores``) to see the workers scale.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import loopback  # noqa: E402  (the canned upstream and load generator, reused)
import postgres  # noqa: E402  (the tests' throwaway cluster)


def gateway_command(config: Path, port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "gateway", "--config", str(config), "--port", str(port),
            "--workers", str(workers)]  # fmt: skip


def measure(workers: int, cores: set[int], load_core: int, args: argparse.Namespace) -> dict:
    cluster = postgres.Cluster().init()
    upstream_port, gateway_port = loopback.free_port(), loopback.free_port()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "bench.toml"
            config.write_text(
                f'[auth]\nclient_keys = ["{loopback.CLIENT_KEY}"]\n'
                f'[upstreams.fast]\nbase_url = "http://127.0.0.1:{upstream_port}/v1"\n'
                '[models.bench]\nupstream = "fast"\nupstream_model = "bench-upstream"\n'
                f'[store]\nurl = "{cluster.url()}"\n'
            )
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            upstream = [sys.executable, loopback.__file__, "--serve-upstream", str(upstream_port)]
            gateway = subprocess.Popen(
                gateway_command(config, gateway_port, workers),
                preexec_fn=lambda: os.sched_setaffinity(0, cores),
                **quiet,
            )
            try:
                with loopback.process(upstream, load_core, None, **quiet):
                    loopback.wait_port(upstream_port)
                    loopback.wait_ready(f"http://127.0.0.1:{gateway_port}/healthz", gateway)
                    url = f"http://127.0.0.1:{gateway_port}/v1/chat/completions"
                    return loopback.measure(url, load_core, args)
            finally:
                gateway.terminate()
                gateway.wait(timeout=20)
    finally:
        cluster.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="requests per latency run")
    parser.add_argument("--stream-count", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of a throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (median shown)")
    parser.add_argument("--load-cores", type=int, default=1, help="cores kept for the load")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    load_core = cores[-1]
    gateway_cores = (
        set(cores[: max(1, len(cores) - args.load_cores)]) if args.load_cores else set(cores)
    )
    if len(cores) <= 2:
        gateway_cores = set(cores)  # two cores: the second worker shares the load's core
    one = measure(1, {cores[0]}, load_core, args)
    two = measure(2, gateway_cores, load_core, args)
    load = os.getloadavg()[0]
    print(f"{len(cores)} cores; load generator and upstream on core {load_core}; "
          f"1 worker on core {cores[0]}; 2 workers on cores {sorted(gateway_cores)}; "
          f"load average {load:.2f}")  # fmt: skip
    print(f"{'':32} {'1 worker':>10} {'2 workers':>10} {'ratio':>7}")
    rows = [
        (f"throughput, c={args.concurrency} (req/s)", "rps"),
        ("latency p50, c=1 (ms)", "p50_ms"),
        ("latency p99, c=1 (ms)", "p99_ms"),
    ]
    for label, key in rows:
        print(f"{label:32} {one[key]:10.1f} {two[key]:10.1f} {two[key] / one[key]:6.2f}x")


if __name__ == "__main__":
    main()
