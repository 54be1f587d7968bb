#!/usr/bin/env python3
"""Runs the benchmark: the same workloads against systems A, B and C, each on fresh processes.

Called by bench/run.sh (which builds the binaries first); stdlib only. Every process it starts
binds 127.0.0.1 and is stopped at the end of its run, pass or fail (also on Ctrl-C / SIGTERM).

Systems:  A  ds-subgraph with its defaults
          B  ds-subgraph as a one-request-per-dossier client (DS_MAX_BATCH_SIZE=1, DS_CACHE_TTL=0)
          C  Hive Gateway serving a GraphQL Mesh supergraph of the DS mock (bench/mesh/)
          D  no layer: the loadgen queries the DS mock itself (baseline of the paced workload)
Workloads: single (1 dossier per query), batch (20 per query), entities (_entities of 50; A, B),
          each from a closed loop of clients; paced: single at a fixed offered rate (latency
          below saturation; unlimited pass only).
Passes:   limited (the mock enforces DS's 400 requests/min per token), unlimited.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MESH = os.path.join(HERE, "mesh")
TOKEN = "bench-token"
SHARED_SECRET = "bench-shared-secret-0123456789"
FIRST = 3000001
# name -> (loadgen workload, offered queries/s or 0 for a closed loop)
WORKLOADS = {"single": ("single", 0), "batch": ("batch", 0), "entities": ("entities", 0),
             "paced": ("single", 0)}
PASSES = {"limited": 400, "unlimited": 0}


class Proc:
    """A child process with its output in a log file, stopped by `stop()` (SIGTERM, then KILL)."""

    live = []

    def __init__(self, name, argv, logdir, env=None, cwd=None):
        self.name = name
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  env={**os.environ, **(env or {})}, cwd=cwd,
                                  start_new_session=True)
        Proc.live.append(self)

    def wait_line(self, pattern, timeout=60):
        """Waits for an output line matching `pattern`; returns its first group."""
        regex = re.compile(pattern)
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path) as f:
                for line in f:
                    m = regex.search(line)
                    if m:
                        return m.group(1)
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start: see {self.log_path}")

    def peak_rss_kb(self):
        """VmHWM of the process and its descendants (a worker a gateway might fork)."""
        total, todo = 0, [self.p.pid]
        children = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(pid))
            except (OSError, IndexError, ValueError):
                pass
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def stop(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
                self.p.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()
        self.log.close()
        if self in Proc.live:
            Proc.live.remove(self)


def stop_all(*_):
    for p in list(Proc.live):
        p.stop()
    if _:
        sys.exit(130)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc and proc.p.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def start_mock(opts, rate_limit, logdir, name):
    mock = Proc(name, [opts.bin, "mock", "--listen", "127.0.0.1:0", "--token", TOKEN,
                       "--fixtures", opts.fixtures, "--latency-ms", str(opts.latency),
                       "--rate-limit", str(rate_limit)],
                logdir)
    base = mock.wait_line(r"ds-mock listening on (http://\S+)")
    return mock, f"{base}/api/v2/graphql"


def start_system(system, opts, api_url, rate_limit, logdir, name):
    """Starts a system under test; returns (process, GraphQL URL)."""
    if system in ("A", "B"):
        env = {"DS_API_URL": api_url, "DS_API_TOKEN": TOKEN, "LISTEN_ADDR": "127.0.0.1:0"}
        if "SUBGRAPH_SHARED_SECRETS" in opts.serve_help:
            env["SUBGRAPH_SHARED_SECRETS"] = SHARED_SECRET  # as deployed behind a router
        if not rate_limit and "DS_RATE_LIMIT_PER_MIN" in opts.serve_help:
            # Deployed against a DS without a rate limit, our limiter is set to match (its
            # highest settings): this pass measures the layer, not a limit nobody needs.
            env.update({"DS_RATE_LIMIT_PER_MIN": "100000", "DS_RATE_LIMIT_BURST": "10000"})
        if system == "B":
            env["DS_MAX_BATCH_SIZE"] = "1"
            # Cache off, stale copies included; a build without a cache refuses these names.
            for var in ("DS_CACHE_TTL", "DS_STALE_IF_ERROR"):
                if var in opts.serve_help:
                    env[var] = "0"
        sut = Proc(name, [opts.bin, "serve"], logdir, env=env)
        url = sut.wait_line(r"ds-subgraph listening on (http://\S+)")
        wait_http(url.replace("/graphql", "/healthz"), proc=sut)
        return sut, url
    port = free_port()
    sut = Proc(name, [os.path.join(MESH, "node_modules/.bin/hive-gateway"), "supergraph",
                      opts.supergraph, "--host", "127.0.0.1", "--port", str(port)],
               logdir, cwd=MESH, env={"DS_MOCK_URL": api_url, "DS_MOCK_TOKEN": TOKEN})
    wait_http(f"http://127.0.0.1:{port}/readiness", timeout=120, proc=sut)
    return sut, f"http://127.0.0.1:{port}/graphql"


def compose_supergraph(opts, logdir):
    """Composes C's supergraph once, by introspecting a DS mock (the URL is set per run)."""
    if not os.path.isdir(os.path.join(MESH, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=MESH,
                       check=True)
    mock, api_url = start_mock(opts, 0, logdir, "compose-mock")
    try:
        with open(os.path.join(logdir, "compose.log"), "w") as log:
            subprocess.run([os.path.join(MESH, "node_modules/.bin/mesh-compose")], cwd=MESH,
                           check=True, stdout=log, stderr=subprocess.STDOUT,
                           env={**os.environ, "DS_MOCK_URL": api_url, "DS_MOCK_TOKEN": TOKEN,
                                "SUPERGRAPH_OUT": opts.supergraph})
    finally:
        mock.stop()


def applies(pass_name, system, workload):
    if workload == "paced":
        return PASSES[pass_name] == 0
    # A gateway does not expose _entities to its clients; D is only the paced baseline.
    return system in ("A", "B") or (system == "C" and workload != "entities")


def run_one(opts, pass_name, system, workload, logdir):
    name = f"{pass_name}-{system}-{workload}"
    mock, api_url = start_mock(opts, PASSES[pass_name], logdir, f"{name}-mock")
    sut = None
    kind, rate = WORKLOADS[workload]
    if workload == "paced":
        rate = opts.paced_rate
    try:
        if system == "D":
            url, extra = api_url, ["--bearer", TOKEN]
        else:
            sut, url = start_system(system, opts, api_url, PASSES[pass_name], logdir,
                                    f"{name}-sut")
            extra = ["--sut-pid", str(sut.p.pid)]
            if system in ("A", "B") and "SUBGRAPH_SHARED_SECRETS" in opts.serve_help:
                extra += ["--bearer", SHARED_SECRET]
        base = api_url.rsplit("/api/", 1)[0]
        argv = [opts.loadgen, "--url", url, "--workload", kind, "--rate", str(rate), *extra,
                "--dialect", "subgraph" if system in ("A", "B") else "mesh",
                "--concurrency", str(opts.concurrency), "--duration-secs", str(opts.duration),
                # With DS's limit on, a warm-up would spend the 60 s window's budget unseen.
                "--warmup-secs", str(opts.warmup if PASSES[pass_name] == 0 else 0),
                "--first", str(FIRST),
                "--numbers", str(opts.numbers), "--mock-stats", f"{base}/mock/stats"]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        result = json.loads(out)
        result["peak_rss_kb"] = sut.peak_rss_kb() if sut else None
    finally:
        if sut:
            sut.stop()
        mock.stop()
    with open("/proc/loadavg") as f:
        load1 = float(f.read().split()[0])  # the machine is shared: say how busy it was
    result.update({"pass": pass_name, "system": system, "workload": workload,
                   "subgraph_has_cache": opts.has_cache,
                   "mock_latency_ms": opts.latency, "loadavg_1m": load1})
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="a few seconds: check the harness works")
    ap.add_argument("--bin", required=True, help="the ds-subgraph binary")
    ap.add_argument("--loadgen", required=True, help="the loadgen example binary")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--systems", default=os.environ.get("BENCH_SYSTEMS", "A B C D"))
    ap.add_argument("--passes", default=os.environ.get("BENCH_PASSES", "limited unlimited"))
    ap.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 10)))
    ap.add_argument("--warmup", type=float, default=float(os.environ.get("BENCH_WARMUP", 1)))
    ap.add_argument("--concurrency", type=int,
                    default=int(os.environ.get("BENCH_CONCURRENCY", 64)))
    ap.add_argument("--numbers", type=int, default=int(os.environ.get("BENCH_NUMBERS", 10000)))
    ap.add_argument("--latency", type=int, default=int(os.environ.get("BENCH_LATENCY_MS", 20)))
    ap.add_argument("--paced-rate", type=float,
                    default=float(os.environ.get("BENCH_PACED_RATE", 400)))
    opts = ap.parse_args()
    if opts.smoke:
        opts.duration, opts.warmup, opts.concurrency, opts.numbers = 1, 0.2, 8, 500
        opts.paced_rate = 50
        opts.passes = os.environ.get("BENCH_PASSES", "unlimited")

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    os.makedirs(opts.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="ds-bench-")
    logdir = os.path.join(work, "logs")
    os.makedirs(logdir)
    opts.fixtures = os.path.join(work, "fixtures")
    opts.supergraph = os.path.join(work, "supergraph.graphql")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_fixtures.py"), opts.fixtures,
                    str(opts.numbers), str(FIRST)], check=True)
    systems = opts.systems.split()
    mesh_installed = os.path.isdir(os.path.join(MESH, "node_modules"))
    if (opts.smoke and "C" in systems and not mesh_installed
            and not os.environ.get("BENCH_SMOKE_MESH")):
        # `npm ci` of Mesh + Hive Gateway takes minutes: more than the whole smoke is worth.
        print("smoke: C skipped (bench/mesh not installed; BENCH_SMOKE_MESH=1 installs it)")
        systems.remove("C")
    opts.serve_help = subprocess.run([opts.bin, "serve", "--help"], capture_output=True,
                                     text=True).stdout
    opts.has_cache = "DS_CACHE_TTL" in opts.serve_help
    results_path = os.path.join(work, "smoke.jsonl") if opts.smoke else \
        os.path.join(opts.out, "results.jsonl")
    results, problems = [], []
    try:
        if "C" in systems:
            compose_supergraph(opts, logdir)
        for pass_name in opts.passes.split():
            for system in systems:
                for workload in WORKLOADS:
                    if not applies(pass_name, system, workload):
                        continue
                    r = run_one(opts, pass_name, system, workload, logdir)
                    results.append(r)
                    print(f"{pass_name:9} {system} {workload:8} ok/s {r['ok_rps']:8.1f}  "
                          f"p99 {r['p99_ms'] or 0:7.1f} ms  failed {r['failed']:6}  "
                          f"upstream {r['upstream_requests']} (429: {r['upstream_429']})  "
                          f"rss {(r['peak_rss_kb'] or 0) // 1024} MB", flush=True)
                    if r["ok"] == 0:
                        problems.append(f"{pass_name} {system} {workload}: no successful response")
                    elif r["failed"] and PASSES[pass_name] == 0:
                        problems.append(f"{pass_name} {system} {workload}: {r['failed']} failed "
                                        f"{r['failure_causes']}")
    finally:
        stop_all()
        shutil.rmtree(opts.fixtures, ignore_errors=True)
    with open(results_path, "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    print(f"results: {results_path} (process logs: {logdir})")
    if opts.smoke:
        # Without DS's rate limit nothing may fail: a failure means the harness or a system broke.
        for p in problems:
            print(f"FAILED {p}")
        print(f"smoke: {len(results) - len(problems)} passed, {len(problems)} failed")
        return 1 if problems else 0
    subprocess.run([sys.executable, os.path.join(HERE, "report.py"), results_path,
                    "--out", opts.out], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
