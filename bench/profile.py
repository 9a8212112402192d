"""Where a forwarding server spends its time: py-spy on it under load at concurrency 32.

    python bench/profile.py                   # the gateway, 10 s under load
    python bench/profile.py --target floor    # bench/floor.py, for comparison
    python bench/profile.py --raw stacks.txt  # also keep py-spy's collapsed stacks

The same processes as bench/forward.py: the canned upstream and the load generator
on the last core, the server on core 0. While the load runs, ``py-spy record``
samples the server (on the load's core, so it does not take the server's) and the
busy samples are summed three ways:

- by package, from the innermost frame (the code that was running): uvicorn,
  starlette, aiohttp, the gateway, asyncio/uvloop, prometheus_client, ...;
- by function, self time (innermost frame);
- by function, inclusive time (anywhere on the stack), the gateway's own first.

Needs ``py-spy`` (``pip install py-spy``) and the right to trace a child process.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import forward
import loopback

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")
PACKAGES = (
    "uvicorn",
    "starlette",
    "aiohttp",
    "multidict",
    "yarl",
    "httptools",
    "uvloop",
    "prometheus_client",
    "orjson",
    "pydantic",
    "asyncio",
)


def package_of(path: str, root: str) -> str:
    """A short name for where a frame's file lives."""
    if path.startswith(root):
        rel = path[len(root) :].lstrip("/")
        return rel.split("/")[0] if "/" in rel else rel
    for name in PACKAGES:
        if f"/{name}/" in path:
            return name
    return "python" if "/lib/python3" in path else path or "?"


def parse(raw: str) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's collapsed stacks: ``outer;...;inner count`` -> [(frames, count)]."""
    stacks = []
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                frames.append((match["function"], match["file"]))
            else:
                frames.append((frame, ""))
        stacks.append((frames, int(count)))
    return stacks


def summarise(raw: str, root: str, top: int) -> str:
    stacks = parse(raw)
    total = sum(count for _, count in stacks) or 1
    by_package: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()  # the checkout's code only
    for frames, count in stacks:
        function, path = frames[-1]
        by_package[package_of(path, root)] += count
        own[f"{function} ({short(path, root)})"] += count
        mine = {f"{f} ({short(p, root)})" for f, p in frames if p.startswith(root)}
        for name in mine:
            inclusive[name] += count
    lines = [f"{total} busy samples"]
    lines.append("\nby package (innermost frame):")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in by_package.most_common(top)]
    lines.append("\nby function, self:")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines.append("\nby function, inclusive (the gateway's and the floor's own code):")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def short(path: str, root: str) -> str:
    """The file, relative to the checkout when it is the checkout's, else after site-packages."""
    if path.startswith(root):
        return path[len(root) :].lstrip("/")
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["gateway", "floor"], default="gateway")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        parser.error("py-spy is not installed: pip install py-spy")
    core = forward.load_core()
    load = argparse.Namespace(
        count=200, stream_count=10, concurrency=args.concurrency, seconds=args.seconds, rounds=1
    )
    with tempfile.TemporaryDirectory() as tmp, forward.upstream_running(core) as upstream_port:
        if args.target == "floor":
            target = forward.floor_target(upstream_port)
        else:
            target = forward.gateway_target("gateway", loopback.ROOT, Path(tmp), upstream_port)
        raw = Path(tmp) / "stacks.txt"
        with forward.started([target], loopback.GATEWAY_CORE) as processes:
            pid = processes[target.name].pid
            # Sample only the measured part: py-spy starts once the warm-up is over.
            warmup = min(1.0, args.seconds / 3)
            recorder = subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--rate", str(args.rate), "--format", "raw",
                 "--output", str(raw), "--duration", str(int(args.seconds)), "--nonblocking",
                 "--full-filenames"],
                preexec_fn=loopback.pinned(core),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                figures = loopback.measure(target.url, core, load)
                recorder.wait(timeout=args.seconds + warmup + 30)
            finally:
                if recorder.poll() is None:
                    recorder.terminate()
                    recorder.wait(timeout=10)
        text = raw.read_text() if raw.exists() else ""
        if args.raw:
            args.raw.write_text(text)
    print(
        f"{args.target} under load at c={args.concurrency} for {args.seconds:g} s: "
        f"{figures['rps']:,.0f} req/s while sampled at {args.rate}/s "
        f"(load average {os.getloadavg()[0]:.2f})"
    )
    print(summarise(text, str(loopback.ROOT), args.top))


if __name__ == "__main__":
    main()
