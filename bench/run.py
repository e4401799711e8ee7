"""Side-by-side benchmark of Tern, tonic, grpc-go and grpcio in one run.

Usage: python bench/run.py [--seconds 5] [--servers tern,tonic,...] [--scenarios a,b] [--skip-build]
       python bench/run.py --check   # the test command's run: one scenario of each kind, debug
                                     # builds of freshly cleaned programs, 1 s each, no RESULTS.md
       python bench/run.py --check   # the test command's smoke run: one scenario of each kind,
                                     # debug builds, 1 s each, figures not written anywhere

Three kinds of scenario, each server pinned to core 0 and the load to core 1, one at a time:
- unary: the tutorial's hello.Hello/SayHello driven by h2load (calls/s, server CPU per call from
  /proc, peak RSS) and then by `tern bench` (p50/p99). Two ceilings run beside the gRPC servers:
  `h2-ceiling`, a bare server on the h2 crate that answers the same bytes with no gRPC work (what
  any server on h2, Tern and tonic included, can reach), and nghttpd answering them from a file
  (what any HTTP/2 server can reach with this load generator);
- streaming: tern.bench.Streams (bench/proto/streams.proto), server streaming of 1 KiB messages
  driven by h2load, and bidi ping-pong of 1 KiB messages driven by `tern bench`;
- client: Tern's generated client against tonic's, both driving tonic's server (calls/s and the
  client's CPU per call).
Ratios are to tonic in the same run. Writes bench/RESULTS.md. Timings never go into tests.
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
PY_SERVERS = BENCH / "servers" / "python"
PYTHON = Path(os.environ.get("TERN_PYTHON", ROOT / ".venv" / "bin" / "python"))
PROTOC_GEN_GO = "google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11"
PROTOC_GEN_GO_GRPC = "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1"
TICKS = os.sysconf("SC_CLK_TCK")

# Streaming scenarios: messages per call and their size.
STREAM_COUNT = 100
STREAM_SIZE = 1024

# New connections opened at once per h2load round in the handshake scenario.
HANDSHAKE_BATCH = 200

# name -> kind, connections, calls in flight per connection, and the kind's parameters.
SCENARIOS = {
    "unary 1x1": dict(kind="unary", conns=1, streams=1, name_len=5),
    "unary 1x64": dict(kind="unary", conns=1, streams=64, name_len=5),
    "unary 8x32": dict(kind="unary", conns=8, streams=32, name_len=5),
    "unary 256KiB request 1x8": dict(kind="unary", conns=1, streams=8, name_len=256 * 1024),
    "server streaming 1KiB 1x8": dict(kind="download", conns=1, streams=8),
    "bidi ping-pong 1KiB 1x8": dict(kind="echo", conns=1, streams=8),
    "client unary 1x64": dict(kind="client", conns=1, streams=64),
    "client unary 8x32": dict(kind="client", conns=8, streams=32),
    "unary TLS 1x64": dict(kind="unary-tls", conns=1, streams=64, name_len=5),
    "unary TLS 8x32": dict(kind="unary-tls", conns=8, streams=32, name_len=5),
    # Rounds of HANDSHAKE_BATCH new connections, each a full TLS handshake and one call.
    "new TLS connections": dict(kind="handshake", conns=HANDSHAKE_BATCH, streams=1, name_len=5),
}
# Who takes part in each kind of scenario.
PARTICIPANTS = {
    # tern+noop3: three interceptors that do nothing; tern+metrics: gRFC A66 metrics recorded
    # (intercepted-server), for what interceptors cost against plain tern.
    # tern-engine: the same hello-server on Tern's own HTTP/2 engine (TERN_HTTP2_ENGINE=tern).
    "unary": ["tern", "tern-engine", "tern+noop3", "tern+metrics", "tonic", "grpc-go", "grpcio",
              "h2-ceiling", "nghttpd"],
    "download": ["tern", "tern-engine", "tonic", "grpc-go", "grpcio"],
    "echo": ["tern", "tonic", "grpc-go", "grpcio"],
    # The clients, all driving tonic's server.
    "client": ["tern", "tonic"],
    # TLS: rustls with ring on both, the same generated ECDSA P-256 certificate.
    "unary-tls": ["tern", "tonic"],
    "handshake": ["tern", "tonic"],
}
TLS_KINDS = {"unary-tls", "handshake"}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


class Build:
    """Where the programs of one run are built: the cargo profile and its output directories."""

    def __init__(self, profile):
        self.profile = profile
        out = "release" if profile == "release" else "debug"
        self.tern = ROOT / "target" / out
        self.tonic = BENCH / "servers" / "tonic" / "target" / out


def programs(build, servers, kinds):
    """Every program a run of these servers (and clients) in these kinds of scenario executes,
    with the participant that needs it."""
    needed = []
    for kind in kinds:
        for server in [s for s in PARTICIPANTS[kind] if s in servers]:
            if kind == "client":
                needed.append((server, build.tonic / "tonic-hello"))
                needed.append((server, {"tern": build.tern / "tern-load",
                                        "tonic": build.tonic / "tonic-load"}[server]))
                continue
            command = server_command(build, server, kind, 0, Path("htdocs"), CERTS_PLACEHOLDER)
            if server not in ("grpcio", "nghttpd"):
                # `env VAR=value program ...` runs `program`.
                program = next(c for c in command if c != "env" and "=" not in c)
                needed.append((server, Path(program)))
            if kind in TLS_KINDS:
                needed.append((server, build.tern / "test-certs"))
            if kind in ("unary", "unary-tls", "echo", "download") and server != "nghttpd":
                # The latency pass (and the bidi driver) is `tern bench`.
                needed.append((server, build.tern / "tern"))
    return needed


# Where server_command puts certificate paths when only the program's name is wanted.
CERTS_PLACEHOLDER = {"cert": Path("server.pem"), "key": Path("server.key"), "ca": Path("ca.pem")}


def setup(build, servers, kinds):
    """Installs the load generator, nghttpd and protoc (Debian) and the Python peer (PyPI) when
    this run needs them, and builds every program it runs."""
    tools = {"h2load"} if ({"unary", "download"} | TLS_KINDS) & set(kinds) else set()
    if "nghttpd" in servers and "unary" in kinds:
        tools.add("nghttpd")
    if "grpc-go" in servers or "tonic" in servers or "client" in kinds:
        # tonic-build and the Go plugins both run protoc.
        tools.add("protoc")
    missing = [tool for tool in sorted(tools) if not shutil.which(tool)]
    if missing:
        packages = {"h2load": "nghttp2-client", "nghttpd": "nghttp2-server",
                    "protoc": "protobuf-compiler"}
        print(f"installing {missing} from Debian's packages", flush=True)
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq"] + [packages[t] for t in missing],
            stdout=subprocess.DEVNULL)
    if "grpcio" in servers:
        if subprocess.run([str(PYTHON), "-c", "import grpc, grpc_tools"],
                          capture_output=True).returncode != 0:
            print("creating .venv with grpcio (scripts/requirements.txt)", flush=True)
            run([sys.executable, "-m", "venv", str(ROOT / ".venv")])
            run([str(ROOT / ".venv" / "bin" / "pip"), "install", "--quiet",
                 "--disable-pip-version-check", "-r", str(ROOT / "scripts" / "requirements.txt")])
        for proto_dir, proto, out in ((ROOT / "examples" / "hello" / "proto", "hello.proto",
                                       ROOT / "examples" / "hello" / "python"),
                                      (BENCH / "proto", "streams.proto", PY_SERVERS)):
            run([str(PYTHON), "-m", "grpc_tools.protoc", "-I", str(proto_dir),
                 f"--python_out={out}", f"--grpc_python_out={out}", proto], cwd=proto_dir)
    profile = ["--profile", build.profile]
    if {"tern", "h2-ceiling"} & set(servers) or {"unary", "echo", "download"} & set(kinds) \
            or TLS_KINDS & set(kinds):
        print(f"building tern ({build.profile})", flush=True)
        # Every binary of the three packages: naming some with --bin would build only those
        # (the streams server, tern-load and h2-ceiling were once left out that way).
        run(["cargo", "build", "--quiet", *profile, "-p", "hello", "-p", "tern-cli",
             "-p", "tern-bench", "--bins"], cwd=ROOT)
        # The TLS scenarios' certificates are made for each run.
        run(["cargo", "build", "--quiet", *profile, "-p", "tern-tests", "--bin", "test-certs"],
            cwd=ROOT)
    if "tonic" in servers or "client" in kinds:
        print(f"building tonic ({build.profile})", flush=True)
        run(["cargo", "build", "--quiet", *profile, "--bins", "--manifest-path",
             str(BENCH / "servers" / "tonic" / "Cargo.toml")])
    if "grpc-go" in servers:
        build_go()


def build_go():
    print("building grpc-go", flush=True)
    gobin = TOOLS / "bin"
    env = dict(os.environ, GOBIN=str(gobin))
    for tool in (PROTOC_GEN_GO, PROTOC_GEN_GO_GRPC):
        if not (gobin / tool.split("/")[-1].split("@")[0]).exists():
            run(["go", "install", tool], env=env)
    go_dir = BENCH / "servers" / "go"
    for proto_dir, proto, package in ((ROOT / "examples" / "hello" / "proto", "hello.proto",
                                       "hellopb"),
                                      (BENCH / "proto", "streams.proto", "benchpb")):
        (go_dir / package).mkdir(exist_ok=True)
        opts = f"M{proto}=tern.bench/hello/{package}"
        run(["protoc", "-I", str(proto_dir),
             f"--plugin=protoc-gen-go={gobin / 'protoc-gen-go'}",
             f"--plugin=protoc-gen-go-grpc={gobin / 'protoc-gen-go-grpc'}",
             f"--go_out={package}", "--go_opt=paths=source_relative", f"--go_opt={opts}",
             f"--go-grpc_out={package}", "--go-grpc_opt=paths=source_relative",
             f"--go-grpc_opt={opts}", proto], cwd=go_dir)
    run(["go", "build", "-o", str(TOOLS / "go-hello"), "."], cwd=go_dir)


def check_programs(build, servers, kinds):
    """Stops the run before it starts when a program it needs was not built."""
    absent = [(who, path) for who, path in programs(build, servers, kinds) if not path.exists()]
    if absent:
        lines = "\n".join(f"  {path} (for {who})" for who, path in sorted(set(absent)))
        raise SystemExit(f"bench/run.py: these programs are missing; the build step did not "
                         f"make them:\n{lines}")


def server_command(build, name, kind, port, htdocs, certs=None):
    """The server `name` serving the scenario kind's service on `port` (over TLS with `certs`
    in the TLS kinds)."""
    release = build.tern
    tonic = [str(build.tonic / "tonic-hello"), f"127.0.0.1:{port}"]
    if kind == "client":
        return tonic
    if kind in TLS_KINDS:
        return {
            "tern": [str(release / "hello-server"), "--addr", f"127.0.0.1:{port}",
                     "--tls-cert", str(certs["cert"]), "--tls-key", str(certs["key"])],
            "tonic": tonic + [str(certs["cert"]), str(certs["key"])],
        }[name]
    streams = kind in ("download", "echo")
    return {
        "tern": ([str(release / "streams-server"), f"127.0.0.1:{port}"] if streams else
                 [str(release / "hello-server"), "--addr", f"127.0.0.1:{port}"]),
        "tonic": tonic,
        "grpc-go": [str(TOOLS / "go-hello"), f"127.0.0.1:{port}"],
        "grpcio": ([str(PYTHON), str(PY_SERVERS / "streams_server.py"), f"127.0.0.1:{port}"]
                   if streams else
                   [str(PYTHON), str(ROOT / "examples" / "hello" / "python" / "greeter_server.py"),
                    "--addr", f"127.0.0.1:{port}"]),
        "h2-ceiling": [str(release / "h2-ceiling"), f"127.0.0.1:{port}"],
        "tern-engine": ["env", "TERN_HTTP2_ENGINE=tern"]
                       + ([str(release / "streams-server"), f"127.0.0.1:{port}"] if streams else
                          [str(release / "hello-server"), "--addr", f"127.0.0.1:{port}"]),
        "tern+noop3": [str(release / "intercepted-server"), f"127.0.0.1:{port}", "noop3"],
        "tern+metrics": [str(release / "intercepted-server"), f"127.0.0.1:{port}", "metrics"],
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
    rate = re.search(r"finished in ([\d.]+)m?s, ([\d.]+) req/s", output)
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


def download_request():
    """DownloadRequest{count, size}."""
    return b"\x08" + varint(STREAM_COUNT) + b"\x10" + varint(STREAM_SIZE)


def chunk():
    """Chunk{data} of STREAM_SIZE bytes."""
    return b"\x0a" + varint(STREAM_SIZE) + bytes(STREAM_SIZE)


def start_server(command, port, log):
    proc = subprocess.Popen(["taskset", "-c", "0"] + command, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
    except RuntimeError:
        proc.kill()
        raise
    return proc


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def h2load(opts, port, path, request, conns, streams, tls=False, total=None):
    """h2load for the run's duration, or for `total` calls; TLS (ALPN h2) when `tls`."""
    seconds = opts.seconds
    warmup = ["--warm-up-time", str(opts.warmup)] if opts.warmup else []
    length = ["-n", str(total)] if total else ["-D", str(seconds), *warmup]
    scheme = "https" if tls else "http"
    load = ["taskset", "-c", "1", "h2load", "-t", "1", "-c", str(conns), "-m", str(streams),
            *length, "-d", str(request),
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            f"{scheme}://127.0.0.1:{port}{path}"]
    out = subprocess.run(load, capture_output=True, text=True, timeout=seconds + 60)
    return parse_h2load(out.stdout + out.stderr)


def handshakes(opts, port, request):
    """Rounds of HANDSHAKE_BATCH fresh TLS connections with one call each, for the run's
    duration: connections per second, and the calls that failed."""
    done, failed, started = 0, 0, time.monotonic()
    while time.monotonic() - started < opts.seconds:
        r = h2load(opts, port, "/hello.Hello/SayHello", request, HANDSHAKE_BATCH, 1, tls=True,
                   total=HANDSHAKE_BATCH)
        done += r["calls"]
        failed += r["failed"]
    wall = time.monotonic() - started
    return {"calls": done, "failed": failed, "rate": done / wall, "messages": done,
            "mean_us": float("nan")}


def tern_bench(opts, port, call, proto, payload, conns, streams, stream_messages=1, ca=None):
    seconds = opts.seconds
    tls = ["--cacert", str(ca), "--servername", "localhost"] if ca else []
    command = ["taskset", "-c", "1", str(opts.build.tern / "tern"), "bench",
               f"127.0.0.1:{port}", *tls, "--call", call, "--proto", str(proto),
               "-I", str(proto.parent), "--data-bin", str(payload),
               "--connections", str(conns), "-c", str(conns * streams),
               "--stream-messages", str(stream_messages),
               "-z", f"{seconds}s", "--warmup", f"{opts.warmup}s", "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"tern bench failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def make_certs(build, workdir):
    """A CA and a server certificate (for localhost and 127.0.0.1) made for this run."""
    out = workdir / "certs"
    if not (out / "server.pem").exists():
        run([str(build.tern / "test-certs"), str(out)])
    return {"cert": out / "server.pem", "key": out / "server.key", "ca": out / "ca.pem"}


def measure(opts, server, scenario, workdir):
    """One server (or, for client scenarios, one client) in one scenario."""
    seconds = opts.seconds
    spec = SCENARIOS[scenario]
    kind, conns, streams = spec["kind"], spec["conns"], spec["streams"]
    tls = kind in TLS_KINDS
    certs = make_certs(opts.build, workdir) if tls else None
    port = free_port()
    log = open(workdir / f"{server}.log", "w")
    proc = start_server(server_command(opts.build, server, kind, port, workdir / "htdocs",
                                       certs), port, log)
    try:
        # CPU is read around the whole load run, which starts with the warm-up, and scaled by
        # the measured share.
        before = cpu_seconds(proc.pid)
        started = time.monotonic()
        if kind in ("unary", "unary-tls"):
            request = workdir / f"request-{spec['name_len']}.bin"
            request.write_bytes(hello_request(spec["name_len"]))
            result = h2load(opts, port, "/hello.Hello/SayHello", request, conns, streams, tls)
            result["messages"] = result["calls"]
        elif kind == "handshake":
            request = workdir / f"request-{spec['name_len']}.bin"
            request.write_bytes(hello_request(spec["name_len"]))
            result = handshakes(opts, port, request)
        elif kind == "download":
            request = workdir / "download.bin"
            request.write_bytes(framed(download_request()))
            result = h2load(opts, port, "/tern.bench.Streams/Download", request, conns,
                            streams)
            result["messages"] = result["calls"] * STREAM_COUNT
            result["rate"] *= STREAM_COUNT
        elif kind == "echo":
            payload = workdir / "chunk.bin"
            payload.write_bytes(chunk())
            stats = tern_bench(opts, port, "tern.bench.Streams/Echo",
                               BENCH / "proto" / "streams.proto", payload, conns, streams,
                               STREAM_COUNT)
            errors = sum(stats["errors"].values())
            result = {"calls": stats["calls"], "failed": errors,
                      "rate": stats["messages"] / stats["seconds"], "messages": stats["messages"],
                      "p50_us": stats["latency_us"]["p50"], "p99_us": stats["latency_us"]["p99"]}
        else:  # client
            client = {"tern": opts.build.tern / "tern-load",
                      "tonic": opts.build.tonic / "tonic-load"}
            done = subprocess.run(["taskset", "-c", "1", str(client[server]), f"127.0.0.1:{port}",
                                   str(conns), str(conns * streams), str(seconds)],
                                  capture_output=True, text=True, timeout=seconds + 60)
            if done.returncode != 0:
                raise RuntimeError(f"{server} client failed: {done.stderr.strip()}")
            stats = json.loads(done.stdout)
            result = {"calls": stats["calls"], "failed": 0, "rate": stats["calls_per_second"],
                      "messages": stats["calls"],
                      "client_cpu_us": stats["client_cpu_us_per_call"]}
        wall = time.monotonic() - started
        after = cpu_seconds(proc.pid)
        # Rounds of handshakes count every call they made: nothing to scale.
        share = 1.0 if kind == "handshake" or wall <= 0 else seconds / wall
        cpu = (after - before) * share
        result["cpu_us_per_message"] = (cpu / result["messages"] * 1e6 if result["messages"]
                                        else float("nan"))
        # A second pass with tern bench, for latency percentiles (h2load has none).
        if kind in ("unary", "unary-tls") and server != "nghttpd":
            payload = workdir / f"payload-{spec['name_len']}.bin"
            payload.write_bytes(hello_request(spec["name_len"])[5:])
            try:
                stats = tern_bench(opts, port, "hello.Hello/SayHello",
                                   ROOT / "examples" / "hello" / "proto" / "hello.proto",
                                   payload, conns, streams, ca=certs and certs["ca"])
                result["p50_us"] = stats["latency_us"]["p50"]
                result["p99_us"] = stats["latency_us"]["p99"]
                result["tern_bench_rate"] = stats["calls_per_second"]
            except RuntimeError as e:
                print(f"  {e}", flush=True)
        elif kind == "download":
            payload = workdir / "download-payload.bin"
            payload.write_bytes(download_request())
            stats = tern_bench(opts, port, "tern.bench.Streams/Download",
                               BENCH / "proto" / "streams.proto", payload, conns, streams)
            result["p50_us"] = stats["latency_us"]["p50"]
            result["p99_us"] = stats["latency_us"]["p99"]
        result["rss_mib"] = peak_rss_mib(proc.pid)
        return result
    finally:
        stop_server(proc)
        log.close()


def versions():
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    lock = (BENCH / "servers" / "tonic" / "Cargo.lock").read_text()
    tonic = re.search(r'name = "tonic"\nversion = "([^"]+)"', lock)
    h2 = re.search(r'name = "h2"\nversion = "([^"]+)"', (ROOT / "Cargo.lock").read_text())
    grpcio = out([str(PYTHON), "-c", "import grpc; print(grpc.__version__)"])
    gomod = (BENCH / "servers" / "go" / "go.mod").read_text()
    grpc_go = re.search(r"google.golang.org/grpc (v[\d.]+)", gomod)
    return {
        "tern": out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "tonic": tonic.group(1) if tonic else "?",
        "h2": h2.group(1) if h2 else "?",
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


def ratio(value, base, higher_is_better=True):
    if not base or not value or value != value or base != base:
        return ""
    return f"{value / base:.2f}x" if higher_is_better else f"{base / value:.2f}x"


def percentiles(r):
    return f"{r['p50_us']:,} / {r['p99_us']:,} us" if "p50_us" in r else ""


def tables(results, scenarios, servers):
    unary = [
        "## Unary",
        "",
        "| scenario | server | calls/s (h2load) | vs tonic | server CPU per call | vs tonic "
        "| p50 / p99 (tern bench) | calls/s (tern bench) | mean latency (h2load) | peak RSS "
        "| failed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    streaming = [
        "## Streaming",
        "",
        f"Each call carries {STREAM_COUNT} messages of {STREAM_SIZE} bytes. Server streaming is "
        "driven by h2load; bidi ping-pong (each message waits for the previous answer) by "
        "`tern bench`, so its figures include that client's cost. Latency is per call.",
        "",
        "| scenario | server | messages/s | vs tonic | server CPU per message | vs tonic "
        "| p50 / p99 per call (tern bench) | peak RSS | failed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    client = [
        "## Clients",
        "",
        "Tern's generated client (`bench/tern`'s tern-load) and tonic's (`tonic-load`), the same "
        "loop of typed SayHello calls, each driving tonic's server on the other core.",
        "",
        "| scenario | client | calls/s | vs tonic | client CPU per call | vs tonic "
        "| tonic server's CPU per call | failed |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    secure = [
        "## TLS",
        "",
        "Tern and tonic, both on rustls with ring, serving the same generated ECDSA P-256 "
        "certificate; h2load (OpenSSL) negotiates h2 by ALPN. \"new TLS connections\" opens "
        f"rounds of {HANDSHAKE_BATCH} connections at once, each a full handshake and one call: "
        "its CPU column is the server's cost of one new connection.",
        "",
        "| scenario | server | calls or connections/s | vs tonic | server CPU per call or "
        "connection | vs tonic | p50 / p99 (tern bench) | peak RSS | failed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        kind = SCENARIOS[scenario]["kind"]
        base = results.get(("tonic", scenario))
        for server in [s for s in PARTICIPANTS[kind] if s in servers]:
            r = results.get((server, scenario))
            table = {"unary": unary, "download": streaming, "echo": streaming,
                     "client": client, "unary-tls": secure, "handshake": secure}[kind]
            if r is None:
                table.append(f"| {scenario} | {server} | failed | | | | | | |")
                continue
            rate = ratio(r["rate"], base and base["rate"])
            cpu = ratio(r["cpu_us_per_message"], base and base["cpu_us_per_message"], False)
            if kind == "unary":
                tern_rate = f"{r['tern_bench_rate']:,.0f}" if "tern_bench_rate" in r else ""
                unary.append(
                    f"| {scenario} | {server} | {r['rate']:,.0f} | {rate} | "
                    f"{r['cpu_us_per_message']:.2f} us | {cpu} | {percentiles(r)} | {tern_rate} | "
                    f"{r['mean_us']:,.0f} us | {r['rss_mib']:.1f} MiB | {r['failed']} |")
            elif kind in TLS_KINDS:
                secure.append(
                    f"| {scenario} | {server} | {r['rate']:,.0f} | {rate} | "
                    f"{r['cpu_us_per_message']:.1f} us | {cpu} | {percentiles(r)} | "
                    f"{r['rss_mib']:.1f} MiB | {r['failed']} |")
            elif kind == "client":
                client_cpu = ratio(r["client_cpu_us"], base and base["client_cpu_us"], False)
                client.append(
                    f"| {scenario} | {server} | {r['rate']:,.0f} | {rate} | "
                    f"{r['client_cpu_us']:.2f} us | {client_cpu} | "
                    f"{r['cpu_us_per_message']:.2f} us | {r['failed']} |")
            else:
                streaming.append(
                    f"| {scenario} | {server} | {r['rate']:,.0f} | {rate} | "
                    f"{r['cpu_us_per_message']:.2f} us | {cpu} | {percentiles(r)} | "
                    f"{r['rss_mib']:.1f} MiB | {r['failed']} |")
    out = []
    for table, header_lines in ((unary, 4), (streaming, 6), (client, 6), (secure, 6)):
        if len(table) > header_lines:
            out += table + [""]
    return out


# `--check`: the smallest run that still starts every kind of program the harness has.
CHECK_SCENARIOS = ["unary 1x64", "server streaming 1KiB 1x8", "bidi ping-pong 1KiB 1x8",
                   "client unary 1x64", "unary TLS 1x64", "new TLS connections"]
CHECK_SERVERS = ["tern", "tonic", "h2-ceiling"]


def clean_programs(build):
    """Removes what cargo built of the harness's own packages, so the run must build them again:
    a program the build step forgets is then missing, as on a fresh clone."""
    print("cleaning the harness's programs", flush=True)
    run(["cargo", "clean", "--quiet", "--profile", build.profile, "-p", "hello", "-p", "tern-cli",
         "-p", "tern-bench"], cwd=ROOT)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per load run")
    parser.add_argument("--servers",
                        default="tern,tern-engine,tern+noop3,tern+metrics,tonic,grpc-go,grpcio,"
                        "h2-ceiling,nghttpd",
                        help="servers (and, in client scenarios, clients) to run")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--profile", default="release", choices=["release", "dev"],
                        help="cargo profile of the Rust programs (dev only for --check)")
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--check", action="store_true",
                        help="one scenario of each kind, tern, tonic and h2-ceiling, dev builds "
                        "of freshly cleaned programs, 1 s each; exits non-zero if any fails")
    args = parser.parse_args()
    if args.check:
        args.seconds, args.warmup, args.profile = 1, 0, "dev"
        args.servers, args.scenarios = ",".join(CHECK_SERVERS), ",".join(CHECK_SCENARIOS)
        args.out = ROOT / "target" / "bench-check" / "RESULTS.md"
    servers = args.servers.split(",")
    scenarios = args.scenarios.split(",")
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    kinds = sorted({SCENARIOS[s]["kind"] for s in scenarios})
    args.build = Build(args.profile)
    if args.check:
        clean_programs(args.build)
    if not args.skip_build:
        setup(args.build, servers, kinds)
    check_programs(args.build, servers, kinds)

    results, failures = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        htdocs = workdir / "htdocs" / "hello.Hello"
        htdocs.mkdir(parents=True)
        (htdocs / "SayHello").write_bytes(framed(b"\x0a\x0ehello world 18"))
        for scenario in scenarios:
            kind = SCENARIOS[scenario]["kind"]
            for server in [s for s in PARTICIPANTS[kind] if s in servers]:
                print(f"{scenario}: {server}", flush=True)
                try:
                    result = measure(args, server, scenario, workdir)
                except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                    failures[(server, scenario)] = str(e)
                    print(f"  failed: {e}", flush=True)
                    continue
                results[(server, scenario)] = result
                if not result["calls"] or result["failed"]:
                    why = f"{result['failed']} of {result['calls'] + result['failed']} calls failed"
                    failures[(server, scenario)] = why
                    print(f"  failed: {why}", flush=True)

    lines = [
        "# Benchmark results",
        "",
        f"Command: `{' '.join(['python', 'bench/run.py'] + sys.argv[1:])}`, "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}. Each server pinned to core 0 (`taskset -c 0`), the load to core 1,",
        "one server at a time. Unary scenarios call the tutorial's `hello.Hello/SayHello`; "
        "streaming ones `tern.bench.Streams` (bench/proto/streams.proto). Two ceilings answer "
        "the unary call's bytes with no gRPC work: `h2-ceiling` on the h2 crate that Tern and "
        "tonic both stand on (bench/tern/src/bin/h2-ceiling.rs), and nghttpd from a file (no "
        "trailers), the ceiling of any HTTP/2 server driven by this load generator here. "
        "`tern-engine` is the same Tern server on Tern's own HTTP/2 engine "
        "(`TERN_HTTP2_ENGINE=tern`) instead of h2. "
        "`tern+noop3` is Tern's server with three interceptors that do nothing but observe "
        "every message and status, `tern+metrics` with gRFC A66 metrics recorded "
        "(bench/tern/src/bin/intercepted-server.rs): their CPU per call against `tern`'s is "
        "what interceptors cost.",
        "",
        "Versions: " + "; ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        "",
        "\"vs tonic\" is a speed-up: a rate divided by tonic's, or tonic's CPU time divided by "
        "this one's (above 1 is better than tonic). CPU time comes from /proc around the load "
        "run; unary throughput and CPU from h2load, percentiles from a second pass with "
        "`tern bench` at the same concurrency.",
        "",
    ]
    lines += tables(results, scenarios, servers)
    if failures:
        lines += ["## Failed runs", ""]
        lines += [f"- {scenario}, {server}: {why}" for (server, scenario), why in failures.items()]
        lines.append("")
    report = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print()
    print(report)
    if failures:
        print(f"bench/run.py: {len(failures)} run(s) failed:", file=sys.stderr)
        for (server, scenario), why in failures.items():
            print(f"  {scenario}, {server}: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
