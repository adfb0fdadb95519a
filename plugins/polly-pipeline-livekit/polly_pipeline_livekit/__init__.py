"""polly-pipeline for LiveKit Agents: Polly's bidirectional stream as a streaming ``tts.TTS``.

::

    from polly_pipeline_livekit import TTS

    session = AgentSession(llm=..., stt=..., tts=TTS(voice="Joanna"))
"""

from polly_pipeline_livekit.errors import to_api_error
from polly_pipeline_livekit.stream import SynthesizeStream
from polly_pipeline_livekit.tts import TTS

__all__ = ["TTS", "SynthesizeStream", "to_api_error"]
