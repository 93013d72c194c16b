"""The web tier's processes, one definition for production docs, the demo and the tests.

``front`` (``controltower/front.py``: reads every request completely, with timeouts, before a
worker sees it) listens on the public port; behind it ``gunicorn`` (sync WSGI workers: pages,
API, webhooks through the lean receive path) and ``daphne`` (ASGI: websockets only, tunnelled by
the front). ``docs/deploy.md`` shows the same three under systemd.
"""

from __future__ import annotations

import os


def web_processes(
    python: str,
    *,
    port: int,
    gunicorn_port: int,
    daphne_port: int,
    host: str = "127.0.0.1",
    workers: int | None = None,
) -> dict[str, list[str]]:
    """Argument vectors of the three web processes, by name, in start order."""
    workers = workers or int(os.environ.get("CT_WEB_WORKERS", "4"))
    return {
        "gunicorn": [
            python,
            "-m",
            "gunicorn",
            "controltower.wsgi:application",
            "--worker-class",
            "sync",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{gunicorn_port}",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        "daphne": [
            python,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(daphne_port),
            "controltower.asgi:application",
        ],
        "front": [
            python,
            "-m",
            "controltower.front",
            "--listen",
            f"{host}:{port}",
            "--upstream",
            f"127.0.0.1:{gunicorn_port}",
            "--ws-upstream",
            f"127.0.0.1:{daphne_port}",
        ],
    }
