"""Forwarding benchmark: the gateway against the floor of its stack, on loopback.

    python bench/forward.py                      # floor and gateway, 5 rounds, about 2 min
    python bench/forward.py --previous 66d6b01   # also an older commit (or a checkout's path)

Processes: a minimal fast upstream (raw asyncio, canned OpenAI replies); the
servers under test, all pinned to core 0: the **floor** (bench/floor.py, a bare
Starlette + aiohttp pass-through on uvicorn, the stack the gateway runs on), the
gateway from this checkout (``python -m gateway``) and, with ``--previous``, the
gateway from another checkout; and a load generator (raw asyncio HTTP/1.1
keep-alive client in its own process, pinned to the last core with the upstream).
**direct** is the load generator talking to the upstream with no hop between.

Each round measures every target once, one after another, a different one first
each round, so the machine's noise falls on all of them alike; the table shows
medians over the rounds:

- latency p50/p99 at concurrency 1 (non-streaming chat completion);
- requests/s at concurrency 32;
- time to first body byte of a streaming chat completion, at concurrency 1.

Then the gateway against the floor, round by round (issue 21: throughput at least
95% of the floor's, p50 within 0.05 ms of it), and against direct (issue 2: added
p50 <= 0.5 ms, >= 3,000 req/s, TTFB within 1 ms). Everything stays on 127.0.0.1;
every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import loopback  # the canned upstream, the load generator, process helpers
import servers  # the apps under other ASGI servers

# -- the targets: the floor, a previous checkout, this checkout --------------------


@dataclass
class Target:
    """One server the load runs at: its command, and where it listens."""

    name: str
    port: int
    command: list[str] | None = None  # None: nothing to start (the upstream itself)
    cwd: Path | None = None
    env: dict[str, str] | None = None
    ready: str = "/healthz"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"


def gateway_target(
    name: str, checkout: Path, tmp: Path, upstream_port: int, server: str = "uvicorn"
) -> Target:
    """``python -m gateway`` from ``checkout``'s code, with its own store and secret
    (under another ``server``: bench/servers.py)."""
    port = loopback.free_port()
    home = tmp / name
    home.mkdir()
    config = home / "bench.toml"
    config.write_text(
        f'[auth]\nclient_keys = ["{loopback.CLIENT_KEY}"]\nsecret_file = "{home / "secret"}"\n'
        f'[upstreams.fast]\nbase_url = "http://127.0.0.1:{upstream_port}/v1"\n'
        f'[models.bench]\nupstream = "fast"\nupstream_model = "bench-upstream"\n'
        f'[store]\npath = "{home / "bench.db"}"\n'
    )
    if server == "uvicorn":
        command = [sys.executable, "-m", "gateway", "--config", str(config), "--port", str(port)]
    else:
        command = servers.command(server, "gateway", port, config=str(config))
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    return Target(name, port, command, cwd=checkout, env=env)


def floor_target(upstream_port: int, server: str = "uvicorn", name: str = "floor") -> Target:
    """bench/floor.py: the bare Starlette + aiohttp pass-through on the same stack."""
    port = loopback.free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    if server == "uvicorn":
        command = [
            sys.executable, str(loopback.ROOT / "bench" / "floor.py"),
            "--upstream", upstream, "--port", str(port),
        ]  # fmt: skip
    else:
        command = servers.command(server, "floor", port, upstream=upstream)
    return Target(name, port, command)


@contextlib.contextmanager
def previous_checkout(spec: str) -> Iterator[Path]:
    """A directory holding the code to compare with: ``spec`` itself, or a git ref checked
    out (detached) into a temporary worktree that is removed afterwards."""
    if Path(spec).is_dir():
        yield Path(spec).resolve()
        return
    path = Path(tempfile.mkdtemp(prefix="hitl-bench-previous-"))
    subprocess.run(
        [
            "git",
            "-C",
            str(loopback.ROOT),
            "worktree",
            "add",
            "--detach",
            "--quiet",
            str(path),
            spec,
        ],
        check=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(loopback.ROOT), "worktree", "remove", "--force", str(path)],
            check=False,
        )


@contextlib.contextmanager
def started(targets: list[Target], core: int) -> Iterator[dict[str, subprocess.Popen]]:
    """Every target's process, pinned to ``core`` and answering, until the block ends."""
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with contextlib.ExitStack() as stack:
        processes = {}
        for target in targets:
            if target.command is None:
                continue
            processes[target.name] = stack.enter_context(
                loopback.process(
                    target.command,
                    core,
                    f"http://127.0.0.1:{target.port}{target.ready}",
                    cwd=target.cwd,
                    env=target.env,
                    **quiet,
                )
            )
        yield processes


@contextlib.contextmanager
def upstream_running(core: int) -> Iterator[int]:
    port = loopback.free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with loopback.process(
        [sys.executable, loopback.__file__, "--serve-upstream", str(port)], core, None, **quiet
    ):
        loopback.wait_port(port)
        yield port


def load_core() -> int:
    cores = sorted(os.sched_getaffinity(0))
    return cores[-1] if cores[-1] != loopback.GATEWAY_CORE else cores[0]


def orchestrate(args: argparse.Namespace) -> None:
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average {load:.2f} before the run; other work skews the figures")
    other_core = load_core()
    per_round = argparse.Namespace(**{**vars(args), "rounds": 1})
    with (
        tempfile.TemporaryDirectory() as tmp,
        contextlib.ExitStack() as stack,
        upstream_running(other_core) as upstream_port,
    ):
        targets = [Target("direct", upstream_port)]
        for server in args.servers.split(","):
            suffix = "" if server == "uvicorn" else f"-{server}"
            if not args.no_floor:
                targets.append(floor_target(upstream_port, server, "floor" + suffix))
            if args.previous:
                checkout = stack.enter_context(previous_checkout(args.previous))
                targets.append(
                    gateway_target("previous" + suffix, checkout, Path(tmp), upstream_port, server)
                )
            targets.append(
                gateway_target("gateway" + suffix, loopback.ROOT, Path(tmp), upstream_port, server)
            )
        results: dict[str, list[dict]] = {t.name: [] for t in targets}
        with started(targets, loopback.GATEWAY_CORE) as processes:
            for round_ in range(args.rounds):
                # A different target goes first each round, so a slow start or a
                # burst of noise does not always fall on the same one.
                shift = round_ % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    process = processes.get(target.name)
                    pid = process.pid if process is not None else None
                    figures = loopback.measure(target.url, other_core, per_round, pid)
                    results[target.name].append(figures)
                rates = "  ".join(
                    f"{n} {r[-1]['rps']:,.0f}"
                    + (f" ({r[-1]['cpu_us']:.0f} us)" if r[-1]["cpu_us"] else "")
                    for n, r in results.items()
                )
                print(
                    f"round {round_ + 1}/{args.rounds}: req/s at c={args.concurrency} "
                    f"(server CPU per request): {rates}"
                )
    _print_table(results, args, other_core)


ROWS = [
    ("latency p50, c=1 (ms)", "p50_ms"),
    ("latency p99, c=1 (ms)", "p99_ms"),
    ("throughput, c={c} (req/s)", "rps"),
    ("server CPU per request, c={c} (us)", "cpu_us"),
    ("stream TTFB p50, c=1 (ms)", "ttfb_ms"),
]


def _median(rounds: list[dict], key: str) -> float:
    values = [r[key] for r in rounds if r[key] is not None]
    return statistics.median(values) if values else float("nan")


def _print_table(results: dict[str, list[dict]], args: argparse.Namespace, other: int) -> None:
    print(
        f"\nservers on core {loopback.GATEWAY_CORE}; upstream and load generator on core {other}; "
        f"medians of {args.rounds} interleaved rounds, each: {args.count} requests for the "
        f"latency rows, {args.seconds:g} s at c={args.concurrency}, {args.stream_count} streams"
    )
    names = list(results)
    width = max(12, *(len(name) + 2 for name in names))
    print(f"{'':34}" + "".join(f"{name:>{width}}" for name in names))
    for label, key in ROWS:
        cells = "".join(_cell(_median(results[n], key), key, width) for n in names)
        print(f"{label.format(c=args.concurrency):34}{cells}")
    print()
    for server in args.servers.split(","):
        suffix = "" if server == "uvicorn" else f"-{server}"
        floor = results.get("floor" + suffix)
        for name in ("gateway" + suffix, "previous" + suffix):
            if floor is not None and name in results:
                _against_floor(floor, results[name], name)
    if "gateway-granian" in results and "gateway" in results:
        _against_floor(results["gateway"], results["gateway-granian"], "gateway-granian", "gateway")
    gateway, direct = results.get("gateway"), results["direct"]
    if gateway is None:
        return
    added = _median(gateway, "p50_ms") - _median(direct, "p50_ms")
    ttfb = _median(gateway, "ttfb_ms") - _median(direct, "ttfb_ms")
    rps = _median(gateway, "rps")
    print(
        f"gateway against direct: p50 {added:+.3f} ms (target <= +0.5 ms: {_met(added <= 0.5)}), "
        f"{rps:,.0f} req/s (target >= 3,000: {_met(rps >= 3000)}), "
        f"TTFB {ttfb:+.3f} ms (target <= +1 ms: {_met(ttfb <= 1.0)})"
    )


def _cell(value: float, key: str, width: int) -> str:
    if value != value:  # NaN: not measured (no server process of ours)
        return f"{'-':>{width}}"
    return f"{value:{width},.0f}" if key in ("rps", "cpu_us") else f"{value:{width}.3f}"


def _against_floor(
    floor: list[dict], other: list[dict], name: str, floor_name: str = "the floor"
) -> None:
    """Throughput share and added p50, taken round by round (neighbours in time), median.

    The targets (95% of the floor's throughput, p50 within 0.05 ms) are issue 21's.
    """
    shares = [o["rps"] / f["rps"] for f, o in zip(floor, other, strict=True)]
    added = [o["p50_ms"] - f["p50_ms"] for f, o in zip(floor, other, strict=True)]
    cpu = [
        f["cpu_us"] / o["cpu_us"]
        for f, o in zip(floor, other, strict=True)
        if o["cpu_us"] and f["cpu_us"]
    ]
    share, plus = statistics.median(shares), statistics.median(added)
    rounds = ", ".join(f"{s:.0%}" for s in shares)
    if floor_name == "the floor":
        share_target = f"target >= 95%: {_met(share >= 0.95)}; "
        p50_target = f" (target <= +0.05 ms: {_met(plus <= 0.05)})"
    else:
        share_target = p50_target = ""
    print(
        f"{name} against {floor_name}: throughput {share:.1%} of its "
        f"({share_target}per round {rounds}); p50 {plus:+.3f} ms{p50_target}"
    )
    if cpu:
        print(
            f"  CPU per request: {floor_name}'s is {statistics.median(cpu):.1%} of {name}'s "
            "(the throughput share on a core nothing else uses)"
        )


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="requests per latency run")
    parser.add_argument("--stream-count", type=int, default=500, help="streams for TTFB")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a throughput run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians shown)")
    parser.add_argument(
        "--previous",
        metavar="PATH_OR_REF",
        help="also measure another checkout: a directory, or a git ref (checked out for the run)",
    )
    parser.add_argument("--no-floor", action="store_true", help="leave out the floor")
    parser.add_argument(
        "--servers",
        default="uvicorn",
        help="ASGI servers to run the floor and the gateway under, comma-separated: "
        "uvicorn (the gateway's own), granian (bench/servers.py)",
    )
    orchestrate(parser.parse_args())


if __name__ == "__main__":
    main()
