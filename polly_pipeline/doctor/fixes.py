"""Entry-point layer: what to change for an error the service answered, in one sentence."""

from __future__ import annotations

from polly_pipeline.doctor.check import STREAM_REGIONS
from polly_pipeline.errors import ServiceException

__all__ = ["auth_fix", "stream_fix"]


def auth_fix(code: str, message: str) -> str:
    """What to change for an authentication error the service answered."""
    if code == "UnrecognizedClientException" or "security token" in message.lower():
        return (
            "the service does not know this access key id: check AWS_ACCESS_KEY_ID or the "
            "profile's aws_access_key_id (and the session token for temporary credentials)"
        )
    if "expired" in message.lower() or "not yet current" in message.lower():
        return "set this machine's clock (e.g. `timedatectl set-ntp true`)"
    return (
        "the secret access key does not match the key id: check AWS_SECRET_ACCESS_KEY or "
        "the profile's aws_secret_access_key"
    )


def stream_fix(exc: BaseException, region: str) -> str:
    """What to change when the stream could not be opened."""
    text = str(exc)
    if isinstance(exc, ServiceException) and (
        exc.status == 404 or "UnknownOperation" in text or "UnknownOperation" in exc.error_code
    ):
        elsewhere = ", ".join(r for r in STREAM_REGIONS if r != region)
        return (
            f"{region} does not offer bidirectional streaming (StartSpeechSynthesisStream); "
            f"these do: {elsewhere}; pass --region"
        )
    if isinstance(exc, ServiceException) and exc.status in (401, 403):
        return auth_fix(exc.error_code, text)
    return "see the error above; run with -v for the request details"
