from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from controltower.core.context import _actor, _correlation_id


class ActorMiddleware:
    """Bind the authenticated user and the request's correlation id to the context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        actor_token = _actor.set(user if user is not None and user.is_authenticated else None)
        corr_token = _correlation_id.set(request.headers.get("X-Correlation-ID") or None)
        try:
            return self.get_response(request)
        finally:
            _correlation_id.reset(corr_token)
            _actor.reset(actor_token)
