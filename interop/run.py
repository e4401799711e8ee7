"""Runs the gRPC interop test matrix: every case, in both directions, between Tern and each peer
(grpc-go, grpc-java, and grpcio and grpc-js drivers of our own), plus Tern against Tern.

The matrix runs three times: in cleartext; over TLS (every pair, every case, with the gRPC
project's classic test certificates, taken at run time from grpc-go's module, which grpc-java's
jar bundles too, so that Java's `--use_test_ca` trusts the same CA); and over mutual TLS between
Tern and grpc-go, grpcio and grpc-js, with certificates generated for the run by `test-certs`
(grpc-go's interop programs take no client certificate, so its side is tests/go/tlspeer, built
on grpc-go's interop package), plus a call without a client certificate that must be refused.
The TLS run adds the auth cases that need no Google server (see AUTH_CASES).

Usage: python interop/run.py [--pairs tern:go,go:tern,...] [--cases a,b] [--modes plaintext,tls,mtls]
                             [--skip-install]
A pair is CLIENT:SERVER. Prints a table of case x pair -> pass / FAIL / n/a per mode and exits
non-zero if any cell failed. n/a is never a pass: it marks a case that the client implementation
does not have, or that the server implementation does not serve (each with its reason below).
"""
import re
import shutil
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

# The auth cases that need no Google server: run over TLS, with a service account key generated
# for the run whose token_uri is a local token endpoint (tests/go/tlspeer), against servers
# that fill the response's username and oauth_scope from the call's token. Only Tern's can:
# the peers' interop servers leave that to Google's production servers.
AUTH_CASES = ["jwt_token_creds", "oauth2_auth_token", "per_rpc_creds", "service_account_creds"]
OAUTH_SCOPE = "https://www.googleapis.com/auth/xapi.zoo"

COMPRESSION_CASES = {
    "client_compressed_unary",
    "server_compressed_unary",
    "client_compressed_streaming",
    "server_compressed_streaming",
}

# The cases each client implementation has. grpc-go's interop client has no compression cases;
# our grpcio driver has what grpcio's public API can express.
CLIENT_CASES = {
    "tern": set(CASES) | set(AUTH_CASES),
    "java": set(CASES) | set(AUTH_CASES),
    "go": (set(CASES) - COMPRESSION_CASES) | set(AUTH_CASES),
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
AUTH_GAP = "{} interop server does not fill username and oauth_scope from the token (Google's " \
           "servers do)"
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
for impl, name in [("go", "grpc-go's"), ("java", "grpc-java's"), ("python", "our grpcio"),
                   ("node", "our grpc-js")]:
    SERVER_GAPS[impl].update({case: AUTH_GAP.format(name) for case in AUTH_CASES})

# Mutual TLS: the pairs, and the cases (those tests/go/mtls runs, so every pair runs the same).
MTLS_PAIRS = [
    ("tern", "tern"),
    ("go", "tern"),
    ("python", "tern"),
    ("node", "tern"),
    ("tern", "go"),
    ("tern", "python"),
    ("tern", "node"),
]
MTLS_CASES = [
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
]
# Not an interop case: a client that presents no certificate must be refused.
NO_CLIENT_CERT = "refused_without_client_cert"

# The name in the servers' certificates (the classic test certificates and ours), which clients
# check instead of 127.0.0.1: grpc-go's --server_host_override.
HOST_OVERRIDE = "foo.test.google.fr"

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


def grpc_go_version():
    text = (ROOT / "interop" / "peers" / "install.sh").read_text()
    return re.search(r"^GRPC_GO_VERSION=(\S+)$", text, re.M).group(1)


def classic_certs():
    """The gRPC project's test CA and server1 certificate, from grpc-go's module as `go install`
    fetched it (the same files as grpc-java's grpc-testing jar): copied, never checked in."""
    modcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True,
                              check=True).stdout.strip()
    source = Path(modcache) / f"google.golang.org/grpc@{grpc_go_version()}" / "testdata"
    out = ROOT / "target" / "interop-certs" / "classic"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("ca.pem", "server1.pem", "server1.key"):
        shutil.copyfile(source / name, out / name)
    return {"ca": out / "ca.pem", "cert": out / "server1.pem", "key": out / "server1.key"}


def generated_certs():
    """A CA, server and client certificates made for this run (rcgen, through test-certs)."""
    out = ROOT / "target" / "interop-certs" / "generated"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(ROOT / "target" / "debug" / "test-certs"), str(out)], check=True)
    return {"ca": out / "ca.pem", "cert": out / "server.pem", "key": out / "server.key",
            "client_cert": out / "client.pem", "client_key": out / "client.key"}


def start_token_endpoint():
    """A service account key for this run and the local token endpoint its token_uri names;
    returns the key file and the endpoint's process."""
    out = ROOT / "target" / "interop-certs" / "auth"
    out.mkdir(parents=True, exist_ok=True)
    key_file = out / "service_account.json"
    port = free_port()
    subprocess.run([str(PEERS / "tlspeer"), "-mode=service-account", f"-out={key_file}",
                    f"-token_uri=http://127.0.0.1:{port}/token"], check=True)
    log = open(LOGS / "token-endpoint.log", "w")
    proc = subprocess.Popen([str(PEERS / "tlspeer"), "-mode=token-server", f"-port={port}",
                             f"-key_file={key_file}"], stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port, proc)
    return key_file, proc


class Mode:
    """How the pairs connect: plaintext, tls or mtls, with the certificates for it (and over
    TLS, the service account key file of the auth cases)."""

    def __init__(self, name, certs=None, key_file=None):
        self.name = name
        self.certs = certs
        self.key_file = key_file

    def server_flags(self, impl):
        if self.name == "plaintext":
            return ["--use_tls=false"] if impl == "java" else []
        if impl == "java":
            return ["--use_tls=true"]  # its bundled server1, the classic certificate
        flags = ["--use_tls=true", f"--tls_cert_file={self.certs['cert']}",
                 f"--tls_key_file={self.certs['key']}"]
        if self.name == "mtls":
            flags.append(f"--client_ca_file={self.certs['ca']}")
        return flags

    def client_flags(self, impl, with_client_cert=True):
        if self.name == "plaintext":
            return ["--use_tls=false"] + (["--use_test_ca=false"] if impl == "java" else [])
        flags = ["--use_tls=true", "--use_test_ca=true", f"--server_host_override={HOST_OVERRIDE}"]
        if impl != "java":  # Java's test CA is its bundled ca.pem, the classic one
            flags.append(f"--ca_file={self.certs['ca']}")
        if self.name == "mtls" and with_client_cert:
            flags += [f"--client_cert_file={self.certs['client_cert']}",
                      f"--client_key_file={self.certs['client_key']}"]
        return flags


def go_mtls(role, port, certs, extra):
    cert, key = ((certs["cert"], certs["key"]) if role == "server"
                 else (certs["client_cert"], certs["client_key"]))
    return [str(PEERS / "tlspeer"), f"-mode={role}", f"-port={port}", f"-cert={cert}",
            f"-key={key}", f"-ca={certs['ca']}"] + extra


def server_command(impl, port, mode):
    if impl == "go" and mode.name == "mtls":
        return go_mtls("server", port, mode.certs, [])
    return {
        "tern": [str(ROOT / "target" / "debug" / "interop-server"), f"--port={port}",
                 "--host=127.0.0.1"],
        "go": [str(PEERS / "go-interop-server"), f"--port={port}"],
        "java": [str(PEERS / "java-interop-server"), f"--port={port}"],
        "python": [str(PYTHON), str(ROOT / "interop" / "python" / "interop_server.py"),
                   f"--port={port}"],
        "node": ["node", str(ROOT / "interop" / "node" / "interop_server.js"), f"--port={port}"],
    }[impl] + mode.server_flags(impl)


def client_command(impl, port, case, mode):
    if case == NO_CLIENT_CERT:
        if impl == "go":
            return go_mtls("client", port, mode.certs,
                           [f"-server_name={HOST_OVERRIDE}", "-no_client_cert"])
        return client_command(impl, port, "empty_unary", Mode("tls", mode.certs))
    if impl == "go" and mode.name == "mtls":
        return go_mtls("client", port, mode.certs,
                       [f"-server_name={HOST_OVERRIDE}", f"-test_cases={case}"])
    flags = ["--server_host=127.0.0.1", f"--server_port={port}", f"--test_case={case}"]
    flags += mode.client_flags(impl)
    if case in AUTH_CASES:
        flags += [f"--service_account_key_file={mode.key_file}", f"--oauth_scope={OAUTH_SCOPE}"]
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


def run_pair(client, server, cases, results, mode):
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    server_log = open(LOGS / f"{mode.name}-server-{server}-for-{client}.log", "w")
    proc = subprocess.Popen(server_command(server, port, mode), stdout=server_log,
                            stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        for case in cases:
            key = (mode.name, case, f"{client}->{server}")
            if case == NO_CLIENT_CERT:
                pass
            elif case not in CLIENT_CASES[client]:
                results[key] = ("n/a", f"{client}'s interop client has no {case}")
                continue
            gap = SERVER_GAPS.get(server, {}).get(case)
            if gap:
                results[key] = ("n/a", gap)
                continue
            try:
                done = subprocess.run(client_command(client, port, case, mode),
                                      capture_output=True, text=True, timeout=120)
                ok = done.returncode == 0
                output = done.stdout + done.stderr
                if case == NO_CLIENT_CERT and client != "go":
                    # The call must fail, and for the TLS reason.
                    ok = not ok and "certificate" in output.lower()
                    if not ok:
                        output = "the server did not refuse a client without a certificate " \
                                 "for a certificate reason:\n" + output
            except subprocess.TimeoutExpired as e:
                ok = False
                output = f"timed out after {e.timeout} s\n{e.stdout or ''}{e.stderr or ''}"
            results[key] = ("pass", "") if ok else ("FAIL", output.strip()[-2000:])
            if not ok:
                (LOGS / f"{mode.name}-{case}-{client}-{server}.log").write_text(output)
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
    parser.add_argument("--modes", default="plaintext,tls,mtls",
                        help="comma-separated: plaintext, tls, mtls")
    parser.add_argument("--skip-install", action="store_true",
                        help="the peers are installed already (interop/peers/install.sh)")
    args = parser.parse_args()
    chosen_pairs = [tuple(p.split(":")) for p in args.pairs.split(",")] if args.pairs else None
    chosen_cases = args.cases.split(",") if args.cases else None
    modes = args.modes.split(",")

    if not args.skip_install:
        subprocess.run([str(ROOT / "interop" / "peers" / "install.sh")], check=True)
    subprocess.run([str(ROOT / "interop" / "python" / "gen_stubs.sh"), str(PYTHON)], check=True)
    subprocess.run(["cargo", "build", "--quiet", "-p", "tern-interop", "--bins", "-p",
                    "tern-tests", "--bin", "test-certs"], cwd=ROOT, check=True)

    results = {}
    tables = []
    token_endpoint = None
    for name in modes:
        if name == "plaintext":
            mode, pairs, cases = Mode("plaintext"), DEFAULT_PAIRS, CASES
        elif name == "tls":
            LOGS.mkdir(parents=True, exist_ok=True)
            key_file, token_endpoint = start_token_endpoint()
            mode = Mode("tls", classic_certs(), key_file)
            pairs, cases = DEFAULT_PAIRS, CASES + AUTH_CASES
        elif name == "mtls":
            mode, pairs = Mode("mtls", generated_certs()), MTLS_PAIRS
            cases = MTLS_CASES + [NO_CLIENT_CERT]
        else:
            sys.exit(f"unknown mode {name!r}: use plaintext, tls or mtls")
        if chosen_pairs:
            pairs = [p for p in chosen_pairs if p in pairs or name != "mtls"]
        if chosen_cases:
            cases = [c for c in cases if c in chosen_cases]
        tables.append((name, pairs, cases))
        for client, server in pairs:
            print(f"[{name}] running {client} client -> {server} server", flush=True)
            try:
                run_pair(client, server, cases, results, mode)
            except RuntimeError as e:
                for case in cases:
                    results.setdefault((name, case, f"{client}->{server}"), ("FAIL", str(e)))

    if token_endpoint:
        token_endpoint.terminate()
    for name, pairs, cases in tables:
        if not pairs or not cases:
            continue
        columns = [f"{c}->{s}" for c, s in pairs]
        width = max(len(c) for c in cases)
        passed = sum(1 for (m, _, _), (o, _) in results.items() if m == name and o == "pass")
        print(f"\n{name}: {passed} passed")
        print("case".ljust(width) + "  " + "  ".join(c.ljust(13) for c in columns))
        for case in cases:
            cells = [results[(name, case, col)][0].ljust(13) for col in columns]
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
    for (mode, case, col), why in failures:
        print(f"\nFAILED [{mode}] {case} {col}:\n{why}")
    # n/a cells are reported as skipped: they are not passes.
    print(f"\ninterop: {counts['pass']} passed, {counts['FAIL']} failed, "
          f"{counts['n/a']} skipped")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
