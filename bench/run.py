"""Side-by-side benchmark of the tutorial's Hello service on Tern, tonic, grpc-go and grpcio, with
nghttpd answering the same bytes statically as the ceiling of any HTTP/2 server here.

Usage: python bench/run.py [--seconds 5] [--servers tern,tonic,...] [--scenarios a,b]
Each server runs pinned to core 0 and h2load to core 1, one server at a time, in the same run.
Figures per server and scenario: calls/s, h2load's mean and max latency, server CPU time per call
(from /proc, the fairest figure on a 2-core machine), peak RSS; and the ratios to tonic. Writes
bench/RESULTS.md. Timings never go into tests: this runs on demand.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TOOLS = BENCH / ".tools"
PYTHON = Path(os.environ.get("TERN_PYTHON", ROOT / ".venv" / "bin" / "python"))
PROTOC_GEN_GO = "google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11"
PROTOC_GEN_GO_GRPC = "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1"
TICKS = os.sysconf("SC_CLK_TCK")

# name -> (h2load connections, streams in flight per connection, request name length)
SCENARIOS = {
    "unary 1x1": (1, 1, 5),
    "unary 1x64": (1, 64, 5),
    "unary 8x32": (8, 32, 5),
    "unary 256KiB request 1x8": (1, 8, 256 * 1024),
}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def setup():
    """Installs the load generator, nghttpd and protoc (Debian), and builds every server."""
    missing = [tool for tool in ("h2load", "nghttpd", "protoc") if not shutil.which(tool)]
    if missing:
        print(f"installing {missing} from Debian's packages", flush=True)
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", "nghttp2-client", "nghttp2-server",
             "protobuf-compiler"])
    print("building tern", flush=True)
    run(["cargo", "build", "--release", "--quiet", "-p", "hello", "--bin", "hello-server",
         "-p", "tern-cli", "--bin", "tern"], cwd=ROOT)
    print("building tonic", flush=True)
    run(["cargo", "build", "--release", "--quiet", "--manifest-path",
         str(BENCH / "servers" / "tonic" / "Cargo.toml")])
    print("building grpc-go", flush=True)
    gobin = TOOLS / "bin"
    env = dict(os.environ, GOBIN=str(gobin))
    for tool in (PROTOC_GEN_GO, PROTOC_GEN_GO_GRPC):
        if not (gobin / tool.split("/")[-1].split("@")[0]).exists():
            run(["go", "install", tool], env=env)
    go_dir = BENCH / "servers" / "go"
    (go_dir / "hellopb").mkdir(exist_ok=True)
    opts = "Mhello.proto=tern.bench/hello/hellopb"
    run(["protoc", "-I", str(ROOT / "examples" / "hello" / "proto"),
         f"--plugin=protoc-gen-go={gobin / 'protoc-gen-go'}",
         f"--plugin=protoc-gen-go-grpc={gobin / 'protoc-gen-go-grpc'}",
         "--go_out=hellopb", "--go_opt=paths=source_relative", f"--go_opt={opts}",
         "--go-grpc_out=hellopb", "--go-grpc_opt=paths=source_relative", f"--go-grpc_opt={opts}",
         "hello.proto"], cwd=go_dir)
    run(["go", "build", "-o", str(TOOLS / "go-hello"), "."], cwd=go_dir)


def server_command(name, port, htdocs):
    return {
        "tern": [str(ROOT / "target" / "release" / "hello-server"), "--addr",
                 f"127.0.0.1:{port}"],
        "tonic": [str(BENCH / "servers" / "tonic" / "target" / "release" / "tonic-hello"),
                  f"127.0.0.1:{port}"],
        "grpc-go": [str(TOOLS / "go-hello"), f"127.0.0.1:{port}"],
        "grpcio": [str(PYTHON), str(ROOT / "examples" / "hello" / "python" / "greeter_server.py"),
                   "--addr", f"127.0.0.1:{port}"],
        "nghttpd": ["nghttpd", "--no-tls", "-d", str(htdocs), str(port)],
    }[name]


def framed(payload):
    return b"\0" + struct.pack(">I", len(payload)) + payload


def varint(n):
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append(n & 0x7F | 0x80)
        n >>= 7


def hello_request(name_len):
    name = b"w" * name_len
    return framed(b"\x0a" + varint(len(name)) + name + b"\x10\x12")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc):
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def cpu_seconds(pid):
    """User plus system CPU time of a process and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def parse_h2load(output):
    done = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored", output)
    rate = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", output)
    lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", output)
    if not (done and rate and lat):
        raise RuntimeError(f"unexpected h2load output:\n{output}")

    def us(text):
        for unit, scale in (("us", 1), ("ms", 1000), ("s", 1_000_000)):
            if text.endswith(unit):
                return float(text[: -len(unit)]) * scale
        return float("nan")

    return {
        "calls": int(done.group(1)),
        "failed": int(done.group(2)) + int(done.group(3)),
        "rate": float(rate.group(2)),
        "mean_us": us(lat.group(3)),
        "max_us": us(lat.group(2)),
    }


def measure(server, scenario, seconds, workdir):
    conns, streams, name_len = SCENARIOS[scenario]
    request = workdir / f"request-{name_len}.bin"
    request.write_bytes(hello_request(name_len))
    port = free_port()
    log = open(workdir / f"{server}.log", "w")
    proc = subprocess.Popen(["taskset", "-c", "0"] + server_command(server, port, workdir / "htdocs"),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        load = ["taskset", "-c", "1", "h2load", "-t", "1", "-c", str(conns), "-m", str(streams),
                "-D", str(seconds), "--warm-up-time", "1", "-d", str(request),
                "-H", "content-type: application/grpc", "-H", "te: trailers",
                f"http://127.0.0.1:{port}/hello.Hello/SayHello"]
        # The warm-up second is not counted in the calls; CPU is read around the whole run and
        # scaled by the measured share.
        before = cpu_seconds(proc.pid)
        started = time.monotonic()
        out = subprocess.run(load, capture_output=True, text=True, timeout=seconds + 60)
        wall = time.monotonic() - started
        after = cpu_seconds(proc.pid)
        result = parse_h2load(out.stdout + out.stderr)
        measured_share = seconds / wall if wall > 0 else 1.0
        cpu = (after - before) * measured_share
        result["cpu_us_per_call"] = cpu / result["calls"] * 1e6 if result["calls"] else float("nan")
        # A second pass with tern bench, for latency percentiles (h2load has none).
        tern_bench = ["taskset", "-c", "1", str(ROOT / "target" / "release" / "tern"), "bench",
                      f"127.0.0.1:{port}", "--call", "hello.Hello/SayHello",
                      "--proto", str(ROOT / "examples" / "hello" / "proto" / "hello.proto"),
                      "-I", str(ROOT / "examples" / "hello" / "proto"),
                      "--data-bin", str(workdir / f"payload-{name_len}.bin"),
                      "--connections", str(conns), "-c", str(conns * streams),
                      "-z", f"{seconds}s", "--warmup", "1s", "--format", "json"]
        (workdir / f"payload-{name_len}.bin").write_bytes(hello_request(name_len)[5:])
        if server != "nghttpd":
            done = subprocess.run(tern_bench, capture_output=True, text=True, timeout=seconds + 60)
            if done.returncode == 0:
                stats = json.loads(done.stdout)
                result["p50_us"] = stats["latency_us"]["p50"]
                result["p99_us"] = stats["latency_us"]["p99"]
                result["tern_bench_rate"] = stats["calls_per_second"]
        result["rss_mib"] = peak_rss_mib(proc.pid)
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def versions():
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    lock = (BENCH / "servers" / "tonic" / "Cargo.lock").read_text()
    tonic = re.search(r'name = "tonic"\nversion = "([^"]+)"', lock)
    grpcio = out([str(PYTHON), "-c", "import grpc; print(grpc.__version__)"])
    gomod = (BENCH / "servers" / "go" / "go.mod").read_text()
    grpc_go = re.search(r"google.golang.org/grpc (v[\d.]+)", gomod)
    return {
        "tern": out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "tonic": tonic.group(1) if tonic else "?",
        "grpc-go": grpc_go.group(1) if grpc_go else "?",
        "grpcio": grpcio,
        "nghttp2 (h2load, nghttpd)": out(["h2load", "--version"]).split("\n")[0],
        "rustc": out(["rustc", "--version"]),
        "go": out(["go", "version"]),
    }


def machine():
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--servers", default="tern,tonic,grpc-go,grpcio,nghttpd")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    servers = args.servers.split(",")
    scenarios = args.scenarios.split(",")
    if not args.skip_build:
        setup()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        htdocs = workdir / "htdocs" / "hello.Hello"
        htdocs.mkdir(parents=True)
        (htdocs / "SayHello").write_bytes(framed(b"\x0a\x0ehello world 18"))
        for scenario in scenarios:
            for server in servers:
                print(f"{scenario}: {server}", flush=True)
                try:
                    results[(server, scenario)] = measure(server, scenario, args.seconds, workdir)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print(f"  failed: {e}", flush=True)

    lines = [
        "# Benchmark results",
        "",
        f"Command: `python bench/run.py --seconds {args.seconds}`, "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}. Each server pinned to core 0 (`taskset -c 0`), h2load to core 1,",
        "one server at a time. The service is the tutorial's `hello.Hello/SayHello`; nghttpd "
        "answers the same response bytes from a file (no gRPC trailers): the ceiling of any "
        "HTTP/2 server driven by this load generator here.",
        "",
        "Versions: " + "; ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        "",
        "| scenario | server | calls/s (h2load) | vs tonic | server CPU per call | vs tonic "
        "| p50 / p99 (tern bench) | calls/s (tern bench) | mean latency (h2load) | peak RSS "
        "| failed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        base = results.get(("tonic", scenario))
        for server in servers:
            r = results.get((server, scenario))
            if r is None:
                lines.append(f"| {scenario} | {server} | failed | | | | | | | |")
                continue
            rate_ratio = f"{r['rate'] / base['rate']:.2f}x" if base else ""
            cpu_ratio = (f"{base['cpu_us_per_call'] / r['cpu_us_per_call']:.2f}x"
                         if base and r["cpu_us_per_call"] else "")
            percentiles = (f"{r['p50_us']:,} / {r['p99_us']:,} us" if "p50_us" in r else "")
            tern_rate = f"{r['tern_bench_rate']:,.0f}" if "tern_bench_rate" in r else ""
            lines.append(
                f"| {scenario} | {server} | {r['rate']:,.0f} | {rate_ratio} | "
                f"{r['cpu_us_per_call']:.2f} us | {cpu_ratio} | {percentiles} | {tern_rate} | "
                f"{r['mean_us']:,.0f} us | {r['rss_mib']:.1f} MiB | {r['failed']} |")
    lines += [
        "",
        "\"vs tonic\" is a speed-up: calls/s divided by tonic's, and tonic's CPU per call divided "
        "by this server's (above 1 is better than tonic). Throughput and CPU come from the h2load "
        "pass; the percentiles from a second pass with `tern bench` at the same concurrency "
        "(nghttpd is not a gRPC server, so it has none).",
    ]
    report = "\n".join(lines) + "\n"
    (BENCH / "RESULTS.md").write_text(report)
    print()
    print(report)


if __name__ == "__main__":
    sys.exit(main())
