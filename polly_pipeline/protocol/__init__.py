"""Protocol layer (sans-IO): event-stream codec, SigV4 and event signing, typed events.

Nothing here imports asyncio, awscrt or sockets: bytes in, events out.
"""
