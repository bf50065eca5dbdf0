"""Live queries over the sync socket: update latency, idle cost, distinct-query throughput.

(a) **Update latency.** N WebSocket connections (1, 100, 1,000) each subscribe to the same
query (``bench:latest``, the counter's value) by speaking Convex's sync protocol directly
(Connect, ModifyQuerySet Add, then read Transitions). A writer in this process sends
``--mutations`` (100) mutations ``bench:set_value`` over HTTP (``POST /api/mutation``) every
``--interval`` (100 ms), value = sequence number. The server process (uvicorn, built like
``mainspring serve`` builds it) stamps ``time.time_ns()`` in an ``on_commit`` listener
registered ahead of the sync hub's, i.e. right after the commit returned and before the
live queries are invalidated; each subscriber stamps the Transition carrying that value on
arrival. Latency = arrival - commit (same host clock). Also shown: arrival - the writer's
send (includes the mutation's HTTP round trip, run and fsync'd commit). Subscribers run in
several load-generator processes (≈250 connections each) so that the client side is not one
process's event loop. Baseline, same run, same uvicorn: a bare Starlette WebSocket endpoint
that answers the handshake the same way and, when poked over HTTP (``POST /poke``), stamps
the time and sends a message of the same size to every connection (one loop of
``send_text``): raw fan-out, no query, no database.

(b) **Idle cost.** The server alone, then idle connections holding subscriptions (1,000 x 1
shared query, 1,000 x 10 distinct queries, 5,000 x 1): the server's CPU time over
``--idle-seconds`` (30) read from ``/proc``, and its resident memory per connection; baseline
the bare endpoint with the same connections. Idle sockets get the protocol's Ping every
15 s, and uvicorn's WebSocket ping every 20 s (both servers).

(c) **Distinct-query throughput.** K distinct subscriptions (``bench:latest`` with K different
``k`` arguments: one read set, K live queries, K re-runs per commit) spread over up to 1,000
connections, and mutations at R per second for ``--seconds`` (10) -- every commit invalidates
all K. The writer waits for each mutation's response, so a lagging server gets fewer writes
than asked (the table shows both). Measured over the write window: query runs and query
updates delivered per second, server CPU, the latency. When the server is saturated a live
query re-runs once for several commits (delivered < K x writes). "Per core-second" =
delivered updates / server CPU seconds: how many distinct subscriptions, each changing once
a second, one busy core serves. Baseline, same server and run: ``wrk`` calling the same
query over ``POST /api/query`` (c=32), req/s per server core-second.

The server, the load generators, the writer (and PostgreSQL) share this machine's cores.

    python bench/sync_latency.py [--backends sqlite,postgres] [--mutations 100]
    python bench/sync_latency.py --quick          # a smoke check
    python bench/sync_latency.py --parts a --subscribers 1000 --profile /tmp/prof  # py-spy

Needs ``wrk`` (``apt-get install wrk``) for (c)'s baseline (the row is left out without it)
and, for ``--backends postgres``, PostgreSQL on 127.0.0.1:5432 (a fresh ``?schema=`` per
server, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import math
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _fresh_schemas import FreshSchemas
from _processes import cpu_seconds, free_port, stop, wait_listening

HERE = Path(__file__).resolve().parent
APP_DIR = HERE / "sync_app"
CLIENT_VERSION = "1.48.0"
TARGET_P99_MS = 50.0
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
#: Connections per load-generator process.
PER_CLIENT_PROCESS = 250
MAX_CLIENT_PROCESSES = 8
QUERY_PATH = "bench:latest"
COUNTER = "main"


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kb(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    except OSError:
        return 0


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max; NaN when there is nothing to measure."""
    if len(values) < 2:
        return (values[0],) * 3 if values else (float("nan"),) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98], max(values)


# -- the servers (run in subprocesses) ---------------------------------------------------------


def _json_response(body: bytes) -> list[dict[str, Any]]:
    return [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        },
        {"type": "http.response.body", "body": body},
    ]


def serve_mainspring(db_url: str, port: int, storage: str) -> None:
    """The app as ``mainspring serve`` builds it, plus ``GET /bench/stamps``: the time of
    every commit that wrote the counter, taken before the sync hub saw the commit."""
    import uvicorn

    from mainspring.config import load_settings
    from mainspring.db.store import WriteSet
    from mainspring.deployment import Deployment
    from mainspring.server.app import create_app

    os.environ.update(
        {
            "MAINSPRING_APP_DIR": str(APP_DIR),
            "MAINSPRING_DB_URL": db_url,
            "MAINSPRING_STORAGE_DIR": storage,
            "MAINSPRING_LOG_LEVEL": "warning",
        }
    )
    settings = load_settings(env=os.environ)
    deployment = Deployment.from_settings(settings, background=True)
    runtime = deployment.runtime
    stamps: list[int] = []

    def committed(writes: WriteSet) -> None:
        if "counter" in writes.documents.values():
            stamps.append(time.time_ns())

    runtime.on_commit(committed)  # before create_app attaches the sync hub: runs first
    query_runs = [0]
    run = runtime.run

    async def counted_run(path: str, args: Any, **options: Any) -> Any:
        if options.get("kind") == "query":
            query_runs[0] += 1  # live query runs and HTTP queries alike
        return await run(path, args, **options)

    runtime.run = counted_run  # type: ignore[method-assign]
    app = create_app(runtime, max_body_bytes=settings.max_request_body)

    async def with_stamps(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bench/stamps":
            body = {"commits": stamps, "query_runs": query_runs[0]}
            for message in _json_response(json.dumps(body).encode()):
                await send(message)
            return
        await app(scope, receive, send)

    uvicorn.run(with_stamps, host="127.0.0.1", port=port, log_level="warning")


def serve_bare(port: int, size: int) -> None:
    """A bare Starlette WebSocket endpoint: answers ModifyQuerySet with a Transition and, on
    ``POST /poke``, sends a ``size``-byte Transition-shaped message to every socket."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    sockets: set[WebSocket] = set()
    stamps: list[int] = []
    tasks: set[asyncio.Task[None]] = set()

    def message(value: float) -> str:
        head = (
            '{"type":"Transition","startVersion":{"querySet":1,"identity":0,"ts":"AAAAAAAAAAA="},'
            '"endVersion":{"querySet":1,"identity":0,"ts":"AAAAAAAAAAA="},"modifications":['
            f'{{"queryId":0,"type":"QueryUpdated","value":{{"value":{value!r},"k":0.0}},'
            '"logLines":[],"journal":null,"pad":"'
        )
        tail = '"}]}'
        return head + "x" * max(0, size - len(head) - len(tail)) + tail

    async def sync(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                data = json.loads(await websocket.receive_text())
                if data.get("type") == "ModifyQuerySet":
                    await websocket.send_text(message(-1.0))
                    sockets.add(websocket)
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    async def broadcast(text: str) -> None:
        for websocket in list(sockets):
            with contextlib.suppress(Exception):
                await websocket.send_text(text)

    async def poke(request: Request) -> Response:
        value = float((await request.json())["value"])
        stamps.append(time.time_ns())
        task = asyncio.create_task(broadcast(message(value)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return JSONResponse({"status": "success"})

    async def get_stamps(request: Request) -> Response:
        return JSONResponse({"commits": stamps, "query_runs": 0})

    app = Starlette(
        routes=[
            WebSocketRoute("/api/{version}/sync", sync),
            Route("/poke", poke, methods=["POST"]),
            Route("/bench/stamps", get_stamps),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# -- the load generator (runs in subprocesses) -------------------------------------------------


async def _clients(port: int, first: int, count: int, per_conn: int, distinct: bool) -> None:
    """Open ``count`` subscribed sockets; say "ready"; record what arrives until "stop"."""
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    url = f"ws://127.0.0.1:{port}/api/{CLIENT_VERSION}/sync"
    received: list[tuple[int, str]] = []
    gate = asyncio.Semaphore(32)
    sockets: list[ClientConnection] = []
    subscribed: list[int] = []

    async def one(index: int) -> None:
        number = first + index
        async with gate:
            ws = await connect(
                url, compression=None, ping_interval=None, max_size=None, open_timeout=120
            )
            sockets.append(ws)
            connect_message = {
                "type": "Connect",
                "sessionId": str(uuid.uuid4()),
                "connectionCount": 0,
                "lastCloseReason": "InitialConnect",
                "clientTs": time.time() * 1000,
            }
            await ws.send(json.dumps(connect_message))
            adds = [
                {
                    "type": "Add",
                    "queryId": q,
                    "udfPath": QUERY_PATH,
                    "args": [
                        {"name": COUNTER, "k": float(number * per_conn + q if distinct else 0)}
                    ],
                }
                for q in range(per_conn)
            ]
            modify = {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1}
            await ws.send(json.dumps({**modify, "modifications": adds}))
            while '"Transition"' not in str(await ws.recv()):
                pass
            subscribed.append(number)
        try:
            async for text in ws:
                received.append((time.time_ns(), str(text)))
        except ConnectionClosed:
            pass

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    while len(subscribed) < count:
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise SystemExit(f"a client failed: {failed[0].exception()!r}")
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    command = await asyncio.to_thread(sys.stdin.readline)
    del command
    rows: list[tuple[int, float, float]] = []
    sizes: list[int] = []
    pings: list[int] = []
    for arrived, text in received:
        if text.startswith('{"type":"Ping"'):
            pings.append(arrived)
            continue
        data = json.loads(text)
        if data.get("type") != "Transition":
            continue
        modifications = data["modifications"]
        for change in modifications:
            value = change.get("value")
            if change.get("type") == "QueryUpdated" and isinstance(value, dict):
                rows.append((arrived, float(value["k"]), float(value["value"])))
        if len(modifications) == 1:
            sizes.append(len(text))
    result = {"rows": rows, "sizes": sizes[:10], "pings": pings}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # the sockets close with the process


def run_clients(argv: list[str]) -> None:
    import uvloop

    port, first, count, per_conn, distinct = (int(a) for a in argv)
    uvloop.run(_clients(port, first, count, per_conn, bool(distinct)))


@dataclass
class Received:
    """What all load generators saw: (arrival ns, k, value) per query update."""

    rows: list[tuple[int, float, float]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    pings: list[int] = field(default_factory=list)  # arrival times of Ping messages
    cpu: float = 0.0


class Clients:
    """Load-generator processes holding ``connections`` subscribed sockets between them."""

    def __init__(
        self, port: int, connections: int, per_conn: int = 1, distinct: bool = False
    ) -> None:
        processes = min(MAX_CLIENT_PROCESSES, max(1, math.ceil(connections / PER_CLIENT_PROCESS)))
        shares = [
            connections // processes + (i < connections % processes) for i in range(processes)
        ]
        self.procs: list[subprocess.Popen[str]] = []
        first = 0
        for share in shares:
            argv = [sys.executable, __file__, "_clients", str(port), str(first), str(share)]
            argv += [str(per_conn), str(int(distinct))]
            self.procs.append(
                subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            )
            first += share

    def wait_ready(self) -> None:
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                self.kill()
                raise SystemExit(f"a load generator failed ({line!r})")

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def stop(self) -> Received:
        result = Received(cpu=self.cpu())
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("stop\n")
            proc.stdin.flush()
        for proc in self.procs:
            assert proc.stdout is not None
            data = json.loads(proc.stdout.readline())
            result.rows.extend(tuple(row) for row in data["rows"])
            result.sizes.extend(data["sizes"])
            result.pings.extend(data["pings"])
            proc.wait(30)
        return result

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def clients(
    port: int, connections: int, per_conn: int = 1, distinct: bool = False
) -> Iterator[Clients]:
    group = Clients(port, connections, per_conn, distinct)
    try:
        group.wait_ready()
        yield group
    finally:
        group.kill()


# -- starting servers, writing ------------------------------------------------------------------


@dataclass
class Server:
    kind: str  # "mainspring" or "bare"
    port: int
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def server(kind: str, db_url: str = "", size: int = 0) -> Iterator[Server]:
    port = free_port()
    storage = tempfile.mkdtemp(prefix="bench-sync-storage-")
    if kind == "mainspring":
        argv = [sys.executable, __file__, "_serve_mainspring", db_url, str(port), storage]
    else:
        argv = [sys.executable, __file__, "_serve_bare", str(port), str(size)]
    errors = tempfile.NamedTemporaryFile(prefix="bench-sync-server-", suffix=".log")  # noqa: SIM115
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        wait_listening(proc, port, f"{kind} server", timeout=60, log=Path(errors.name))
        yield Server(kind, port, proc)
    finally:
        stop(proc)
        problems = [
            line
            for line in Path(errors.name).read_text().splitlines()
            if "ERROR" in line or "Traceback" in line
        ]
        if problems:
            log(f"{kind} server errors ({len(problems)}): " + " | ".join(problems[:3]))
        errors.close()
        shutil.rmtree(storage, ignore_errors=True)


class Writer:
    """Sends the value-setting calls over one keep-alive HTTP connection."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)

    def _exchange(self, method: str, path: str, body: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        try:
            self.conn.request(method, path, body, headers)
            return self.conn.getresponse()
        except ConnectionError:  # the server closed an idle keep-alive connection
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
            self.conn.request(method, path, body, headers)
            return self.conn.getresponse()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self._exchange("POST", path, json.dumps(body))
        data = json.loads(response.read())
        if response.status != 200 or data.get("status") != "success":
            raise SystemExit(f"{path} answered {response.status}: {data}")
        return data

    def set(self, value: float) -> None:
        if self.srv.kind == "mainspring":
            args = {"name": COUNTER, "value": value}
            body = {"path": "bench:set_value", "format": "convex_encoded_json", "args": [args]}
            self.post("/api/mutation", body)
        else:
            self.post("/poke", {"value": value})

    def stamps(self) -> tuple[list[int], int]:
        """The commit (or poke) times, and how many times a query ran in the server."""
        data = json.loads(self._exchange("GET", "/bench/stamps").read())
        return list(data["commits"]), int(data["query_runs"])

    def series(
        self, count: int, interval: float, *, bounded: bool = False
    ) -> tuple[list[int], float, float]:
        """``count`` calls (values 0, 1, ...) every ``interval`` s: each send time (ns), and the
        wall-clock window they span (from the first send to one interval after the last).
        ``bounded``: stop sending once ``count x interval`` has passed (a server that lags
        gets fewer writes; ``len(sent)`` says how many)."""
        sent: list[int] = []
        began = time.monotonic()
        start_wall = time.time()
        for i in range(count):
            if bounded and time.monotonic() >= began + count * interval:
                break
            time.sleep(max(0.0, began + i * interval - time.monotonic()))
            sent.append(time.time_ns())
            self.set(float(i))
        time.sleep(max(0.0, began + len(sent) * interval - time.monotonic()))
        return sent, start_wall, time.time()


#: ``--profile DIR``: py-spy samples the Mainspring server during each write window.
PROFILE_DIR: Path | None = None


@contextlib.contextmanager
def profiled(srv: Server, name: str) -> Iterator[None]:
    """py-spy (``--nonblocking``, collapsed stacks) on the server while the block runs."""
    if PROFILE_DIR is None or srv.kind != "mainspring":
        yield
        return
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = PROFILE_DIR / f"{name}.txt"
    argv = [py_spy, "record", "--nonblocking", "--format", "raw", "-o", str(out)]
    spy = subprocess.Popen(
        [*argv, "--pid", str(srv.proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
        log(f"profile: {out}")


# -- (a) update latency --------------------------------------------------------------------------


@dataclass
class Latency:
    subscribers: int
    processes: int
    commit_ms: list[float] = field(default_factory=list)  # arrival - commit (or poke) stamp
    send_ms: list[float] = field(default_factory=list)  # arrival - writer's send
    last_ms: list[float] = field(default_factory=list)  # per update: the last subscriber's
    delivered: int = 0
    expected: int = 0
    size: int = 0
    server_cpu_pct: float = 0.0
    client_cpu_pct: float = 0.0
    cpu_ms_per_write: float = 0.0  # server CPU per write, window and stragglers
    runs_per_write: float = 0.0  # query runs in the server per write


def latency_run(
    kind: str, subscribers: int, mutations: int, interval: float, db_url: str = "", size: int = 0
) -> Latency:
    with server(kind, db_url, size) as srv:
        writer = Writer(srv)
        writer.set(-1.0)  # the counter exists before anyone subscribes
        with clients(srv.port, subscribers) as group:
            time.sleep(1.0)
            _, runs_before = writer.stamps()
            cpu_before, client_before = cpu_seconds(srv.proc.pid), group.cpu()
            with profiled(srv, f"latency-{subscribers}"):
                sent, start, end = writer.series(mutations, interval)
            cpu = cpu_seconds(srv.proc.pid) - cpu_before
            client_cpu = group.cpu() - client_before
            time.sleep(1.0)  # stragglers
            cpu_all = cpu_seconds(srv.proc.pid) - cpu_before
            stamps, runs_after = writer.stamps()
            received = group.stop()
    if len(stamps) != mutations + 1:
        raise SystemExit(f"{kind}: {len(stamps)} commit stamps for {mutations + 1} writes")
    result = Latency(subscribers, len(group.procs), expected=subscribers * mutations)
    result.server_cpu_pct = 100 * cpu / (end - start)
    result.client_cpu_pct = 100 * client_cpu / (end - start)
    result.cpu_ms_per_write = 1000 * cpu_all / mutations
    result.runs_per_write = (runs_after - runs_before) / mutations
    result.size = received.sizes[0] if received.sizes else 0
    last: dict[int, float] = {}
    for arrived, _k, value in received.rows:
        index = int(value)
        if index < 0:
            continue
        result.delivered += 1
        ms = (arrived - stamps[index + 1]) / 1e6
        result.commit_ms.append(ms)
        result.send_ms.append((arrived - sent[index]) / 1e6)
        last[index] = max(last.get(index, 0.0), ms)
    result.last_ms = list(last.values())
    return result


# -- (b) idle cost --------------------------------------------------------------------------------


@dataclass
class Idle:
    label: str
    cpu_pct: float
    rss_per_conn_kb: float
    pings: int


def idle_run(
    kind: str, connections: int, per_conn: int, distinct: bool, seconds: float, db_url: str = ""
) -> Idle:
    with server(kind, db_url, 300) as srv:
        writer = Writer(srv)
        writer.set(-1.0)
        time.sleep(1.0)
        rss_before = rss_kb(srv.proc.pid)
        with clients(srv.port, connections, per_conn, distinct) as group:
            time.sleep(3.0)  # subscriptions settle
            before = cpu_seconds(srv.proc.pid)
            began, began_ns = time.monotonic(), time.time_ns()
            time.sleep(seconds)
            cpu = cpu_seconds(srv.proc.pid) - before
            wall, end_ns = time.monotonic() - began, time.time_ns()
            rss_after = rss_kb(srv.proc.pid)
            received = group.stop()
    if connections == 0:
        label = "no sockets (the server alone)"
    else:
        kind_of = "distinct queries" if distinct else "shared query"
        label = f"{connections:,} sockets x {per_conn} {kind_of}"
    pings = sum(1 for t in received.pings if began_ns <= t <= end_ns)
    per_conn_kb = (rss_after - rss_before) / connections if connections else 0.0
    return Idle(label, 100 * cpu / wall, per_conn_kb, pings)


# -- (c) distinct-query throughput ----------------------------------------------------------------


@dataclass
class Throughput:
    distinct: int
    connections: int
    rate: float
    writes: int
    delivered_per_s: float
    server_cpu_pct: float
    client_cpu_pct: float
    latency: tuple[float, float, float]
    runs_per_s: float
    window: float  # seconds the writes took (longer than asked when the server lags)

    @property
    def write_rate(self) -> float:
        return self.writes / self.window

    @property
    def per_core_s(self) -> float:
        return self.delivered_per_s / (self.server_cpu_pct / 100) if self.server_cpu_pct else 0.0


def wrk_queries(port: int, seconds: int, pid: int) -> tuple[float, float] | None:
    """req/s of the query over ``POST /api/query`` (c=32) and the server's CPU % meanwhile."""
    if not shutil.which("wrk"):
        return None
    body = json.dumps(
        {
            "path": QUERY_PATH,
            "format": "convex_encoded_json",
            "args": [{"name": COUNTER, "k": 1.0}],
        }
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = '{body}'\n"
        )
    url = f"http://127.0.0.1:{port}/api/query"
    before, began = cpu_seconds(pid), time.monotonic()
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", "32", "-d", f"{seconds}s", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu_pct = 100 * (cpu_seconds(pid) - before) / (time.monotonic() - began)
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1)), cpu_pct


def throughput_run(
    distinct: int, rate: float, seconds: float, db_url: str, wrk_seconds: int
) -> tuple[Throughput, tuple[float, float] | None]:
    connections = min(distinct, 1000)
    per_conn = distinct // connections
    with server("mainspring", db_url) as srv:
        writer = Writer(srv)
        writer.set(-1.0)
        baseline = wrk_queries(srv.port, wrk_seconds, srv.proc.pid) if wrk_seconds else None
        with clients(srv.port, connections, per_conn, distinct=True) as group:
            time.sleep(2.0)
            _, runs_before = writer.stamps()
            before, client_before = cpu_seconds(srv.proc.pid), group.cpu()
            with profiled(srv, f"throughput-{distinct}@{rate:g}"):
                sent, start, end = writer.series(int(rate * seconds), 1 / rate, bounded=True)
            count = len(sent)
            log(f"    {count} writes in {end - start:.1f} s")
            cpu = cpu_seconds(srv.proc.pid) - before
            client_cpu = group.cpu() - client_before
            _, runs_after = writer.stamps()
            time.sleep(2.0)
            stamps, _ = writer.stamps()
            received = group.stop()
    window = end - start
    in_window = [r for r in received.rows if r[2] >= 0 and start * 1e9 <= r[0] <= end * 1e9]
    latencies = [(r[0] - stamps[int(r[2]) + 1]) / 1e6 for r in received.rows if r[2] >= 0]
    result = Throughput(
        distinct,
        connections,
        rate,
        count,
        len(in_window) / window,
        100 * cpu / window,
        100 * client_cpu / window,
        quantiles(latencies),
        (runs_after - runs_before) / window,
        window,
    )
    return result, baseline


# -- the tables -----------------------------------------------------------------------------------


def print_table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}\n")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def ms3(values: tuple[float, float, float]) -> str:
    return f"{values[0]:.1f} / {values[1]:.1f} / {values[2]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite", help="for (a): sqlite,postgres")
    parser.add_argument("--subscribers", default="1,100,1000")
    parser.add_argument("--mutations", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between writes")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--idle", default="0x1,1000x1,1000x10d,5000x1", help="SOCKETSxQUERIES[d]")
    parser.add_argument(
        "--throughput", default="100@20,1000@5,10000@1", help="DISTINCT@WRITES_PER_S"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput write window")
    parser.add_argument("--wrk-seconds", type=int, default=5)
    parser.add_argument("--parts", default="a,b,c", help="which measurements")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--quick", action="store_true", help="a smoke check")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the server's write windows")
    opts = parser.parse_args()
    if opts.profile:
        global PROFILE_DIR
        PROFILE_DIR = Path(opts.profile)
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    if opts.quick:
        opts.mutations, opts.idle_seconds, opts.seconds, opts.wrk_seconds = 20, 5.0, 3.0, 2
        opts.idle, opts.throughput = "200x1", "100@10"
    raise_open_files()
    parts = set(opts.parts.split(","))
    dbs = FreshSchemas(opts.pg, "bench_sync")
    load = os.getloadavg()
    log(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cores")
    latency: dict[tuple[str, int], tuple[Latency, Latency]] = {}
    idle: list[tuple[Idle, Idle]] = []
    throughput: list[tuple[Throughput, tuple[float, float] | None]] = []
    try:
        if "a" in parts:
            for backend in opts.backends.split(","):
                for n in (int(x) for x in opts.subscribers.split(",")):
                    log(f"(a) {backend}: {n} subscribers, {opts.mutations} mutations")
                    ours = latency_run(
                        "mainspring", n, opts.mutations, opts.interval, dbs.fresh(backend)
                    )
                    log(f"(a) bare fan-out: {n} sockets, {ours.size}-byte messages")
                    bare = latency_run("bare", n, opts.mutations, opts.interval, size=ours.size)
                    latency[backend, n] = ours, bare
        if "b" in parts:
            for spec in opts.idle.split(","):
                distinct = spec.endswith("d")
                conns, per_conn = (int(x) for x in spec.rstrip("d").split("x"))
                log(f"(b) idle {opts.idle_seconds:.0f} s: {spec}")
                ours = idle_run(
                    "mainspring", conns, per_conn, distinct, opts.idle_seconds, dbs.fresh("sqlite")
                )
                bare = idle_run("bare", conns, per_conn, distinct, opts.idle_seconds)
                idle.append((ours, bare))
        if "c" in parts:
            for i, spec in enumerate(opts.throughput.split(",")):
                distinct, rate = spec.split("@")
                log(f"(c) {distinct} distinct queries, {rate} writes/s for {opts.seconds:.0f} s")
                throughput.append(
                    throughput_run(
                        int(distinct),
                        float(rate),
                        opts.seconds,
                        dbs.fresh("sqlite"),
                        opts.wrk_seconds if i == 0 else 0,
                    )
                )
    finally:
        dbs.drop()
    after = os.getloadavg()

    if latency:
        rows, costs = [], []
        for (backend, n), (ours, bare) in latency.items():
            mine, base = quantiles(ours.commit_ms), quantiles(bare.commit_ms)
            ok = "✓" if mine[1] < TARGET_P99_MS else "✗"
            rows.append(
                (
                    f"{backend} {n:,}",
                    f"{ours.delivered:,}/{ours.expected:,}",
                    ms3(mine),
                    ms3(base),
                    f"{mine[0] / base[0]:.1f}x / {mine[1] / base[1]:.1f}x",
                    ok if n >= 1000 else "",
                )
            )
            costs.append(
                (
                    f"{backend} {n:,}",
                    ms3(quantiles(ours.last_ms)),
                    ms3(quantiles(ours.send_ms)),
                    f"{ours.runs_per_write:.1f}",
                    f"{ours.cpu_ms_per_write:.1f} ms",
                    f"{bare.cpu_ms_per_write:.1f} ms",
                    f"{ours.cpu_ms_per_write / max(bare.cpu_ms_per_write, 0.01):.1f}x",
                    f"{ours.server_cpu_pct:.0f}% / {ours.client_cpu_pct:.0f}%",
                    str(ours.processes),
                )
            )
        size = max((o.size for o, _ in latency.values()), default=0)
        print_table(
            f"(a) update latency, commit → Transition at each subscriber, ms p50 / p99 / max "
            f"({opts.mutations} writes every {opts.interval * 1000:.0f} ms, {size}-byte "
            "Transition)",
            (
                "backend, subscribers",
                "delivered",
                "Mainspring",
                "bare fan-out (same run)",
                "ratio p50 / p99",
                f"p99 < {TARGET_P99_MS:.0f} ms",
            ),
            rows,
        )
        print_table(
            "(a) the same runs: the last subscriber per write and from the writer's send (ms p50 "
            "/ p99 / max); query runs and server CPU per write; CPU % of a core while writing",
            (
                "backend, subscribers",
                "last subscriber",
                "from writer's send",
                "query runs / write",
                "server CPU / write",
                "bare CPU / write",
                "ratio",
                "CPU server / clients",
                "client procs",
            ),
            costs,
        )
    if idle:
        alone = next((o.cpu_pct for o, _ in idle if o.label.startswith("no sockets")), None)

        def per_thousand(ours: Idle) -> str:
            match = re.match(r"([\d,]+) sockets", ours.label)
            if alone is None or match is None:
                return ""
            return f"{(ours.cpu_pct - alone) * 1000 / int(match.group(1).replace(',', '')):.2f}%"

        rows = [
            (
                ours.label,
                f"{ours.cpu_pct:.2f}%",
                per_thousand(ours),
                f"{ours.rss_per_conn_kb:.0f} KB",
                f"{ours.pings:,}",
                f"{bare.cpu_pct:.2f}%",
                f"{bare.rss_per_conn_kb:.0f} KB",
                f"{ours.cpu_pct / bare.cpu_pct:.1f}x" if bare.cpu_pct > 0.005 else "—",
            )
            for ours, bare in idle
        ]
        print_table(
            f"(b) idle subscriptions, server CPU over {opts.idle_seconds:.0f} s (% of a core)",
            (
                "held",
                "Mainspring CPU",
                "over the server alone, per 1,000 sockets",
                "RSS / socket",
                "Pings in window",
                "bare CPU (same run)",
                "bare RSS / socket",
                "ratio",
            ),
            rows,
        )
    if throughput:
        base = next((b for _, b in throughput if b is not None), None)
        base_per_core = base[0] / (base[1] / 100) if base else 0.0
        rows = []
        for t, _ in throughput:
            rows.append(
                (
                    f"{t.distinct:,} on {t.connections:,} sockets",
                    f"{t.write_rate:.1f}/s ({t.rate:g} asked)",
                    f"{t.distinct * t.write_rate:,.0f}/s",
                    f"{t.runs_per_s:,.0f}/s",
                    f"{t.delivered_per_s:,.0f}/s",
                    f"{t.server_cpu_pct:.0f}% / {t.client_cpu_pct:.0f}%",
                    f"{t.per_core_s:,.0f}",
                    ms3(t.latency),
                    f"{base_per_core:,.0f}" if base else "—",
                    f"{t.per_core_s / base_per_core:.0%}" if base else "—",
                )
            )
        print_table(
            f"(c) distinct live queries invalidated by every write, {opts.seconds:.0f} s (sqlite)",
            (
                "distinct queries",
                "writes",
                "re-runs wanted",
                "query runs",
                "updates delivered",
                "CPU server / clients",
                "updates per server core-s",
                "latency p50 / p99 / max ms",
                "HTTP query per core-s (same run)",
                "ratio",
            ),
            rows,
        )
        if base:
            print(
                f"\nbaseline: wrk c=32 POST /api/query {QUERY_PATH}: {base[0]:,.0f} req/s at "
                f"{base[1]:.0f}% server CPU"
            )
    print(
        f"\nload average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after "
        f"{after[0]:.2f} {after[1]:.2f} {after[2]:.2f}; {os.cpu_count()} cores shared by the "
        "server, the load generators, the writer (and PostgreSQL)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve_mainspring":
        serve_mainspring(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "_serve_bare":
        serve_bare(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_clients":
        run_clients(sys.argv[2:])
    else:
        main()
