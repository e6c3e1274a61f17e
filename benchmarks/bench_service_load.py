"""Load and soak of the HTTP service: does it stay correct, fast and flat under time?

    python benchmarks/bench_service_load.py            # load 2 min at 32, soak 5 min at 8
    python benchmarks/bench_service_load.py --short    # 20 s and 30 s: a quick look
    MLFLOW_TRACKING_URI=sqlite:///pql-demo/mlflow.db \\
        python benchmarks/bench_service_load.py --model-name pql-simulated

Starts `pql serve` on 127.0.0.1 (trains a small model first unless --model-name is
given), then runs two phases of POST /score (one entity, `--events` raw events) over
keep-alive connections: a bounded load (`--load-concurrency` connections for
`--load-seconds`) and a soak (`--soak-concurrency` for `--soak-seconds`). Every
`--sample-every` seconds it prints the requests, non-200 answers and latency p50/p99 of
that interval and the resident memory of the worker process(es); at the end of each
phase the totals (requests, errors, 5xx, p50, p99, max). The figures to watch: 5xx and
errors stay 0, p99 stays put, and worker RSS flattens instead of climbing. A test of
nothing: it prints, it does not judge. The machine's other load shows in the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import (  # the serving benchmark's model and server helpers
    HOST,
    _event_loop,
    exchange,
    free_port,
    prepare_model,
    request_body,
    server,
)

WORKER_MARK = "_bentoml_impl.worker.service"


@dataclass
class Tally:
    """Answers of one phase, or of one sampling interval of it."""

    latencies_ms: list[float] = field(default_factory=list)
    not_200: int = 0
    server_errors: int = 0
    connection_errors: int = 0

    def add(self, latency_ms: float, status: int) -> None:
        self.latencies_ms.append(latency_ms)
        self.not_200 += status != 200
        self.server_errors += status >= 500

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def worker_rss_mib(supervisor: int) -> float:
    """Resident memory of the BentoML worker processes under the server, in MiB."""
    try:
        children = psutil.Process(supervisor).children(recursive=True)
    except psutil.NoSuchProcess:
        return float("nan")
    rss = 0
    for child in children:
        try:
            if any(WORKER_MARK in part for part in child.cmdline()):
                rss += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return rss / 2**20


async def _client(port: int, payload: bytes, deadline: float, tallies: list[Tally]) -> None:
    """One keep-alive connection, requests back to back; reconnects after an error."""
    while time.perf_counter() < deadline:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            tallies[-1].connection_errors += 1
            await asyncio.sleep(0.1)
            continue
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                head = await exchange(reader, writer, payload)
                tallies[-1].add((time.perf_counter() - started) * 1000, int(head[9:12]))
                if b"connection: close" in head.lower():
                    break
        except (OSError, asyncio.IncompleteReadError, ValueError):
            tallies[-1].connection_errors += 1
        finally:
            writer.close()


async def _phase(
    port: int, payload: bytes, concurrency: int, seconds: float, every: float, supervisor: int
) -> Tally:
    """Run one phase; print one line per sampling interval; return the whole phase."""
    started = time.perf_counter()
    deadline = started + seconds
    tallies = [Tally()]  # clients add to the last one: the current interval
    clients = [
        asyncio.create_task(_client(port, payload, deadline, tallies)) for _ in range(concurrency)
    ]
    print(f"  t=  0 s  worker RSS {worker_rss_mib(supervisor):7.1f} MiB", flush=True)
    while time.perf_counter() < deadline:
        await asyncio.sleep(min(every, max(0.0, deadline - time.perf_counter())))
        interval = tallies[-1]
        tallies.append(Tally())
        print(
            f"  t={time.perf_counter() - started:3.0f} s  worker RSS "
            f"{worker_rss_mib(supervisor):7.1f} MiB  {len(interval.latencies_ms):6,} requests  "
            f"p50 {interval.percentile(50):6.2f} ms  p99 {interval.percentile(99):7.2f} ms  "
            f"not 200: {interval.not_200}  connection errors: {interval.connection_errors}",
            flush=True,
        )
    await asyncio.gather(*clients)
    whole = Tally()
    for part in tallies:
        whole.latencies_ms += part.latencies_ms
        whole.not_200 += part.not_200
        whole.server_errors += part.server_errors
        whole.connection_errors += part.connection_errors
    return whole


def report(name: str, concurrency: int, seconds: float, whole: Tally) -> None:
    count = len(whole.latencies_ms)
    print(
        f"{name}: concurrency {concurrency}, {seconds:g} s: {count:,} requests "
        f"({count / seconds:,.1f} req/s), not 200: {whole.not_200}, 5xx: "
        f"{whole.server_errors}, connection errors: {whole.connection_errors}; latency p50 "
        f"{whole.percentile(50):.2f} ms, p99 {whole.percentile(99):.2f} ms, max "
        f"{max(whole.latencies_ms, default=float('nan')):.2f} ms",
        flush=True,
    )


def metrics_size(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=30) as reply:
        text = reply.read()
    scored = sum(
        float(line.rsplit(b" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(b"pql_scored_total{")
    )
    return f"/metrics {len(text):,} bytes, pql_scored_total {scored:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="20 s load, 30 s soak")
    parser.add_argument("--load-concurrency", type=int, default=32)
    parser.add_argument("--load-seconds", type=float, default=120)
    parser.add_argument("--soak-concurrency", type=int, default=8)
    parser.add_argument("--soak-seconds", type=float, default=300)
    parser.add_argument("--sample-every", type=float, default=15, help="seconds per line")
    parser.add_argument("--events", type=int, default=200, help="raw events per request")
    parser.add_argument("--users", type=int, default=3_000, help="simulated users to train on")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model-name", help="serve this registered model (MLFLOW_TRACKING_URI)")
    args = parser.parse_args()
    if args.short:
        args.load_seconds, args.soak_seconds, args.sample_every = 20, 30, 10

    with tempfile.TemporaryDirectory(prefix="pql-bench-load-") as tmp:
        events_file = prepare_model(args, Path(tmp))
        body = json.dumps(request_body(args.events, args.seed, events_file, Path(tmp))).encode()
        port = free_port()
        payload = (
            f"POST /score HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        command = [sys.executable, "-c", "from pql.cli import app; app()", "serve"]
        command += ["--host", HOST, "--port", str(port)]
        print(
            f"pql serve, 1 worker, model {os.environ['PQL_MODEL_NAME']}; POST /score with "
            f"{args.events} events ({len(body):,} bytes); {os.cpu_count()} CPUs (shared: other "
            f"load shows in the figures)",
            flush=True,
        )
        with server(command, port) as supervisor:
            loop = _event_loop()
            phases = [
                ("load", args.load_concurrency, args.load_seconds),
                ("soak", args.soak_concurrency, args.soak_seconds),
            ]
            results = []
            for name, concurrency, seconds in phases:
                print(f"{name}: {concurrency} connections for {seconds:g} s", flush=True)
                whole = loop.run_until_complete(
                    _phase(port, payload, concurrency, seconds, args.sample_every, supervisor)
                )
                results.append((name, concurrency, seconds, whole))
                print(f"  {metrics_size(port)}", flush=True)
            for result in results:
                report(*result)


if __name__ == "__main__":
    main()
