"""The production topology on one machine: `make prod` (`python -m devtools.topology`) and its tests.

It starts what a deployment runs, from the same files in `deploy/` rendered with local paths and free ports:
Redis as 1 master + 1 replica + 3 Sentinels (Debian's `redis-server` and `redis-sentinel`), N daphne processes
on unix sockets (the `ExecStart` of `deploy/systemd/daphne@.service`), the assistant's job workers
(`convonet-worker@.service`), and nginx (`deploy/nginx/convonet.conf`)
in front on 127.0.0.1. Everything binds to loopback or unix sockets; Ctrl-C stops it all.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import redis

from .redis_server import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
DEPLOY_DIR = BASE_DIR / "deploy"
MASTER_NAME = "convonet"
#: Sentinel timings: the master is declared down after 1 s without an answer (Sentinel's default is 30 s).
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 10000
#: Where `deploy/systemd/daphne@.service` expects the checkout and the sockets; moved for a local run.
UNIT_CHECKOUT = "/srv/convonet"
UNIT_RUN_DIR = "/run/convonet"
#: Seconds between `rollup_activity` runs under `make prod` (convonet-rollup.timer: hourly).
ROLLUP_INTERVAL = 3600


def render(template: Path, values: dict[str, str]) -> str:
    """`template` with its `${NAME}` placeholders filled; nginx's own `$variables` are left alone."""
    text = Template(template.read_text()).safe_substitute(values)
    missing = sorted(set(re.findall(r"\$\{([A-Z_]+)\}", text)))
    if missing:
        raise ValueError(f"{template.name}: no value for {', '.join(missing)}")
    return text


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=VALUE` lines of a systemd `EnvironmentFile`, without comments and blank lines."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def unit_command(unit: str, run_dir: Path, instance: str = "", python: str = sys.executable) -> list[str]:
    """The `ExecStart` of `deploy/systemd/UNIT` (instance `%i`), with the checkout and socket directory moved."""
    text = (DEPLOY_DIR / "systemd" / unit).read_text()
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    command = line.removeprefix("ExecStart=").replace("%i", instance)
    command = command.replace(f"{UNIT_CHECKOUT}/.venv/bin/python", python).replace(UNIT_RUN_DIR, str(run_dir))
    return shlex.split(command)


def unix_http_status(socket_path: Path, path: str = "/healthz", timeout: float = 2.0) -> int:
    """GET `path` from a daphne listening on a unix socket; its status code."""
    conn = http.client.HTTPConnection("localhost", timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(socket_path))
    conn.sock = sock
    try:
        conn.request("GET", path, headers={"Host": "127.0.0.1"})
        return conn.getresponse().status
    finally:
        conn.close()


def _wait(predicate, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: the process exited with {process.returncode}\n{tail}")
        with contextlib.suppress(Exception):
            result = predicate()
            if result:
                return result
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what}: not ready within {timeout} s\n{tail}")


def _binary(name: str) -> str:
    candidates = (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}")
    found = next((path for path in candidates if path and os.access(path, os.X_OK)), None)
    if found is None:
        raise RuntimeError(f"{name} is missing: run `scripts/ensure-system-packages nginx sentinel` (apt-get install).")
    return found


@dataclass
class Topology:
    """The processes of one local production topology, under `root` (var/prod for `make prod`, a tmp dir in tests)."""

    root: Path
    daphne_count: int = 2
    #: Assistant job workers (`convonet-worker@.service`).
    worker_count: int = 1
    http_port: int = 0
    #: Environment of the app processes on top of `os.environ` and deploy/convonet.env's local overrides.
    app_env: dict[str, str] = field(default_factory=dict)
    redis_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sentinel_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    redis_ports: dict[str, int] = field(default_factory=dict)
    sentinel_ports: list[int] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def socket_path(self, instance: int) -> Path:
        return self.run_dir / f"daphne-{instance}.sock"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    # -- Redis: 1 master, 1 replica, 3 Sentinels -----------------------------------------------

    def start_redis(self) -> None:
        self.redis_ports = {"master": free_port(), "replica": free_port()}
        for role, port in self.redis_ports.items():
            replicaof = "" if role == "master" else f"replicaof 127.0.0.1 {self.redis_ports['master']}"
            self._start_redis_server(f"redis-{role}", port, replicaof)
        master = self.redis_client(self.redis_ports["master"])
        _wait(lambda: master.info("replication")["connected_slaves"] >= 1, 20, "the replica's first sync")
        self.sentinel_ports = [free_port() for _ in range(3)]
        for n, port in enumerate(self.sentinel_ports, 1):
            self.start_sentinel(n, port)
        # Ready when every Sentinel knows the master, its replica and the two other Sentinels.
        for port in self.sentinel_ports:
            client = self.sentinel_client(port)
            _wait(
                lambda client=client: (
                    (state := client.sentinel_master(MASTER_NAME))["num-slaves"] >= 1
                    and state["num-other-sentinels"] >= 2
                ),
                30,
                f"sentinel on {port}",
            )

    def _start_redis_server(self, name: str, port: int, replicaof: str) -> None:
        data = self.root / name
        data.mkdir(parents=True, exist_ok=True)
        conf = data / "redis.conf"
        conf.write_text(
            render(
                DEPLOY_DIR / "redis" / "redis.conf",
                {
                    "PORT": str(port),
                    "BIND": "127.0.0.1",
                    "DIR": str(data),
                    "REDIS_PASSWORD": self.redis_password,
                    "REPLICAOF": replicaof,
                },
            )
        )
        self._spawn(name, [_binary("redis-server"), str(conf)], cwd=data)
        _wait(lambda: self.redis_client(port).ping(), 15, name, self.processes[name], data / "redis.log")

    def start_sentinel(self, n: int, port: int) -> None:
        data = self.root / f"sentinel-{n}"
        data.mkdir(parents=True, exist_ok=True)
        conf = data / "sentinel.conf"
        conf.write_text(
            render(
                DEPLOY_DIR / "redis" / "sentinel.conf",
                {
                    "PORT": str(port),
                    "BIND": "127.0.0.1",
                    "DIR": str(data),
                    "SENTINEL_PASSWORD": self.sentinel_password,
                    "REDIS_PASSWORD": self.redis_password,
                    "MASTER_NAME": MASTER_NAME,
                    "MASTER_HOST": "127.0.0.1",
                    "MASTER_PORT": str(self.redis_ports["master"]),
                    "DOWN_AFTER_MS": str(DOWN_AFTER_MS),
                    "FAILOVER_TIMEOUT_MS": str(FAILOVER_TIMEOUT_MS),
                },
            )
        )
        name = f"sentinel-{n}"
        self._spawn(name, [_binary("redis-sentinel"), str(conf)], cwd=data)
        _wait(lambda: self.sentinel_client(port).ping(), 15, name, self.processes[name], data / "sentinel.log")

    def redis_client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.redis_password, socket_timeout=1, socket_connect_timeout=1)

    def sentinel_client(self, port: int) -> redis.Redis:
        password = self.sentinel_password
        return redis.Redis(
            port=port, password=password, socket_timeout=1, socket_connect_timeout=1, decode_responses=True
        )

    def current_master_port(self) -> int:
        """The master's port as the Sentinels see it now."""
        _host, port = self.sentinel_client(self.sentinel_ports[0]).sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    # -- the app: daphne processes and nginx ---------------------------------------------------

    def environment(self) -> dict[str, str]:
        """What every app process gets: deploy/convonet.env, then the local values over it."""
        env = {**os.environ, **read_env_file(DEPLOY_DIR / "convonet.env")}
        env.update(
            {
                "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}",
                "REDIS_SENTINELS": self.sentinels,
                "REDIS_SENTINEL_MASTER": MASTER_NAME,
                "REDIS_SENTINEL_PASSWORD": self.sentinel_password,
                "REDIS_PASSWORD": self.redis_password,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "CSRF_TRUSTED_ORIGINS": "",
                "SECURE_PROXY_SSL_HEADER": "0",
                # Plain HTTP on loopback: no TLS redirect, no Secure-only cookies, no HSTS.
                "SECURE_SSL_REDIRECT": "0",
                "SESSION_COOKIE_SECURE": "0",
                "CSRF_COOKIE_SECURE": "0",
                "SECURE_HSTS_SECONDS": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.pop("REDIS_URL", None)
        env.update(self.app_env)
        return {key: value for key, value in env.items() if value != "" or key in self.app_env}

    def manage(self, *args: str) -> None:
        """Run a `manage.py` command with the app's environment (migrate, collectstatic)."""
        subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.environment(), check=True)

    def start_daphne(self, instance: int) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.socket_path(instance)
        path.unlink(missing_ok=True)  # left by a process that was killed
        name = f"daphne-{instance}"
        command = unit_command("daphne@.service", self.run_dir, str(instance))
        self._spawn(name, command, cwd=BASE_DIR, env=self.environment())
        _wait(lambda: unix_http_status(path) in (200, 503), 30, name, self.processes[name], self.log_path(name))

    def start_worker(self, instance: int) -> None:
        """One assistant worker (`convonet-worker@.service`'s ExecStart); ready once RQ says it listens."""
        name = f"worker-{instance}"
        command = unit_command("convonet-worker@.service", self.run_dir, str(instance))
        self._spawn(name, command, cwd=BASE_DIR, env=self.environment())
        log = self.log_path(name)
        _wait(lambda: "Listening on" in log.read_text(errors="replace"), 60, name, self.processes[name], log)

    def stop_daphne(self, instance: int, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal one daphne and wait for it to exit; its exit code."""
        process = self.processes.pop(f"daphne-{instance}")
        process.send_signal(sig)
        return process.wait(timeout=timeout)

    def start_nginx(self, static_root: Path) -> None:
        self.http_port = self.http_port or free_port()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        upstreams = "\n".join(
            f"    server unix:{self.socket_path(n)} max_fails=0;" for n in range(1, self.daphne_count + 1)
        )
        site = render(
            DEPLOY_DIR / "nginx" / "convonet.conf",
            {
                "UPSTREAM_SERVERS": upstreams,
                "LISTEN": f"127.0.0.1:{self.http_port}",
                "SERVER_NAME": "127.0.0.1 localhost",
                "TLS_DIRECTIVES": "",
                "CLIENT_MAX_BODY_SIZE": "10m",
                "ACCESS_LOG": str(self.log_path("nginx-access")),
                "STATIC_ROOT": str(static_root),
                "SOCKET_DIR": str(self.run_dir),
            },
        )
        (self.run_dir / "convonet.conf").write_text(site)
        import getpass

        main = render(
            DEPLOY_DIR / "nginx" / "nginx-local.conf",
            {"RUN_DIR": str(self.run_dir), "LOG_DIR": str(self.log_dir), "NGINX_USER": getpass.getuser()},
        )
        conf = self.run_dir / "nginx.conf"
        conf.write_text(main)
        nginx = _binary("nginx")
        subprocess.run([nginx, "-t", "-q", "-c", str(conf), "-e", str(self.log_dir / "nginx-error.log")], check=True)
        self._spawn("nginx", [nginx, "-c", str(conf), "-e", str(self.log_dir / "nginx-error.log")], cwd=self.run_dir)

        def serving() -> bool:
            conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=2)
            conn.request("GET", "/healthz")
            return conn.getresponse().status in (200, 503)

        _wait(serving, 15, "nginx", self.processes["nginx"], self.log_dir / "nginx-error.log")

    def start(self, static_root: Path) -> None:
        """Redis, Sentinels, the daphne processes, then nginx."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.start_redis()
        for instance in range(1, self.daphne_count + 1):
            self.start_daphne(instance)
        for instance in range(1, self.worker_count + 1):
            self.start_worker(instance)
        self.start_nginx(static_root)

    def _spawn(self, name: str, argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(name), "ab") as log:
            self.processes[name] = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def rollup(self) -> None:
        """Start `convonet-rollup.service`'s command in the background (its output in the log directory)."""
        if (previous := self.processes.get("rollup")) is not None and previous.poll() is None:
            return
        self.processes.pop("rollup", None)
        self._spawn(
            "rollup", unit_command("convonet-rollup.service", self.run_dir), cwd=BASE_DIR, env=self.environment()
        )

    def kill(self, name: str) -> None:
        """SIGKILL one process (a crash), e.g. `redis-master`."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        """Stop everything, the front first (nginx, daphne), Redis last."""
        for name in sorted(self.processes, key=lambda n: (not n.startswith("nginx"), not n.startswith("daphne"))):
            process = self.processes[name]
            if process.poll() is None:
                process.terminate()
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            del self.processes[name]


def _local_secrets(root: Path) -> dict[str, str]:
    """Secrets generated once into var/prod/secrets.env (mode 0600) and kept across runs."""
    path = root / "secrets.env"
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"SECRET_KEY={secrets.token_urlsafe(64)}\n"
            f"REDIS_PASSWORD={secrets.token_urlsafe(24)}\n"
            f"REDIS_SENTINEL_PASSWORD={secrets.token_urlsafe(24)}\n"
            f"METRICS_TOKEN={secrets.token_urlsafe(32)}\n"
        )
        path.chmod(0o600)
    return read_env_file(path)


def serve(daphne_count: int, worker_count: int, port: int) -> None:
    """`make prod`: start the topology under var/prod and keep it up until Ctrl-C."""
    root = BASE_DIR / "var" / "prod"
    local = _local_secrets(root)
    topology = Topology(
        root,
        daphne_count=daphne_count,
        worker_count=worker_count,
        http_port=free_port(port),
        redis_password=local["REDIS_PASSWORD"],
        sentinel_password=local["REDIS_SENTINEL_PASSWORD"],
        app_env={"SECRET_KEY": local["SECRET_KEY"], "METRICS_TOKEN": local["METRICS_TOKEN"], "DEBUG": "0"},
    )
    stop = False

    def on_signal(signum, frame) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"Redis master, replica and 3 Sentinels under {root} ...", flush=True)
        topology.log_dir.mkdir(parents=True, exist_ok=True)
        topology.start_redis()
        print(
            f"  master 127.0.0.1:{topology.redis_ports['master']}, replica {topology.redis_ports['replica']},"
            f" sentinels {topology.sentinels}",
            flush=True,
        )
        print("migrate, collectstatic ...", flush=True)
        topology.manage("migrate", "--noinput", "-v0")
        topology.manage("collectstatic", "--noinput", "-v0")
        for instance in range(1, daphne_count + 1):
            topology.start_daphne(instance)
            print(f"  daphne-{instance} on {topology.socket_path(instance)}", flush=True)
        for instance in range(1, worker_count + 1):
            topology.start_worker(instance)
            print(f"  worker-{instance} listening on the assistant queue", flush=True)
        from_env = topology.environment()
        topology.start_nginx(Path(from_env.get("STATIC_ROOT") or BASE_DIR / "var" / "static"))
        print(f"Serving on {topology.url}/ through nginx (DEBUG=0; logs in {topology.log_dir}; Ctrl-C stops it all)")
        print(
            f"  metrics of daphne N: curl -H 'Authorization: Bearer {local['METRICS_TOKEN']}' {topology.url}/metrics/N",
            flush=True,
        )
        next_rollup = 0.0
        while not stop:
            if time.monotonic() >= next_rollup:
                # convonet-rollup.timer's job, hourly (its first run catches up with what is in Redis).
                topology.rollup()
                next_rollup = time.monotonic() + ROLLUP_INTERVAL
            for name, process in topology.processes.items():
                if name != "rollup" and process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; see {topology.log_path(name)}", flush=True)
                    stop = True
                    break
            time.sleep(0.5)
    finally:
        print("Stopping nginx, daphne, workers, Sentinels and Redis ...", flush=True)
        topology.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daphne", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="assistant job workers (default 1)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port on 127.0.0.1 (a free one if taken)")
    args = parser.parse_args(argv)
    if args.daphne < 1 or args.workers < 0:
        parser.error("--daphne must be at least 1 and --workers at least 0")
    serve(args.daphne, args.workers, args.port)


if __name__ == "__main__":
    main()
