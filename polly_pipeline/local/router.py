"""Local service layer: several services side by side on one HTTP server, routed by path.

The Polly operations and the demo LLM are mounted beside each other; neither knows the other.
"""

from __future__ import annotations

from polly_pipeline.local.http import Handler, Request, RequestBody, Responder

__all__ = ["Router"]


class Router:
    """A :data:`Handler` that passes each request to the handler mounted at its method and path.

    Args:
        not_found: answers requests nothing is mounted for.
    """

    def __init__(self, not_found: Handler) -> None:
        self._routes: dict[tuple[str, str], Handler] = {}
        self._not_found = not_found

    def __repr__(self) -> str:
        return f"<Router {sorted(self._routes)}>"

    def mount(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` (a trailing slash is ignored) with ``handler``."""
        key = (method.upper(), path.rstrip("/"))
        if key in self._routes:
            raise ValueError(f"{method} {path} is already mounted")
        self._routes[key] = handler

    async def __call__(self, request: Request, body: RequestBody, responder: Responder) -> None:
        """Serve one request."""
        key = (request.method, request.path.rstrip("/"))
        await self._routes.get(key, self._not_found)(request, body, responder)
