"""Human route across processes: two gateways on one PostgreSQL database.

    python bench/cluster.py                      # 10,000 waiting clients, about two minutes
    python bench/cluster.py --clients 2000 --sample 200

Process A and process B are two gateway processes (``python -m gateway``) on a
throwaway PostgreSQL 15 cluster (tests/postgres.py). bench/human.py's load
process plays the clients, spread evenly over A and B, with the dashboard
(``GET /api/events``) and the reviewer on B. It measures:

- answer latency across processes: ``POST /api/tasks/{id}/answer`` on B -> the
  whole reply at a client held by A (the wake-up goes through LISTEN/NOTIFY and a
  read of the task), one answer at a time on a sample, with every client waiting
  (target: p99 at most 20 ms);
- event latency across processes: a new request sent to A -> its ``task.created``
  read by the dashboard on B (target: p99 at most 50 ms);
- memory of each process with the clients waiting.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import postgres  # noqa: E402  (the tests' throwaway cluster)
from harness import Gateway, free_port  # noqa: E402
from human import TARGETS, load_process, percentile, raise_fd_limit, rss_kb  # noqa: E402


def run(clients: int, sample: int) -> dict[str, Any]:
    raise_fd_limit()  # inherited by the gateways
    cluster = postgres.Cluster().init()
    context = multiprocessing.get_context("spawn")
    gateways: list[Gateway] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "cluster.toml"
            config.write_text(
                f'[store]\nurl = "{cluster.url()}"\npool_size = 20\n'
                "[human]\nreattach_grace_s = 600\n"
            )
            gateways = [Gateway(config, free_port()).start() for _ in range(2)]
            a, b = gateways
            parent, child = context.Pipe()
            load = context.Process(
                target=load_process, args=(b.url, clients, sample, child, [a.url, b.url])
            )
            load.start()
            try:
                assert parent.poll(120) and parent.recv() == "idle"
                idle = [rss_kb(g.process.pid) for g in gateways]
                parent.send("go")
                assert parent.poll(600) and parent.recv() == "filled"
                time.sleep(1)
                loaded = [rss_kb(g.process.pid) for g in gateways]
                parent.send("measure")
                assert parent.poll(600), "the load process did not report"
                result = parent.recv()
            finally:
                load.join(timeout=10)
                if load.is_alive():
                    load.kill()
    finally:
        for gateway in gateways:
            gateway.kill()  # clients are still waiting: no graceful drain
        cluster.destroy()
    return {
        "clients": clients,
        "sample": sample,
        "idle_rss_mb": [kb / 1024 for kb in idle],
        "loaded_rss_mb": [kb / 1024 for kb in loaded],
        "fill_s": result["fill_s"],
        "event_p50_ms": statistics.median(result["event"]) * 1000,
        "event_p99_ms": percentile(result["event"], 0.99) * 1000,
        "answer_p50_ms": statistics.median(result["answer"]) * 1000,
        "answer_p99_ms": percentile(result["answer"], 0.99) * 1000,
        "errors": result["errors"],
    }


def report(figures: dict[str, Any]) -> None:
    def verdict(key: str) -> str:
        return "ok" if figures[key] <= TARGETS[key] else "MISSED"

    print(
        f"human route, {figures['clients']:,} clients waiting over two gateway processes "
        "(A and B) on one PostgreSQL database"
    )
    print(
        f"  fill: {figures['fill_s']:.1f} s ({figures['clients'] / figures['fill_s']:,.0f} tasks/s)"
    )
    for name, idle, loaded in zip(
        "AB", figures["idle_rss_mb"], figures["loaded_rss_mb"], strict=True
    ):
        print(f"  process {name}: RSS {idle:.1f} MB idle -> {loaded:.1f} MB with clients waiting")
    print(
        f"  answer on B -> reply at a client on A, {figures['sample']} answers: "
        f"p50 {figures['answer_p50_ms']:.2f} ms, p99 {figures['answer_p99_ms']:.2f} ms"
        f"   (target p99 <= 20 ms: {verdict('answer_p99_ms')})"
    )
    print(
        f"  request on A -> task.created at a dashboard on B, {figures['sample']} requests: "
        f"p50 {figures['event_p50_ms']:.2f} ms, p99 {figures['event_p99_ms']:.2f} ms"
        f"   (target p99 <= 50 ms: {verdict('event_p99_ms')})"
    )
    if figures["errors"]:
        print(f"  client errors: {figures['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=500)
    args = parser.parse_args()
    if args.sample * 2 > args.clients:
        parser.error("--sample must not exceed half of --clients")
    report(run(args.clients, args.sample))


if __name__ == "__main__":
    main()
