"""``make demo`` on the embedded engines: it starts, orders flow to the ERP, Ctrl-C stops it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_on_embedded_engines_and_stops_cleanly(tmp_path: Path) -> None:
    # given: no external servers configured, a fresh data folder
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(CT_DATA_DIR=str(tmp_path / "var"), CT_DEMO_PORT="0", CT_DEMO_RATE="3")
    from controltower.engines import free_port

    env["CT_DEMO_PORT"] = str(free_port())
    # when
    proc = subprocess.Popen(
        [sys.executable, "-m", "controltower.demo.run", "--status-every", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    posted = 0
    deadline = time.monotonic() + 150
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            match = re.search(r"(\d+) posted", line)
            if match and int(match.group(1)) >= 3:
                posted = int(match.group(1))
                break
            if time.monotonic() > deadline:
                break
        # then: orders went the whole way (paid, registered, shipped, invoiced, posted to the
        # ledger); the URL and every role's login were printed
        output = "".join(lines)
        assert posted >= 3, output
        assert f"http://127.0.0.1:{env['CT_DEMO_PORT']}/" in output
        for username in ("ops", "finance", "exec", "admin"):
            assert f"log in as {username}" in output
        # when: Ctrl-C
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # then: it stops cleanly and leaves no process behind
    assert proc.returncode == 0, rest
    assert "[demo] stopped" in rest
    time.sleep(0.5)
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(attrs=["cmdline"])
        if p.info["cmdline"] and any(str(tmp_path) in part for part in p.info["cmdline"])
    ]
    assert leftovers == []
