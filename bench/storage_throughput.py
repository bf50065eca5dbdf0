"""File storage throughput over loopback HTTP, beside raw disk and nginx in the same run.

* upload MB/s of 1 MB, 100 MB and 1 GB files (``curl -T`` streaming a file to an upload URL;
  the local blob store fsyncs) beside ``dd if=/dev/zero bs=1M count=N conv=fdatasync``;
* download MB/s of the same files (``curl`` GET of a signed serving URL, a new process and
  connection each) beside nginx serving the very same blob file (a generated config on a free
  loopback port, run in the foreground and stopped afterwards); for files under 10 MB also
  over kept-alive connections (``wrk``, 1 and 8 connections, when installed);
* 10 KB uploads per second at concurrency 32 (httpx, upload URLs made beforehand);
* for 10 MB and more, the upload rate of a bare uvicorn endpoint that reads the body and
  discards it (no hashing, no file, no fsync): what any ASGI endpoint here can take in.

    python bench/storage_throughput.py [--sizes 1,100,1024] [--small 2000]

Needs ``curl`` and ``nginx`` (Debian package ``nginx``). Mainspring runs in a subprocess
(one uvicorn worker, SQLite) with its blob folder in a temp dir on the same disk as ``dd``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
from _processes import free_port, stop, wait_listening

ADMIN_KEY = "ms_admin_bench_" + "x" * 32
SERVER = """
import sys, uvicorn
from mainspring.db import open_database
from mainspring.registry import load_app
from mainspring.runtime import Runtime
from mainspring.server import create_app
from mainspring.storage.local import LocalBlobStore
app_dir, db, blobs, port, key = sys.argv[1:6]
runtime = Runtime(load_app(app_dir), open_database(db), admin_key=key,
                  blob_store=LocalBlobStore(blobs), site_url=f"http://127.0.0.1:{port}",
                  max_upload_bytes=4 << 30)
uvicorn.run(create_app(runtime), host="127.0.0.1", port=int(port), log_level="warning",
            access_log=False)
"""
# The most any ASGI endpoint here can take an upload at: uvicorn reading the body, discarding it.
SINK = """
import sys, uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""
NGINX = """
{user}
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def admin_call(base: str, kind: str, path: str, args: dict[str, object]) -> object:
    response = httpx.post(
        f"{base}/api/{kind}",
        json={"path": path, "args": [args], "format": "convex_encoded_json"},
        headers={"Authorization": f"Convex {ADMIN_KEY}"},
        timeout=60,
    )
    body = response.json()
    if body.get("status") != "success":
        raise SystemExit(f"{path} failed: {body}")
    return body["value"]


def curl_speed(args: list[str]) -> float:
    """Bytes per second curl reports for one transfer."""
    out = subprocess.run(
        ["curl", "-sS", "--fail", "-o", "/dev/null", *args], capture_output=True, check=True
    )
    return float(out.stdout.decode().strip())


def curl_upload_speed(source: Path, url: str) -> float:
    """Bytes per second curl reports for one upload of ``source`` to ``url``."""
    out = subprocess.run(
        ["curl", "-sS", "--fail", "-o", "/dev/null", "-X", "POST", "-T", str(source),
         "-H", "Content-Type: application/octet-stream", "-w", "%{speed_upload}", url],
        capture_output=True,
        check=True,
    )  # fmt: skip
    return float(out.stdout.decode().strip())


def wrk_rate(url: str, connections: int, seconds: int = 4) -> float:
    """Bytes per second ``wrk`` downloads ``url`` at over ``connections`` kept-alive ones."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]B)", out)
    if found is None or "Non-2xx" in out:
        raise SystemExit(f"wrk failed on {url}:\n{out}")
    return float(found.group(1)) * 1024 ** "KMG".index(found.group(2)[0]) * 1024


def sha256_rate() -> float:
    """Bytes per second this machine hashes with SHA-256 (which every upload must)."""
    data = os.urandom(64 * 1024 * 1024)
    start = time.perf_counter()
    hashlib.sha256(data).hexdigest()
    return len(data) / (time.perf_counter() - start)


def dd_rate(target: Path, mb: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mb}", "conv=fdatasync"],
        capture_output=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    target.unlink()
    return mb * 1024 * 1024 / elapsed


async def small_uploads(base: str, count: int, concurrency: int) -> float:
    urls = [
        str(admin_call(base, "mutation", "_system/storage:create_upload", {})) for _ in range(count)
    ]
    body = os.urandom(10 * 1024)
    queue = list(urls)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:

        async def worker() -> None:
            while queue:
                url = queue.pop()
                response = await http.post(
                    url, content=body, headers={"Content-Type": "application/octet-stream"}
                )
                response.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,100,1024", help="file sizes in MB")
    parser.add_argument("--small", type=int, default=2000, help="10 KB uploads to time")
    parser.add_argument("--repeat-small-files", type=int, default=10, help="runs of 1 MB")
    options = parser.parse_args()
    for tool in ("curl", "nginx", "dd"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is required (apt-get install -y {tool})")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    work = Path(tempfile.mkdtemp(prefix="ms-bench-storage-", dir=os.environ.get("BENCH_DIR")))
    (work / "app" / "backend").mkdir(parents=True)
    (work / "app" / "backend" / "bench.py").write_text(
        "from mainspring import query\n\n@query\nasync def ping(ctx) -> int:\n    return 1\n"
    )
    blobs = work / "blobs"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVER,
            str(work / "app" / "backend"),
            str(work / "db.sqlite3"),
            str(blobs),
            str(port),
            ADMIN_KEY,
        ]
    )
    nginx: subprocess.Popen[bytes] | None = None
    sink: subprocess.Popen[bytes] | None = None
    rows: list[tuple[str, float, str, float]] = []
    try:
        wait_listening(server, port, "mainspring")
        nginx_port = free_port()
        conf = work / "nginx.conf"
        # As root nginx's workers would switch to nobody, who cannot read the private temp dir.
        user = "user root;" if os.geteuid() == 0 else ""
        conf.write_text(NGINX.format(user=user, dir=work, port=nginx_port, root=blobs))
        blobs.mkdir(exist_ok=True)
        nginx = subprocess.Popen([nginx_bin, "-c", str(conf), "-p", str(work)])
        wait_listening(nginx, nginx_port, "nginx")
        sink_port = free_port()
        sink = subprocess.Popen([sys.executable, "-c", SINK, str(sink_port)])
        wait_listening(sink, sink_port, "the sink")
        for mb in (int(s) for s in options.sizes.split(",")):
            source = work / f"source-{mb}.bin"
            with open(source, "wb") as out:
                chunk = os.urandom(1024 * 1024)
                for _ in range(mb):
                    out.write(chunk)
            runs = options.repeat_small_files if mb < 10 else 1
            up: list[float] = []
            sunk: list[float] = []
            down: list[float] = []
            ngx: list[float] = []
            disk: list[float] = []
            for run in range(runs):
                disk.append(dd_rate(work / "dd.bin", mb))
                url = str(admin_call(base, "mutation", "_system/storage:create_upload", {}))
                result = subprocess.run(
                    [
                        "curl", "-sS", "--fail", "-X", "POST", "-T", str(source),
                        "-H", "Content-Type: application/octet-stream",
                        "-w", "\n%{speed_upload}", url,
                    ],
                    capture_output=True,
                    check=True,
                )  # fmt: skip
                body, speed = result.stdout.decode().rsplit("\n", 1)
                up.append(float(speed))
                if mb >= 10:
                    sunk.append(curl_upload_speed(source, f"http://127.0.0.1:{sink_port}/"))
                storage_id = httpx.Response(200, content=body).json()["storageId"]
                serve = str(
                    admin_call(
                        base, "query", "_system/storage:file_url", {"storage_id": storage_id}
                    )
                )
                direct = f"http://127.0.0.1:{nginx_port}/{storage_id}"
                down.append(curl_speed(["-w", "%{speed_download}", serve]))
                ngx.append(curl_speed(["-w", "%{speed_download}", direct]))
                if run < runs - 1:  # the last one is kept for the keep-alive rows below
                    delete = {"storage_id": storage_id}
                    admin_call(base, "mutation", "_system/storage:delete", delete)
            label = f"{mb} MB" if mb < 1024 else f"{mb // 1024} GB"
            rows.append((f"upload {label}", _mean(up), "dd fdatasync", _mean(disk)))
            if sunk:
                rows.append((f"upload {label}", _mean(up), "bare sink", _mean(sunk)))
            rows.append((f"download {label}", _mean(down), "nginx", _mean(ngx)))
            if mb < 10 and shutil.which("wrk"):
                # As browsers fetch: many downloads over kept-alive connections.
                for connections in (1, 8):
                    rows.append(
                        (
                            f"download {label} (keep-alive, {connections} conn.)",
                            wrk_rate(serve, connections),
                            "nginx",
                            wrk_rate(direct, connections),
                        )
                    )
            admin_call(base, "mutation", "_system/storage:delete", {"storage_id": storage_id})
            source.unlink()
        per_s = asyncio.run(small_uploads(base, options.small, 32))
    finally:
        if nginx is not None:
            stop(nginx)
        if sink is not None:
            stop(sink)
        stop(server)
        shutil.rmtree(work, ignore_errors=True)
    MB = 1024 * 1024
    width = max(len(row[0]) for row in rows)
    lines = [
        f"{'transfer':<{width}} | mainspring  | baseline (same run)     | ratio",
        f"{'-' * width} | ----------- | ----------------------- | -----",
    ]
    for name, ours, base_name, theirs in rows:
        lines.append(
            f"{name:<{width}} | {ours / MB:>6.0f} MB/s | {base_name:<12} {theirs / MB:>5.0f} MB/s"
            f" | {ours / theirs:>4.0%}"
        )
    lines.append(f"{'10 KB uploads':<{width}} | {per_s:>6.0f} /s   | concurrency 32          |")
    lines.append(f"\nSHA-256 on this machine (one core): {sha256_rate() / MB:,.0f} MB/s")
    print(textwrap.dedent("\n".join(lines)))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


if __name__ == "__main__":
    main()
