"""`make run` as a person uses it: it serves the login page with a worker and beat beside it, and
Ctrl-C stops every process it started within seconds."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def session_processes(session: int, *, group: int | None = None) -> dict[int, str]:
    """Every live process of the session (or of one process group in it), by pid, with its command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, _ppid, pgrp, sid = stat.rsplit(")", 1)[1].split()[:4]
        if int(sid) == session and state != "Z" and group in (None, int(pgrp)):
            found[int(entry.name)] = cmdline
    return found


def wait_for(condition, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    pytest.fail(f"{what} within {seconds} s; make run printed:\n{log.read_text()}")


def login_page_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_ctrl_c_stops_the_web_server_worker_and_beat_within_seconds(tmp_path):
    port = free_port()
    log = tmp_path / "make-run.log"
    env = {
        **os.environ,
        "DJANGO_ENV": "development",
        "DJANGO_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
    }
    env.pop("CELERY_BROKER_URL", None)  # the embedded filesystem broker, under tmp_path
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # not the variables of a `make test` around us
        env.pop(name, None)
    # The venv running this test; -o: never (re)install dependencies here.
    venv = sys.prefix
    command = ["make", "--no-print-directory", "run", f"PORT={port}", f"VENV={venv}", "-o", f"{venv}/.deps"]
    with log.open("w") as out:
        # A session of its own, like a terminal's: its process group is the one Ctrl-C signals.
        make = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/accounts/login/"
        wait_for(lambda: login_page_answers(url), 120, "the login page did not answer", log)
        wait_for(lambda: "ready." in log.read_text() and "beat: Starting" in log.read_text(), 60, "the worker and beat did not start", log)
        running = " ".join(session_processes(make.pid).values())
        assert "runserver" in running and "worker" in running
        # Ctrl-C signals the terminal's foreground group: no Celery process may be in it, for a
        # pool process signalled from outside can die holding the pool's lock and hang the worker.
        assert "celery" not in " ".join(session_processes(make.pid, group=make.pid).values())

        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        started = time.monotonic()
        while session_processes(make.pid) and time.monotonic() - started < 30:
            make.poll()
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        left = session_processes(make.pid)
        output = log.read_text()
        assert left == {}, f"still running {elapsed:.0f} s after Ctrl-C: {left}\n{output}"
        assert elapsed < 10, f"Ctrl-C took {elapsed:.1f} s to stop everything\n{output}"
        # A pool process killed from outside can leave the worker hung at exit ("beat: Shutting
        # down..." and nothing more): the worker stops its own pool.
        assert "exited with 'signal" not in output, output
    finally:
        for pid in session_processes(make.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        make.wait(10)
