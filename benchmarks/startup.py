"""How long the app takes to start, as a user meets it: from `python app.py` to a page that answers.

    python benchmarks/startup.py                  # 3 runs, a table
    python benchmarks/startup.py --json           # ... and one JSON object on the last line
    python benchmarks/startup.py --runs 5

Each run starts `python app.py` in a fresh process group on a free port and polls
http://127.0.0.1:PORT/ (the page) and /config (the Gradio config the page loads before it shows
anything) until both answer HTTP 200; the time from process start to then is the start-up time.
The whole process group is then terminated (SIGTERM, SIGKILL after a grace period), so no server
outlives its run. To show where the time goes, two more commands are timed from start until
their code has run (interpreter shut-down not counted): `python -c "import app"` (the imports plus
build_demo(), which renders the first scene and imports torch for the model tabs) and
`python -c "import gradio"` (what any Gradio app pays). Each figure reported is the median of the
runs; the target for start-up is 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 15.0
POLL_S = 0.05  # seconds between polls of the page
GRACE_S = 10.0  # seconds a server gets to exit after SIGTERM before SIGKILL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    """Whether `url` answers HTTP 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            response.read()
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def stop(process: subprocess.Popen) -> None:
    """Terminate the process group of `process` (its own session), then kill it if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, GRACE_S)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue


def server_env(port: int) -> dict:
    return {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }


def launch_seconds(timeout: float) -> dict:
    """Seconds from starting `python app.py` until / and then /config answer 200."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=server_env(port),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            page = config = None
            while config is None:
                elapsed = time.perf_counter() - start
                if process.poll() is not None or elapsed > timeout:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    why = (
                        f"exited with {process.returncode}"
                        if process.returncode is not None
                        else f"did not answer within {timeout:g} s"
                    )
                    raise RuntimeError(f"python app.py {why}; its output ends:\n{tail}")
                if page is None and answers(base + "/"):
                    page = time.perf_counter() - start
                if page is not None and answers(base + "/config"):
                    config = time.perf_counter() - start
                else:
                    time.sleep(POLL_S)
        finally:
            stop(process)
    return {"page_seconds": page, "config_seconds": config}


def command_seconds(code: str, timeout: float) -> float:
    """Seconds from starting `python -c code` (run from the repository root) until `code` has run:
    the child prints the wall-clock time when it is done, so interpreter shut-down is not counted."""
    start = time.time()
    process = subprocess.Popen(
        [sys.executable, "-c", f"{code}; import time; print(time.time())"],
        cwd=ROOT,
        env=server_env(free_port()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        raise RuntimeError(f"python -c {code!r} took longer than {timeout:g} s") from None
    if process.returncode:
        raise RuntimeError(f"python -c {code!r} failed:\n{err.decode(errors='replace')[-2000:]}")
    return float(out.split()[-1]) - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="launches to time (1..20)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one launch")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be in 1..20")

    runs, imports, gradio_only = [], [], []
    print(f"{'run':>4} {'page /':>9} {'/config':>9} {'import app':>11} {'import gradio':>14}   (seconds)")
    for k in range(args.runs):
        runs.append(launch_seconds(args.timeout))
        imports.append(command_seconds("import app", args.timeout))
        gradio_only.append(command_seconds("import gradio", args.timeout))
        print(
            f"{k + 1:>4} {runs[-1]['page_seconds']:9.2f} {runs[-1]['config_seconds']:9.2f} "
            f"{imports[-1]:11.2f} {gradio_only[-1]:14.2f}"
        )
    startup = statistics.median(r["config_seconds"] for r in runs)
    result = {
        "startup_seconds": startup,
        "runs": runs,
        "target_seconds": TARGET_SECONDS,
        "meets_target": startup <= TARGET_SECONDS,
        "import_app_seconds": statistics.median(imports),
        "import_app_runs": imports,
        "import_gradio_seconds": statistics.median(gradio_only),
        "import_gradio_runs": gradio_only,
    }
    print(
        f"{'med':>4} {statistics.median(r['page_seconds'] for r in runs):9.2f} {startup:9.2f} "
        f"{result['import_app_seconds']:11.2f} {result['import_gradio_seconds']:14.2f}"
    )
    print(
        f"start-up (page and /config answering): {startup:.2f} s, target {TARGET_SECONDS:g} s: "
        f"{'met' if result['meets_target'] else 'MISSED'}; import + build_demo() is "
        f"{result['import_app_seconds']:.2f} s of it, of which importing gradio {result['import_gradio_seconds']:.2f} s"
    )
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
