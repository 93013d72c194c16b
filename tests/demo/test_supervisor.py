"""The demo's supervisor restarts a child that dies, with backoff, instead of stopping the demo."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controltower.demo.run import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def restarted_within(sup: Supervisor, name: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name in sup.watch():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    sup = Supervisor(tmp_path, dict(os.environ), backoff_base_s=0.2, backoff_cap_s=1.0)
    yield sup
    sup.stop()


def test_supervisor_restarts_a_killed_child_and_says_so(
    supervisor: Supervisor, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: two children running
    worker = supervisor.start("worker", SLEEPER)
    web = supervisor.start("web", SLEEPER)
    # when: the worker is SIGKILLed, as the OOM killer would
    os.kill(worker.pid, signal.SIGKILL)
    # then: it comes back as a new process; the other child is untouched; the console says why
    assert restarted_within(supervisor, "worker", timeout=5)
    child = next(c for c in supervisor.children if c.name == "worker")
    assert child.proc.pid != worker.pid
    assert child.proc.poll() is None
    assert supervisor.restarts() == {"worker": 1, "web": 0}
    assert web.poll() is None
    out = capsys.readouterr().out
    assert f"worker (pid {worker.pid}) exited with code -9" in out
    assert "restarting it in 0.2 s" in out
    assert f"restarted worker (pid {child.proc.pid}, restart 1)" in out
    assert supervisor.dead() == []


def test_supervisor_backs_off_when_a_child_keeps_crashing(
    supervisor: Supervisor, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: a child that exits at once, every time
    supervisor.start("beat", [sys.executable, "-c", "raise SystemExit(3)"])
    # when: it is restarted three times
    for _ in range(3):
        assert restarted_within(supervisor, "beat", timeout=5)
    # then: each wait doubled (0.2, 0.4, 0.8 s), the demo kept going, and the count is kept
    out = capsys.readouterr().out
    waits = [
        line.split("restarting it in ")[1].split(" s")[0]
        for line in out.splitlines()
        if "restarting it in" in line
    ]
    assert waits[:3] == ["0.2", "0.4", "0.8"]
    assert "exited with code 3" in out
    assert supervisor.restarts() == {"beat": 3}


def test_supervisor_stop_leaves_no_child_behind(supervisor: Supervisor) -> None:
    # given: a child restarted once
    first = supervisor.start("worker", SLEEPER)
    os.kill(first.pid, signal.SIGKILL)
    assert restarted_within(supervisor, "worker", timeout=5)
    second = supervisor.children[0].proc
    # when
    supervisor.stop()
    # then: the restarted process is stopped too, and nothing is supervised any more
    assert second.poll() is not None
    assert supervisor.children == []
    assert supervisor.watch() == []
