"""CLI layer: ``polly-pipeline local``: run the local Polly service until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from polly_pipeline._aio import task_group
from polly_pipeline.cli.options import check_listen_address
from polly_pipeline.errors import PollyPipelineError

if TYPE_CHECKING:
    from polly_pipeline.local.config import LocalServiceConfig

__all__ = ["add_local", "local_config"]


def _default_ca_file() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "polly-pipeline" / "local-ca.pem"


def add_local(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "local",
        help="run the local Polly service (offline voice; a stand-in for Amazon Polly)",
        description=(
            "Run the local Polly service: a real HTTP/2 server over TLS that speaks Amazon "
            "Polly's StartSpeechSynthesisStream protocol, SynthesizeSpeech and DescribeVoices, "
            "with an offline voice. Point any Polly client at the printed endpoint."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    p.add_argument(
        "--ca-file",
        type=Path,
        default=None,
        help=f"where to write the CA certificate clients must trust "
        f"(default: {_default_ca_file()})",
    )
    p.add_argument("--region", default=None, help="accept only requests signed for this region")
    p.add_argument(
        "--stream-regions",
        type=_regions,
        default=None,
        metavar="R1,R2",
        help="the regions that offer StartSpeechSynthesisStream; a stream signed for another "
        "region gets 404 UnknownOperationException (default: every region)",
    )
    p.add_argument(
        "--clock-offset",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="present a clock this many seconds ahead (negative: behind) of this machine's",
    )
    p.add_argument(
        "--credentials-ttl",
        type=float,
        default=None,
        metavar="SECONDS",
        help="also issue temporary credentials (with a session token) that expire after this "
        "long, rewritten to <ca-file>.credentials.json (credential_process JSON) every half TTL",
    )
    p.add_argument(
        "--reject-empty-text",
        action="store_true",
        help="answer an empty TextEvent (a keep-alive or a bare flush) with a "
        "ValidationException, as a service that requires text would (whitespace still works)",
    )
    p.add_argument(
        "--inbound-timeout",
        type=float,
        default=5.0,
        help="seconds without input before a stream is closed (Polly: 5)",
    )
    p.add_argument(
        "--max-duration",
        type=float,
        default=600.0,
        help="seconds a stream may live (Polly: 600)",
    )
    p.add_argument(
        "--max-concurrent-streams",
        type=int,
        default=100,
        help="HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection",
    )
    p.add_argument(
        "--max-streams",
        type=_positive_int,
        default=None,
        metavar="N",
        help="the account-wide limit of synthesis streams in progress at once (all "
        "connections); a stream beyond it is refused with ThrottlingException, as Amazon "
        "Polly does beyond an account's quota (default: no limit)",
    )
    p.add_argument(
        "--latency",
        choices=("none", "realistic"),
        default="none",
        help="simulate the service's latency (default: none)",
    )
    p.set_defaults(func=_cmd_local)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return number


def _regions(value: str) -> tuple[str, ...]:
    regions = tuple(r.strip() for r in value.split(",") if r.strip())
    if not regions:
        raise argparse.ArgumentTypeError("name at least one region, e.g. us-east-1,eu-west-2")
    return regions


def local_config(args: argparse.Namespace) -> LocalServiceConfig:
    """The local service's configuration from ``polly-pipeline local``'s options."""
    from polly_pipeline.local.config import LatencyModel, LocalServiceConfig  # noqa: PLC0415

    return LocalServiceConfig(
        host=args.host,
        port=args.port,
        region=args.region,
        stream_regions=args.stream_regions,
        clock_offset=args.clock_offset,
        credentials_ttl=args.credentials_ttl,
        inbound_event_timeout=args.inbound_timeout,
        max_stream_duration=args.max_duration,
        max_concurrent_streams=args.max_concurrent_streams,
        max_streams=args.max_streams,
        latency=LatencyModel.realistic() if args.latency == "realistic" else LatencyModel(),
        reject_empty_text=args.reject_empty_text,
    )


def _cmd_local(args: argparse.Namespace, ctx: object = None) -> int:
    from polly_pipeline.local.service import LocalPollyService  # noqa: PLC0415
    from polly_pipeline.local.temporary_credentials import (  # noqa: PLC0415
        keep_credentials_written,
    )

    check_listen_address(args.host, args.port)
    config = local_config(args)
    ca_file = args.ca_file or _default_ca_file()

    async def rewrite(service: LocalPollyService, path: Path, ttl: float) -> None:
        try:
            await keep_credentials_written(service.issue_credentials, path, ttl)
        except OSError as exc:  # reported; the service keeps serving (the file's set expires)
            print(f"could not rewrite {path}: {exc}", file=sys.stderr, flush=True)

    async def serve() -> None:
        async with LocalPollyService(config, ca_file=ca_file) as service, task_group() as tasks:
            creds = service.credentials
            url = service.endpoint_url
            print("Local Polly service (offline voice; a stand-in for Amazon Polly)")
            print(f"  endpoint     {url}")
            print(f"  CA file      {service.ca_file}")
            print(f"  region       {service.region}")
            print(f"  credentials  {creds.access_key} / {creds.secret_key}  (local only)")
            if config.reject_empty_text:
                print("  empty text   rejected with ValidationException (send whitespace instead)")
            if args.max_streams is not None:
                print(f"  max streams  {args.max_streams} at once (ThrottlingException beyond)")
            print("Point a client at it, e.g. from another shell:")
            print(
                f"  export AWS_ENDPOINT_URL_POLLY={url} AWS_CA_BUNDLE={service.ca_file} "
                f"AWS_REGION={service.region} AWS_DEFAULT_REGION={service.region} "
                f"AWS_ACCESS_KEY_ID={creds.access_key} "
                f"AWS_SECRET_ACCESS_KEY={creds.secret_key}"
            )
            rotating = None
            if args.credentials_ttl is not None:
                path = Path(f"{service.ca_file}.credentials.json")
                rotating = tasks.create_task(rewrite(service, path, args.credentials_ttl))
                print(f"  temporary    credentials rewritten to {path} every half TTL; use them")
                print(f"               with a profile's credential_process = cat {path}")
            print("Press Ctrl-C to stop.", flush=True)
            try:
                await _until_stopped()
            finally:
                if rotating is not None:
                    rotating.cancel()

    try:
        asyncio.run(serve())
        print("\nstopped", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
    except OSError as exc:
        raise PollyPipelineError(f"could not listen on {args.host}:{args.port}: {exc}") from exc
    return 0


async def _until_stopped() -> None:
    """Wait for Ctrl-C or SIGTERM (the service then stops and cleans up)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
