"""The security headers Django's SecurityMiddleware and XFrameOptionsMiddleware add, for the
lean routes that answer past the middleware (the webhook receiver, the availability read)."""

from __future__ import annotations

from django.conf import settings

_SECURITY_HEADERS: list[tuple[str, str]] | None = None


def security_headers() -> list[tuple[str, str]]:
    """What SecurityMiddleware and XFrameOptionsMiddleware add to a JSON answer: an answer
    carries them whichever entrance served it (read once per process)."""
    global _SECURITY_HEADERS
    if _SECURITY_HEADERS is None:
        headers = []
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            headers.append(("X-Content-Type-Options", "nosniff"))
        if settings.SECURE_REFERRER_POLICY:
            policy = settings.SECURE_REFERRER_POLICY
            if not isinstance(policy, str):
                policy = ",".join(policy)
            headers.append(("Referrer-Policy", policy))
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            headers.append(
                ("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY)
            )
        headers.append(("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()))
        _SECURITY_HEADERS = headers
    return _SECURITY_HEADERS
