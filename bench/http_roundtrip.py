"""HTTP round trips: a trivial query and a one-document insert mutation.

Measures throughput and p50/p99 latency with ``wrk`` at concurrency 1 and 32, on SQLite and
PostgreSQL, beside a bare Starlette endpoint returning the same JSON and beside ``pgbench``
running a one-insert script — all in the same run, on this machine. A third baseline is the
floor for any Python server: a bare Starlette endpoint that runs pgbench's INSERT itself on a
pooled psycopg connection.

    python bench/http_roundtrip.py [--seconds 10] [--pg postgresql://postgres@127.0.0.1/test]

Needs ``wrk`` and ``pgbench`` (Debian packages ``wrk`` and ``postgresql-client``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from _processes import free_port, stop, wait_listening

HERE = Path(__file__).resolve().parent
APP = """
from __future__ import annotations
from mainspring import mutation, query

@query
async def ping(ctx) -> dict:
    return {"ok": True}

@mutation
async def insert(ctx) -> None:
    await ctx.db.insert("items", {"n": 1, "s": "hello"})
"""
QUERY_BODY = '{"path":"bench:ping","format":"convex_encoded_json","args":[{}]}'
MUTATION_BODY = '{"path":"bench:insert","format":"convex_encoded_json","args":[{}]}'


def start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(HERE / "_servers.py"), *args, str(port)])
    wait_listening(proc, port, f"server {args}")
    return proc


def wrk(url: str, body: str, connections: int, seconds: int) -> tuple[float, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = '{body}'\n"
        )
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(connections, 2)),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            script.name,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise SystemExit(f"errors from {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    return rps, pct("50"), pct("99")


def baseline(
    args: list[str], path: str, body: str, seconds: int
) -> dict[int, tuple[float, float, float]]:
    """``wrk`` at concurrency 1 and 32 against a baseline server of ``_servers.py``."""
    port = free_port()
    server = start(args, port)
    try:
        return {c: wrk(f"http://127.0.0.1:{port}{path}", body, c, seconds) for c in (1, 32)}
    finally:
        stop(server)


def bench_items(url: str, *, create: bool) -> None:
    """(Re)create, or drop, pgbench's table."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_items")
        if create:
            conn.execute("CREATE TABLE bench_items (id bigserial PRIMARY KEY, value text NOT NULL)")


def pgbench(url: str, connections: int, seconds: int) -> float:
    bench_items(url, create=True)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write('INSERT INTO bench_items (value) VALUES (\'{"n":1,"s":"hello"}\');\n')
    out = subprocess.run(
        [
            "pgbench",
            "-n",
            "-f",
            script.name,
            "-c",
            str(connections),
            "-j",
            str(min(connections, 2)),
            "-T",
            str(seconds),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    bench_items(url, create=False)
    return float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    opts = parser.parse_args()
    for tool in ("wrk", "pgbench"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install wrk postgresql-client)")
    work = Path(tempfile.mkdtemp(prefix="mainspring-bench-"))
    (work / "backend").mkdir()
    (work / "backend" / "bench.py").write_text(APP)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    backends = {
        "sqlite": str(work / "db.sqlite3"),
        "postgres": f"{opts.pg}?schema={schema}",
    }
    rows: list[tuple[str, ...]] = []
    bare_rps = baseline(["bare"], "/api/query", QUERY_BODY, opts.seconds)
    pg_tps = {c: pgbench(opts.pg, c, opts.seconds) for c in (1, 32)}
    # The floor for any Python server: pgbench's INSERT behind a bare Starlette endpoint.
    bench_items(opts.pg, create=True)
    try:
        floor_rps = baseline(["bare-insert", opts.pg], "/api/mutation", MUTATION_BODY, opts.seconds)
    finally:
        bench_items(opts.pg, create=False)
    for c, (rps, p50, p99) in floor_rps.items():
        rows.append(
            (
                "insert bare+psycopg",
                str(c),
                f"{rps:,.0f}",
                f"{p50:.2f}",
                f"{p99:.2f}",
                f"pgbench insert {pg_tps[c]:,.0f}",
                f"{rps / pg_tps[c]:.0%}",
            )
        )
    for name, url in backends.items():
        port = free_port()
        server = start(["mainspring", str(work / "backend"), url], port)
        try:
            for c in (1, 32):
                rps, p50, p99 = wrk(
                    f"http://127.0.0.1:{port}/api/query", QUERY_BODY, c, opts.seconds
                )
                base = bare_rps[c][0]
                rows.append(
                    (
                        f"query  {name}",
                        str(c),
                        f"{rps:,.0f}",
                        f"{p50:.2f}",
                        f"{p99:.2f}",
                        f"bare Starlette {base:,.0f}",
                        f"{rps / base:.0%}",
                    )
                )
                rps, p50, p99 = wrk(
                    f"http://127.0.0.1:{port}/api/mutation", MUTATION_BODY, c, opts.seconds
                )
                if name == "postgres":
                    base, label = pg_tps[c], f"pgbench insert {pg_tps[c]:,.0f}"
                else:
                    base, label = bare_rps[c][0], f"bare Starlette {bare_rps[c][0]:,.0f}"
                rows.append(
                    (
                        f"insert {name}",
                        str(c),
                        f"{rps:,.0f}",
                        f"{p50:.2f}",
                        f"{p99:.2f}",
                        label,
                        f"{rps / base:.0%}",
                    )
                )
        finally:
            stop(server)
    import psycopg

    with psycopg.connect(opts.pg, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    shutil.rmtree(work, ignore_errors=True)
    header = ("round trip", "conc.", "req/s", "p50 ms", "p99 ms", "baseline (same run)", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    bare_line = ", ".join(
        f"c={c}: {v[0]:,.0f} req/s p50 {v[1]:.2f} ms p99 {v[2]:.2f} ms" for c, v in bare_rps.items()
    )
    print(f"\nbare Starlette: {bare_line}")
    print("pgbench one-insert: " + ", ".join(f"c={c}: {v:,.0f} tps" for c, v in pg_tps.items()))
    ours = {int(r[1]): float(r[2].replace(",", "")) for r in rows if r[0] == "insert postgres"}
    print(
        "insert postgres / bare Starlette + psycopg INSERT (the floor): "
        + ", ".join(f"c={c}: {ours[c] / floor_rps[c][0]:.0%}" for c in ours)
    )


if __name__ == "__main__":
    main()
