"""`make run`: the development web server, a Celery worker and Celery beat side by side, until
Ctrl-C (SIGINT), SIGTERM or SIGHUP stops all three within seconds.

Each runs in a process group of its own, so a Ctrl-C in the terminal reaches this launcher only.
It sends SIGTERM to each main process, never to a worker's pool processes: a pool process killed
while it holds the pool's queue lock leaves the worker hung at exit, waiting for that lock (what
`trap 'kill 0'` did, the worker stuck after "beat: Shutting down"). What still runs after
GRACE_SECONDS is killed, with its children. Runs with the standard library only:
`python config/launcher.py --host 127.0.0.1 --port 8000`.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_SECONDS = 8  # an idle worker on the filesystem broker needs 6 to 7 s for a warm shutdown
ROOT = Path(__file__).resolve().parent.parent


def commands(host: str, port: int) -> dict[str, list[str]]:
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "config"]
    return {
        "web": [python, "manage.py", "runserver", "--noreload", f"{host}:{port}"],
        "worker": [*celery, "worker", "--concurrency", "2", "--loglevel", "INFO"],
        "beat": [*celery, "beat", "--loglevel", "INFO"],
    }


def start(argv: list[str]) -> subprocess.Popen:
    # process_group=0: a group of its own, out of reach of the terminal's Ctrl-C.
    return subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, process_group=0)  # noqa: S603 (our own commands)


def stop(processes: dict[str, subprocess.Popen]) -> None:
    """SIGTERM to each main process; after GRACE_SECONDS, SIGKILL to each group that is left."""
    print("launcher: stopping the web server, worker and beat", file=sys.stderr, flush=True)
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and any(p.poll() is None for p in processes.values()):
        time.sleep(0.1)
    for name, process in processes.items():
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the group: a pool process outlives its parent
        except ProcessLookupError:
            continue
        if process.poll() is None:
            print(f"launcher: {name} did not stop within {GRACE_SECONDS} s and was killed", file=sys.stderr)
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()

    stopping = []
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda number, frame: stopping.append(number))
    processes = {}
    try:
        for name, argv in commands(args.host, args.port).items():
            if not stopping:
                processes[name] = start(argv)
        while not stopping:
            ended = [name for name, process in processes.items() if process.poll() is not None]
            if ended:
                print(f"launcher: {ended[0]} exited with {processes[ended[0]].returncode}; stopping the rest", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        stop(processes)


if __name__ == "__main__":
    sys.exit(main())
