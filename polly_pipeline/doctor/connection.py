"""Entry-point layer: the doctor's connection checks: verified TLS, the round trip, the clock."""

from __future__ import annotations

import asyncio
import http.client
import ssl
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from polly_pipeline.doctor.check import MAX_SKEW, STEP_TIMEOUT, Check, Target, ms

__all__ = ["check_clock", "check_connection"]


def _probe(url: str, ca_file: str | None) -> tuple[float, float, str | None]:
    """Connect with verified TLS and send one unsigned request: (connect s, round trip s, Date)."""
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=ca_file)
    conn = http.client.HTTPSConnection(
        parts.hostname or "", parts.port or 443, timeout=STEP_TIMEOUT, context=context
    )
    try:
        started = time.perf_counter()
        conn.connect()
        connected = time.perf_counter()
        conn.request("GET", "/v1/voices", headers={"user-agent": "polly-pipeline-doctor"})
        response = conn.getresponse()
        response.read()
        answered = time.perf_counter()
        return connected - started, answered - connected, response.getheader("date")
    finally:
        conn.close()


async def check_connection(target: Target) -> Check:
    """TLS to the endpoint verifies, and how long a round trip takes."""
    try:
        connect, rtt, date = await asyncio.to_thread(_probe, target.endpoint_url, target.ca_file)
    except ssl.SSLCertVerificationError as exc:
        return Check(
            "tls",
            "fail",
            f"the certificate of {target.endpoint_url} does not verify ({exc.verify_message})",
            fix="trust the endpoint's CA with --ca-file (or AWS_CA_BUNDLE); TLS is never "
            "turned off",
        )
    except (OSError, http.client.HTTPException) as exc:
        return Check(
            "tls",
            "fail",
            f"cannot reach {target.endpoint_url}: {exc}",
            fix="check the region / --endpoint-url, and that this machine can reach it "
            "(proxy, firewall)",
        )
    target.facts["rtt"] = rtt
    if date:
        target.facts["server_time"] = parsedate_to_datetime(date).timestamp()
        target.facts["local_time"] = datetime.now(UTC).timestamp() - rtt / 2
    return Check(
        "tls",
        "pass",
        f"TLS verified to {urlsplit(target.endpoint_url).hostname}; connect {ms(connect)}",
        figure=f"round trip {ms(rtt)}",
    )


def check_clock(target: Target) -> Check:
    """This machine's clock against the service's ``Date`` header."""
    if "server_time" not in target.facts:
        return Check("clock", "skip", "the service sent no Date header to compare with")
    skew = target.facts["local_time"] - target.facts["server_time"]
    target.facts["skew"] = skew
    figure = f"{skew:+.0f} s"
    if abs(skew) >= MAX_SKEW:
        return Check(
            "clock",
            "fail",
            f"this machine's clock is {abs(skew):.0f} s {'ahead' if skew > 0 else 'behind'}",
            figure=figure,
            fix="set the clock (e.g. `timedatectl set-ntp true`): signatures more than 5 "
            "minutes off are refused",
        )
    return Check("clock", "pass", "within a few seconds of the service's", figure=figure)
