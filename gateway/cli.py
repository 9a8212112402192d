"""The data commands: ``hitl-gateway export | report | purge``.

Each reads the store the config names, whether or not a gateway is running on
it, and reports what it did on stderr; the data goes to ``--out``/stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from gateway.config.errors import ConfigError
from gateway.config.loading import load_config
from gateway.config.root import Config
from gateway.export.calibration import table
from gateway.export.chart import calibration_svg
from gateway.export.datasets import CONTENT_SHAPES, FORMATS
from gateway.export.images import ImageFiles
from gateway.export.options import FILTERS, OptionError, export_query, parse_time, task_filter
from gateway.export.redact import LineFinisher
from gateway.export.report import agreement_table, calibrations, describe, purge
from gateway.export.stream import OUTCOMES, ExportStats, export_lines
from gateway.human.agreement import AGREEMENT_DAYS, grade_agreement
from gateway.human.store import Store
from gateway.store.backends import store_for

COMMANDS = ("export", "report", "purge")


def _store(config: Config) -> Store:
    return store_for(config.store)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hitl-gateway", description="Data from the task store.")
    commands = root.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument(
            "--config",
            default=os.environ.get("GATEWAY_CONFIG") or None,
            help="TOML config file naming the store (default: $GATEWAY_CONFIG, else built-in)",
        )
        return sub

    def filters(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--since", help="finished at or after (ISO 8601 or Unix seconds)")
        sub.add_argument("--until", help="finished before (ISO 8601 or Unix seconds)")
        sub.add_argument("--model", help="only this model")
        sub.add_argument("--session", help="only this session")
        sub.add_argument("--reason", help="only tasks escalated for this reason (e.g. audit)")
        sub.add_argument("--reviewer", help="only tasks this reviewer answered or rejected")

    export = command("export", "Write answered tasks as JSON lines.")
    export.add_argument("--format", choices=FORMATS, default="sft")
    export.add_argument("--out", help="file to write (default: stdout)")
    export.add_argument("--images", help="write each image once into DIR; lines link to it")
    export.add_argument("--outcome", choices=OUTCOMES, help="only tasks with this outcome")
    export.add_argument(
        "--content",
        choices=CONTENT_SHAPES,
        default="strings",
        help="strings: text as strings, parts only where an image is (OpenAI); "
        "parts: every message's content as a list of parts (Hugging Face vision)",
    )
    filters(export)

    report = command("report", "Calibration of hybrid models against reviewers' verdicts.")
    filters(report)
    target = report.add_mutually_exclusive_group()
    target.add_argument("--target-escalation", type=float, metavar="RATE")
    target.add_argument("--target-error", type=float, metavar="RATE")
    report.add_argument("--svg", help="write the chart to this file")

    purger = command("purge", "Delete finished tasks (and their images) finished before DATE.")
    purger.add_argument("--before", required=True, help="ISO 8601 date/time or Unix seconds")
    return root


async def _export(args: argparse.Namespace, config: Config) -> str:
    params = {key: getattr(args, key, None) for key in (*FILTERS, "format", "content")}
    query = export_query(params)
    out_dir = Path(args.out).resolve().parent if args.out else Path.cwd()
    images = ImageFiles(args.images, out_dir) if args.images else None
    finish = LineFinisher(config.export.redact, images)
    stats = ExportStats()
    store = _store(config)
    await store.open()
    target = open(args.out, "wb") if args.out else sys.stdout.buffer  # noqa: SIM115
    try:
        async for line in export_lines(store, query, finish, stats, local_images=bool(images)):
            target.write(line)
    finally:
        if args.out:
            target.close()
        else:
            target.flush()
        await store.close()
    said = f"exported {stats.lines} {query.kind} lines to {args.out or 'stdout'}"
    if images is not None:
        said += f"; {images.written} new image files in {args.images}"
    if finish.redactions:
        said += f"; {finish.redactions} redactions"
    if stats.skipped:
        reasons = "; ".join(f"{count} x {why}" for why, count in stats.skipped.most_common(5))
        said += f"; left out {sum(stats.skipped.values())} tasks ({reasons})"
    return said


async def _report(args: argparse.Namespace, config: Config) -> str:
    for name in ("target_escalation", "target_error"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 1:
            raise OptionError(name, f"--{name.replace('_', '-')} must be between 0 and 1")
    store = _store(config)
    await store.open()
    try:
        reports = await calibrations(
            store,
            config,
            task_filter(vars(args)),
            target_escalation=args.target_escalation,
            target_error=args.target_error,
        )
        since = task_filter(vars(args)).since or time.time() - AGREEMENT_DAYS * 86_400
        agreement = grade_agreement(await store.grades_since(since), config.rubrics)
    finally:
        await store.close()
    print("\n\n".join(table(report) for report in reports) or "no hybrid models", flush=True)
    if agreement:
        print("\n" + agreement_table(agreement), flush=True)
    if args.svg:
        Path(args.svg).write_text(calibration_svg(reports), encoding="utf-8")
        return f"wrote the chart to {args.svg}"
    return f"{len(reports)} models"


async def _purge(args: argparse.Namespace, config: Config) -> str:
    before = parse_time(args.before, "before")
    store = _store(config)
    await store.open()
    try:
        return describe(await purge(store, before))
    finally:
        await store.close()


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    try:
        config = load_config(args.config)
        run = {"export": _export, "report": _report, "purge": _purge}[args.command]
        said = asyncio.run(run(args, config))
    except ConfigError as error:
        print(f"hitl-gateway: {error.line(args.config)}", file=sys.stderr)
        raise SystemExit(2) from None
    except OptionError as error:
        print(f"hitl-gateway {args.command}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"hitl-gateway {args.command}: {said}", file=sys.stderr)
