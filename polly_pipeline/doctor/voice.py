"""Entry-point layer: the doctor's voice check, a signed DescribeVoices."""

from __future__ import annotations

import asyncio
from typing import Any

from polly_pipeline.doctor.check import STEP_TIMEOUT, Check, Target
from polly_pipeline.doctor.fixes import auth_fix

__all__ = ["check_voice"]


def _describe_voices(target: Target) -> list[dict[str, Any]]:
    import botocore.config  # noqa: PLC0415  (slow to import)
    import botocore.session  # noqa: PLC0415

    creds = target.credentials
    polly = botocore.session.get_session().create_client(
        "polly",
        region_name=target.region,
        endpoint_url=target.endpoint_url,
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.session_token,
        verify=target.ca_file or True,
        config=botocore.config.Config(
            connect_timeout=STEP_TIMEOUT, read_timeout=STEP_TIMEOUT, retries={"max_attempts": 1}
        ),
    )
    voices: list[dict[str, Any]] = polly.describe_voices()["Voices"]
    return voices


async def check_voice(target: Target) -> Check:
    """The voice exists and speaks with the generative engine (a signed DescribeVoices)."""
    import botocore.exceptions  # noqa: PLC0415

    try:
        voices = await asyncio.to_thread(_describe_voices, target)
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        return Check(
            "signature",
            "fail",
            f"DescribeVoices refused: {code}: {message}",
            fix=auth_fix(code, message),
        )
    except botocore.exceptions.BotoCoreError as exc:
        return Check("signature", "fail", f"DescribeVoices failed: {exc}", fix=str(exc))
    by_id = {v["Id"]: v for v in voices}
    voice = by_id.get(target.voice)
    generative = [v for v in voices if "generative" in v.get("SupportedEngines", ())]
    if voice is None:
        some = ", ".join(sorted(v["Id"] for v in generative)[:8])
        return Check(
            "voice",
            "fail",
            f"no voice {target.voice!r} in {target.region}",
            fix=f"choose a voice with --voice; generative voices here include {some}",
        )
    if "generative" not in voice.get("SupportedEngines", ()):
        same = sorted(v["Id"] for v in generative if v["LanguageCode"] == voice["LanguageCode"])
        others = ", ".join(same) if same else "none in this language"
        return Check(
            "voice",
            "fail",
            f"{target.voice} ({voice['LanguageCode']}) has no generative engine, which the "
            "bidirectional stream needs",
            fix=f"use a generative {voice['LanguageCode']} voice: {others}",
        )
    return Check(
        "voice",
        "pass",
        f"{target.voice} ({voice['LanguageCode']}) speaks with the generative engine; "
        f"signature accepted",
        figure=f"{len(generative)} generative voices",
    )
