"""N app replicas behind nginx on one machine: `python deploy/replicas.py [--replicas 2] [--port 8080]`.

Each replica is a plain `streamlit run app.py` on its own local port, with its own models loaded once (a
Streamlit server process caches them for all its visitors); nginx (Debian's package: `apt-get install
nginx-light`) balances browsers across them with sticky sessions (deploy/nginx.conf.template says how). All
replicas share one cookie secret, so the XSRF cookie one replica set is valid on another after a restart.

Stops everything on Ctrl+C. `Deployment` is the same thing as a context manager, for the tests and
bench/bench_classroom.py. Failures are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def max_upload_mb() -> int:
    """The app's own upload cap (.streamlit/config.toml), so nginx lets exactly as much through."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    return int(config.get("server", {}).get("maxUploadSize", 200))


class DeployError(RuntimeError):
    """Something the person starting the deployment can fix; the message says what."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DeployError(f"{what} exited at start (status {proc.returncode}); run it by hand to see why")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise DeployError(f"{what} did not answer on {url} within {timeout:.0f} s")


def nginx_config(servers: list[str], listen: str, run_dir: Path) -> str:
    """The template filled in for `servers` ("host:port" each)."""
    servers = "\n".join(f"        server {s};" for s in servers)
    text = TEMPLATE.read_text()
    # @name@ fields, not $name: nginx's own variables are written $name
    for name, value in {"servers": servers, "listen": listen, "run_dir": run_dir, "max_upload_mb": max_upload_mb()}.items():
        text = text.replace(f"@{name}@", str(value))
    return text


class Deployment:
    """`replicas` app servers and nginx in front; `url` is the address to give the class."""

    def __init__(self, replicas: int = 2, port: int | None = None, address: str = "127.0.0.1",
                 timeout: float = 300.0, env: dict[str, str] | None = None):
        if replicas < 1:
            raise DeployError("--replicas must be at least 1")
        if not Path(NGINX).exists():
            raise DeployError("nginx is not installed; install Debian's: apt-get install nginx-light")
        self.replicas, self.address, self.timeout = replicas, address, timeout
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.procs: list[subprocess.Popen] = []
        self.nginx: subprocess.Popen | None = None
        self.run_dir = Path(tempfile.mkdtemp(prefix="explorer-nginx-"))
        self.run_dir.chmod(0o755)  # nginx's workers run as another user and write their temp files here
        self.url = f"http://127.0.0.1:{self.port}"
        self.replica_urls: list[str] = []

    @property
    def pids(self) -> list[int]:
        """The replicas' processes (their memory and CPU are the app's)."""
        return [p.pid for p in self.procs]

    def start(self) -> "Deployment":
        secret = secrets.token_hex(16)
        ports = [free_port() for _ in range(self.replicas)]
        try:
            for port in ports:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                     "--server.address", "127.0.0.1", "--server.headless", "true"],
                    # (Streamlit takes the cookie secret from the environment only, never from the command line)
                    cwd=ROOT, env={**self.env, "STREAMLIT_SERVER_COOKIE_SECRET": secret}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                self.replica_urls.append(f"http://127.0.0.1:{port}")
            for i, (url, proc) in enumerate(zip(self.replica_urls, self.procs)):
                _healthy(url, proc, self.timeout, f"replica {i + 1}")
            conf = self.run_dir / "nginx.conf"
            conf.write_text(nginx_config([f"127.0.0.1:{p}" for p in ports], f"{self.address}:{self.port}", self.run_dir))
            self.nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(self.run_dir), "-e",
                                           str(self.run_dir / "error.log"), "-g", "daemon off;"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _healthy(self.url, self.nginx, 30, "nginx")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in ([self.nginx] if self.nginx else []) + self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in ([self.nginx] if self.nginx else []) + self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> "Deployment":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2, help="app servers behind nginx (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port (default 8080)")
    parser.add_argument("--address", default="0.0.0.0",
                        help="where nginx listens: 0.0.0.0 (default) lets the class's machines in")
    parser.add_argument("--print-config", metavar="HOST:PORT,...",
                        help="only print nginx's configuration for these replicas (e.g. app:8501 for compose.yaml)")
    args = parser.parse_args(argv)
    if args.print_config:
        servers = [s.strip() for s in args.print_config.split(",") if s.strip()]
        print(nginx_config(servers, str(args.port), Path("/tmp")))
        return 0
    if not 1 <= args.port <= 65535:
        print(f"replicas: --port {args.port} is not a port (1-65535)", file=sys.stderr)
        return 2
    try:
        deployment = Deployment(args.replicas, args.port, args.address).start()
    except DeployError as err:
        print(f"replicas: {err}", file=sys.stderr)
        return 2
    print(f"{args.replicas} replicas behind nginx: open http://{args.address}:{args.port} (Ctrl+C stops)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while all(p.poll() is None for p in deployment.procs + [deployment.nginx]):
            time.sleep(1)
        print("replicas: a server stopped; stopping the rest", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        deployment.stop()


if __name__ == "__main__":
    sys.exit(main())
