"""A bounded load test of the served app: N concurrent gradio_client users on loopback.

    python benchmarks/load.py                                      # 16 clients, 60 s, all endpoints
    python benchmarks/load.py --clients 16 --seconds 60 --endpoints render --json
    python benchmarks/load.py --url http://127.0.0.1:7860/         # an app that is already running

The app runs as its own process (`python app.py` on a free port, in its own process group, stopped
when the test ends), so the server's threads do not share a GIL with the load generator's. Each
client is a thread with its own `gradio_client.Client` (its own session) calling one endpoint in a
loop, with no pause, until `--seconds` have passed; client i calls endpoint i mod len(--endpoints):
  * render     /render, the scenes of app.EXAMPLES in turn (64 px, both views), masks, depth and boxes off;
  * sample     /generate, 4 samples of the shipped GAN (the cheapest family);
  * inference  /read_scene of an uploaded 64 px shapes2d PNG (8 scenes of seed 1000), 0 refinement steps.
The clients share their inputs (the k-th call of every client sends the same scene, seed or
picture), as a class pressing the same buttons with the defaults does, so the server often makes
the same output file for several users at once. Every endpoint is called once before the clock
starts (model loading and numba compilation are first-call costs; they are reported as
`first_call_ms`). A call is an error if it raises or its status line starts with "⚠️". Latencies
are those of every call, failed ones included, as the client sees them (the output images are
downloaded, as a browser would; gradio_client looks for the server's messages every 50 ms, so a
latency holds up to 50 ms of the client's own waiting). Calls that started before the deadline are
waited for; throughput is calls / (deadline - start). The CPU the server and the load generator
used (in cores) is printed too: on a small machine they compete for the same cores.
Target (16 clients): no errors, and render p95 <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import answers, free_port, server_env, stop  # noqa: E402  (the same server plumbing)

ENDPOINTS = ("render", "sample", "inference")
MAX_CLIENTS, MAX_SECONDS = 64, 600
TARGET_RENDER_P95_MS = 1000.0
INFERENCE_WORLD, PICTURE_SEED = "shapes2d", 1000  # the encoders train on seed 0
START_TIMEOUT_S = 180.0


# --- the server --------------------------------------------------------------------------


def start_server(log) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free port in its own process group; returns it once /config answers."""
    port = free_port()
    env = server_env(port)
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url, start = f"http://127.0.0.1:{port}/", time.perf_counter()
    while not answers(url + "config"):
        if process.poll() is not None or time.perf_counter() - start > START_TIMEOUT_S:
            stop(process)
            log.seek(0)
            raise RuntimeError(
                f"python app.py did not start; its output ends:\n{log.read().decode(errors='replace')[-2000:]}"
            )
        time.sleep(0.1)
    return process, url


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process `pid` (Linux /proc), or of this process when None."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


# --- the calls ---------------------------------------------------------------------------


def make_calls(workdir: Path) -> dict:
    """endpoint -> function(client, k) that makes the k-th call of a client and returns its status line."""
    from gradio_client import handle_file
    from PIL import Image

    import app
    from worlds import get_world, render, sample_scenes

    scenes = list(app.EXAMPLES.values())
    pictures = []
    world = get_world(INFERENCE_WORLD)
    for i, image in enumerate(render(sample_scenes(world, PICTURE_SEED, 8))):
        pictures.append(workdir / f"scene-{i}.png")
        Image.fromarray(image).save(pictures[-1])

    def render_call(client, k):
        return client.predict(scenes[k % len(scenes)], 64, False, False, False, api_name="/render")[-1]

    def sample_call(client, k):
        return client.predict("gan", 4, k, "cube", "red", "", 100, 1.0, api_name="/generate")[-1]

    def inference_call(client, k):
        return client.predict(
            INFERENCE_WORLD, "upload", handle_file(str(pictures[k % len(pictures)])), None, 0, api_name="/read_scene"
        )[-1]

    return {"render": render_call, "sample": sample_call, "inference": inference_call}


def connect(url: str, downloads: Path):
    """A Client of its own session. gradio_client opens an httpx client per request, and with
    certificate checks on each one loads the CA bundle (~27 ms of CPU): on a plain-http loopback
    there is no TLS to check, and that cost would be the load generator's, not the server's."""
    from gradio_client import Client

    return Client(
        url,
        verbose=False,
        download_files=str(downloads),
        analytics_enabled=False,
        ssl_verify=not url.startswith("http://"),
    )


def client_loop(
    url: str, endpoint: str, call, downloads: Path, ready: threading.Barrier, deadline: list, records: list
) -> None:
    """One user: its own Client, calling `endpoint` back to back until the deadline."""
    try:
        client = connect(url, downloads)
    except Exception:
        ready.abort()  # the main thread's wait fails instead of hanging
        raise
    ready.wait()
    k = 0
    while time.perf_counter() < deadline[0]:
        start = time.perf_counter()
        try:
            status = call(client, k)
            error = None if not (isinstance(status, str) and status.startswith("⚠️")) else status
        except Exception as err:  # a failed call is a result, not a crash
            error = f"{type(err).__name__}: {err}"
        records.append((endpoint, 1000 * (time.perf_counter() - start), error))
        k += 1
    client.close()


def summary(latencies: list[float], errors: int, seconds: float) -> dict:
    ms = np.asarray(latencies)
    return {
        "calls": len(ms),
        "errors": errors,
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
        "p95_ms": float(np.percentile(ms, 95)) if len(ms) else None,
        "max_ms": float(ms.max()) if len(ms) else None,
        "calls_per_second": len(ms) / seconds,
    }


def warm_up(url: str, calls: dict, endpoints: list[str], downloads: Path) -> dict:
    """Call each endpoint once (loading models, compiling numba); returns endpoint -> milliseconds."""
    client, first = connect(url, downloads), {}
    for name in endpoints:
        start = time.perf_counter()
        status = calls[name](client, 0)
        first[name] = 1000 * (time.perf_counter() - start)
        if isinstance(status, str) and status.startswith("⚠️"):
            raise RuntimeError(f"{name}: the warm-up call failed: {status}")
    client.close()
    return first


def run_load(url: str, server_pid: int | None, clients: int, seconds: float, endpoints: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="toyworld-load-") as tmp:
        work = Path(tmp)
        # gradio_client downloads each output file into a new folder of the temp directory and leaves
        # the folder behind (with a 0-byte file when the download fails): keep them inside ours
        previous_tempdir, tempfile.tempdir = tempfile.tempdir, tmp
        try:
            calls = make_calls(work)
            first = warm_up(url, calls, endpoints, work / "downloads")
            records: list = []  # (endpoint, latency ms, error or None); list.append is atomic
            deadline = [float("inf")]  # set once every client is connected
            ready = threading.Barrier(clients + 1)
            assigned = [endpoints[i % len(endpoints)] for i in range(clients)]
            threads = [
                threading.Thread(
                    target=client_loop,
                    daemon=True,
                    args=(url, name, calls[name], work / "downloads", ready, deadline, records),
                )
                for name in assigned
            ]
            for t in threads:
                t.start()
            ready.wait()
            cpu_server, cpu_self, start = cpu_seconds(server_pid), cpu_seconds(None), time.perf_counter()
            deadline[0] = start + seconds
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            cpu_server, cpu_self = cpu_seconds(server_pid) - cpu_server, cpu_seconds(None) - cpu_self
        finally:
            tempfile.tempdir = previous_tempdir

    result = {}
    for name in endpoints:
        mine = [r for r in records if r[0] == name]
        result[name] = {
            "clients": assigned.count(name),
            **summary([r[1] for r in mine], sum(r[2] is not None for r in mine), seconds),
            "first_call_ms": first[name],
            "error_examples": sorted({r[2][:200] for r in mine if r[2] is not None})[:3],
        }
    result.update(
        {
            "clients": clients,
            "seconds": seconds,
            "elapsed_seconds": elapsed,
            "server_cpu_cores": cpu_server / elapsed if server_pid else None,
            "load_generator_cpu_cores": cpu_self / elapsed,
            "cpu_count": os.cpu_count(),
            "target_render_p95_ms": TARGET_RENDER_P95_MS,
        }
    )
    errors = sum(result[name]["errors"] for name in endpoints)
    render_ok = "render" not in result or (result["render"]["p95_ms"] or float("inf")) <= TARGET_RENDER_P95_MS
    result["meets_target"] = errors == 0 and render_ok
    return result


def print_result(r: dict, endpoints: list[str]) -> None:
    print(f"\n== {r['clients']} clients for {r['seconds']:g} s (all calls done after {r['elapsed_seconds']:.1f} s)")
    print(
        f"{'endpoint':<10} {'clients':>7} {'calls':>6} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
        f"{'calls/s':>8} {'1st ms':>8}"
    )
    for name in endpoints:
        e = r[name]
        fmt = lambda v: f"{v:8.0f}" if v is not None else f"{'-':>8}"  # noqa: E731
        print(
            f"{name:<10} {e['clients']:>7} {e['calls']:>6} {e['errors']:>6} {fmt(e['p50_ms'])} {fmt(e['p95_ms'])} "
            f"{fmt(e['max_ms'])} {e['calls_per_second']:8.2f} {fmt(e['first_call_ms'])}"
        )
        for example in e["error_examples"]:
            print(f"{'':<10} error: {example}")
    server = f"{r['server_cpu_cores']:.2f}" if r["server_cpu_cores"] is not None else "?"
    print(f"CPU used (cores of {r['cpu_count']}): server {server}, load generator {r['load_generator_cpu_cores']:.2f}")
    render = f", render p95 <= {r['target_render_p95_ms']:.0f} ms" if "render" in endpoints else ""
    print(f"target (no errors{render}): {'met' if r['meets_target'] else 'MISSED'}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16, help=f"concurrent users (1..{MAX_CLIENTS})")
    parser.add_argument("--seconds", type=float, default=60.0, help=f"how long they call (1..{MAX_SECONDS})")
    parser.add_argument(
        "--endpoints",
        nargs="+",
        choices=ENDPOINTS,
        default=list(ENDPOINTS),
        help="client i calls endpoint i mod len(endpoints)",
    )
    parser.add_argument("--url", default=None, help="test this running app instead of starting python app.py")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be in 1..{MAX_CLIENTS}")
    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in 1..{MAX_SECONDS}")
    endpoints = list(dict.fromkeys(args.endpoints))

    if args.url:
        result = run_load(args.url, None, args.clients, args.seconds, endpoints)
    else:
        with tempfile.TemporaryFile() as log:
            server, url = start_server(log)
            try:
                result = run_load(url, server.pid, args.clients, args.seconds, endpoints)
            finally:
                stop(server)
    print_result(result, endpoints)
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
