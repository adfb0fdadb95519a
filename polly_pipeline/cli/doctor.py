"""CLI layer: ``polly-pipeline doctor``: is this machine ready for Amazon Polly?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from polly_pipeline.cli.running import Context, run_command

__all__ = ["add_doctor"]

_MARKS = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}


def add_doctor(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``doctor`` command."""
    p = sub.add_parser(
        "doctor",
        help="check credentials, region, clock, TLS, voice and a stream against Polly",
        description=(
            "Check, in order, what a first contact with Amazon Polly needs: credentials (and "
            "where they come from), region and endpoint, verified TLS and the round trip, "
            "this machine's clock, the voice, a stream's time to first audio, an idle stream "
            "kept alive, and streams per connection. Each failure names its fix; the exit "
            "status is 1 when a check fails. --backend local checks the built-in service."
        ),
    )
    p.add_argument(
        "--backend",
        choices=("aws", "local"),
        default="aws",
        help="aws (default): Amazon Polly (or --endpoint-url); local: the built-in service",
    )
    p.add_argument("--region", default=None, help="AWS region (default: from your AWS config)")
    p.add_argument("--profile", default=None, help="AWS profile to use")
    p.add_argument("--voice", default="Joanna", help="voice to try (default: Joanna)")
    p.add_argument("--endpoint-url", default=None, help="a Polly endpoint to use instead")
    p.add_argument("--ca-file", type=Path, default=None, help="extra CA bundle to trust")
    p.add_argument(
        "--idle",
        type=float,
        default=7.0,
        metavar="SECONDS",
        help="how long the keep-alive check leaves a stream idle (default: 7)",
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON (for scripts)")
    p.set_defaults(func=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace, ctx: Context) -> int:
    from polly_pipeline.doctor import Check, DoctorOptions, run_doctor  # noqa: PLC0415

    options = DoctorOptions(
        backend=args.backend,
        region=args.region,
        profile=args.profile,
        voice=args.voice,
        endpoint_url=args.endpoint_url,
        ca_file=str(args.ca_file) if args.ca_file else None,
        idle=args.idle,
    )

    def show(check: Check) -> None:
        figure = f"  [{check.figure}]" if check.figure else ""
        print(f"{_MARKS[check.status]}  {check.name:<12} {check.summary}{figure}", flush=True)
        if check.fix:
            print(f"      fix: {check.fix}", flush=True)

    async def doctor() -> int:
        checks = await run_doctor(options, report=None if args.json else show)
        if args.json:
            json.dump([c.as_dict() for c in checks], sys.stdout, indent=2)
            print()
        failed = [c for c in checks if c.status == "fail"]
        if not args.json:
            verdict = "ready" if not failed else f"{len(failed)} check(s) failed"
            print(f"\n{verdict}", flush=True)
        return 1 if failed else 0

    return run_command(doctor(), ctx.outputs)
