"""DRF authentication that also binds the authenticated user as the acting person.

DRF authenticates inside the view, after ``ActorMiddleware`` ran, so token clients would act
anonymously in services and events; these classes set the actor as soon as DRF knows the user
(the middleware resets the context when the request ends).
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request

from controltower.core.context import _actor


def _bind(result: tuple[Any, Any] | None) -> tuple[Any, Any] | None:
    if result is not None:
        _actor.set(result[0])
    return result


class ActorTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        return _bind(super().authenticate(request))


class ActorSessionAuthentication(SessionAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        return _bind(super().authenticate(request))


try:  # describe them in the OpenAPI schema like the classes they extend
    from drf_spectacular.authentication import SessionScheme, TokenScheme

    class ActorSessionScheme(SessionScheme):
        target_class = ActorSessionAuthentication

    class ActorTokenScheme(TokenScheme):
        target_class = ActorTokenAuthentication

except ImportError:  # pragma: no cover - drf-spectacular is a dependency
    pass
