"""Runs the gRPC interop test matrix: every case, in both directions, between Tern and each peer
(grpc-go, grpc-java, and grpcio and grpc-js drivers of our own), plus Tern against Tern.

Usage: python interop/run.py [--pairs tern:go,go:tern,...] [--cases a,b] [--skip-install]
A pair is CLIENT:SERVER. Prints a table of case x pair -> pass / FAIL / n/a and exits non-zero
if any cell failed. n/a is never a pass: it marks a case that the client implementation does not
have, or that the server implementation does not serve (each with its reason below).
"""
import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "interop" / ".peers" / "bin"
LOGS = ROOT / "target" / "interop-logs"
PYTHON = Path(os.environ.get("TERN_PYTHON", ROOT / ".venv" / "bin" / "python"))

CASES = [
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "rpc_soak",
    "channel_soak",
]

COMPRESSION_CASES = {
    "client_compressed_unary",
    "server_compressed_unary",
    "client_compressed_streaming",
    "server_compressed_streaming",
}

# The cases each client implementation has. grpc-go's interop client has no compression cases;
# our grpcio driver has what grpcio's public API can express.
CLIENT_CASES = {
    "tern": set(CASES),
    "java": set(CASES),
    "go": set(CASES) - COMPRESSION_CASES,
    "python": set(CASES)
    - {
        "server_compressed_unary",
        "client_compressed_streaming",
        "server_compressed_streaming",
        "rpc_soak",
        "channel_soak",
    },
    "node": set(CASES) - COMPRESSION_CASES - {"rpc_soak", "channel_soak"},
}

# Cases a server implementation does not serve, and why.
SERVER_GAPS = {
    "go": {
        case: "grpc-go's interop server registers no gzip codec and checks no expect_compressed"
        for case in COMPRESSION_CASES
    },
    "java": {
        "client_compressed_unary": "grpc-java's server cannot see per-message compression "
        "(its own client skips the probe)",
        "client_compressed_streaming": "grpc-java's server cannot see per-message compression "
        "(its own client skips the probe)",
        "server_compressed_streaming": "grpc-java's server does not compress single messages "
        "on request",
    },
    "python": {
        case: "grpcio's server API cannot see or set per-message compression"
        for case in COMPRESSION_CASES
    },
    "node": {
        case: "grpc-js's server API cannot see or set per-message compression"
        for case in COMPRESSION_CASES
    },
}

DEFAULT_PAIRS = [
    ("tern", "tern"),
    ("go", "tern"),
    ("java", "tern"),
    ("python", "tern"),
    ("node", "tern"),
    ("tern", "go"),
    ("tern", "java"),
    ("tern", "python"),
    ("tern", "node"),
]


def server_command(impl, port):
    return {
        "tern": [str(ROOT / "target" / "debug" / "interop-server"), f"--port={port}",
                 "--host=127.0.0.1"],
        "go": [str(PEERS / "go-interop-server"), f"--port={port}"],
        "java": [str(PEERS / "java-interop-server"), f"--port={port}", "--use_tls=false"],
        "python": [str(PYTHON), str(ROOT / "interop" / "python" / "interop_server.py"),
                   f"--port={port}"],
        "node": ["node", str(ROOT / "interop" / "node" / "interop_server.js"), f"--port={port}"],
    }[impl]


def client_command(impl, port, case):
    flags = ["--server_host=127.0.0.1", f"--server_port={port}", f"--test_case={case}",
             "--use_tls=false"]
    if impl == "java":
        flags.append("--use_test_ca=false")
    if impl in ("java", "go") and case in ("rpc_soak", "channel_soak"):
        # The soak cases fail any call slower than 1 s by default; a JVM's first calls on a
        # loaded 2-core CI machine can take longer, which says nothing about the server.
        flags.append("--soak_per_iteration_max_acceptable_latency_ms=10000")
    return {
        "tern": [str(ROOT / "target" / "debug" / "interop-client")],
        "go": [str(PEERS / "go-interop-client")],
        "java": [str(PEERS / "java-interop-client")],
        "python": [str(PYTHON), str(ROOT / "interop" / "python" / "interop_client.py")],
        "node": ["node", str(ROOT / "interop" / "node" / "interop_client.js")],
    }[impl] + flags


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, server, limit=60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start listening")


def run_pair(client, server, cases, results):
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    server_log = open(LOGS / f"server-{server}-for-{client}.log", "w")
    proc = subprocess.Popen(server_command(server, port), stdout=server_log,
                            stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        for case in cases:
            key = (case, f"{client}->{server}")
            if case not in CLIENT_CASES[client]:
                results[key] = ("n/a", f"{client}'s interop client has no {case}")
                continue
            gap = SERVER_GAPS.get(server, {}).get(case)
            if gap:
                results[key] = ("n/a", gap)
                continue
            try:
                done = subprocess.run(client_command(client, port, case), capture_output=True,
                                      text=True, timeout=120)
                ok = done.returncode == 0
                output = done.stdout + done.stderr
            except subprocess.TimeoutExpired as e:
                ok = False
                output = f"timed out after {e.timeout} s\n{e.stdout or ''}{e.stderr or ''}"
            results[key] = ("pass", "") if ok else ("FAIL", output.strip()[-2000:])
            if not ok:
                (LOGS / f"{case}-{client}-{server}.log").write_text(output)
            if proc.poll() is not None:
                raise RuntimeError(f"server {server} died during {case}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        server_log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", help="comma-separated CLIENT:SERVER pairs")
    parser.add_argument("--cases", help="comma-separated cases")
    parser.add_argument("--skip-install", action="store_true",
                        help="the peers are installed already (interop/peers/install.sh)")
    args = parser.parse_args()
    pairs = DEFAULT_PAIRS
    if args.pairs:
        pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]
    cases = args.cases.split(",") if args.cases else CASES

    if not args.skip_install:
        subprocess.run([str(ROOT / "interop" / "peers" / "install.sh")], check=True)
    subprocess.run([str(ROOT / "interop" / "python" / "gen_stubs.sh"), str(PYTHON)], check=True)
    subprocess.run(["cargo", "build", "--quiet", "-p", "tern-interop", "--bins"], cwd=ROOT,
                   check=True)

    results = {}
    for client, server in pairs:
        print(f"running {client} client -> {server} server", flush=True)
        try:
            run_pair(client, server, cases, results)
        except RuntimeError as e:
            for case in cases:
                results.setdefault((case, f"{client}->{server}"), ("FAIL", str(e)))

    columns = [f"{c}->{s}" for c, s in pairs]
    width = max(len(c) for c in cases)
    print()
    print("case".ljust(width) + "  " + "  ".join(c.ljust(13) for c in columns))
    for case in cases:
        cells = [results[(case, col)][0].ljust(13) for col in columns]
        print(case.ljust(width) + "  " + "  ".join(cells))
    counts = {"pass": 0, "FAIL": 0, "n/a": 0}
    for outcome, _ in results.values():
        counts[outcome] += 1
    print()
    reasons = sorted({why for outcome, why in results.values() if outcome == "n/a"})
    if reasons:
        print("n/a (not counted as passes):")
        for why in reasons:
            print(f"  - {why}")
    failures = [(key, why) for key, (outcome, why) in sorted(results.items())
                if outcome == "FAIL"]
    for (case, col), why in failures:
        print(f"\nFAILED {case} {col}:\n{why}")
    # n/a cells are reported as skipped: they are not passes.
    print(f"\ninterop: {counts['pass']} passed, {counts['FAIL']} failed, "
          f"{counts['n/a']} skipped")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
