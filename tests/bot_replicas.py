"""Several `python -m bot` processes in webhook mode on one database, behind a round-robin load balancer that the
local Bot API server posts updates to: what `test_bot_replicas.py` and `tools/replica_bench.py` run.
"""

import http.client
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from bot_api_server import BotApiServer
from bot_harness import RunningBot, free_port, launch_bot

PUBLIC_URL = "https://moodtunes.example.org/telegram/updates"  # what every replica registers with Telegram
FORWARD_HEADERS = ("Content-Type", "X-Telegram-Bot-Api-Secret-Token")
BACKEND_TIMEOUT = 120.0


class LoadBalancer:
    """A round-robin reverse proxy, as a hosting platform's router: each POST goes to the next replica, passing over
    one that refuses the connection; a request a replica drops (killed) is answered 502, for Telegram to post again.
    It notes which replica answered each update, and which updates each replica has in hand."""

    def __init__(self, backends: list[int]):
        self.backends = backends  # the replicas' ports on 127.0.0.1
        self.answered: list[tuple[int, int, int]] = []  # (update id, replica, HTTP status)
        self._in_hand: list[set[int]] = [set() for _ in backends]
        self._turns = itertools.count()
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(self))
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, name="load-balancer", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}{urlsplit(PUBLIC_URL).path}"

    def replica_of(self, update_id: int) -> int | None:
        """The replica that answered the update 2xx."""
        with self._lock:
            return next((replica for update, replica, status in self.answered
                         if update == update_id and 200 <= status < 300), None)

    def kill_when(self, replica: int, process, ready, timeout: float = 60.0) -> set[int]:
        """SIGKILL the replica's process as soon as `ready(updates it has in hand)`; returns those updates: the only
        ones it may have answered the user about without Telegram knowing."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:  # no update is handed to it between the look and the kill
                if ready(self._in_hand[replica]) or time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    return set(self._in_hand[replica])
            time.sleep(0.002)

    def forward(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        try:
            update_id = json.loads(body)["update_id"]
        except (ValueError, KeyError, TypeError):
            update_id = None
        for _ in self.backends:
            with self._lock:
                replica = next(self._turns) % len(self.backends)
                self._in_hand[replica].add(update_id)
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.backends[replica], timeout=BACKEND_TIMEOUT)
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                status, answer = response.status, response.read()
                connection.close()
            except ConnectionRefusedError:
                continue  # not running: the next one
            except (OSError, http.client.HTTPException):
                status, answer = 502, b""
            finally:
                with self._lock:
                    self._in_hand[replica].discard(update_id)
            with self._lock:
                self.answered.append((update_id, replica, status))
            return status, answer
        return 502, b""

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def _proxy_handler(balancer: LoadBalancer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name: self.headers[name] for name in FORWARD_HEADERS if name in self.headers}
            status, answer = balancer.forward(self.path, headers, body)
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):  # Telegram gave up waiting
                self.close_connection = True

        def log_message(self, format, *args):
            pass

    return Handler


@dataclass
class Cluster:
    """Replicas of the bot sharing one database, and the load balancer Telegram posts to."""

    telegram: BotApiServer
    replicas: list[RunningBot]
    balancer: LoadBalancer
    killed: set[int] = field(default_factory=set)

    def kill_when(self, replica: int, ready, timeout: float = 60.0) -> set[int]:
        """SIGKILL one replica as soon as `ready(updates it has in hand)`; returns those updates."""
        self.killed.add(replica)
        return self.balancer.kill_when(replica, self.replicas[replica].process, ready, timeout)

    def stop(self) -> list[int]:
        """SIGTERM the replicas still running (returns their exit statuses), then the load balancer."""
        self.telegram.route_webhook_to(None)
        try:
            return [replica.stop() for number, replica in enumerate(self.replicas) if number not in self.killed]
        finally:
            self.balancer.stop()


def start_cluster(telegram: BotApiServer, folder: Path, count: int, database: Path | str,
                  **settings: str) -> Cluster:
    """Start `count` replicas in webhook mode on `database` and route Telegram's webhook to their load balancer;
    returns once every replica is taking updates. They start together, on a new database: one of them creates and
    migrates it while the others wait their turn."""
    ports = [free_port() for _ in range(count)]
    cluster = Cluster(telegram, [], LoadBalancer(ports))

    def launch(number: int) -> RunningBot:
        replica = launch_bot(telegram, folder, database, name=f"replica{number}", WEBHOOK_URL=PUBLIC_URL,
                             PORT=str(ports[number]), **settings)  # no WEBHOOK_SECRET: they agree on one
        cluster.replicas.append(replica)
        return replica

    try:
        _wait_until_serving(telegram, [launch(number) for number in range(count)])
    except BaseException:
        cluster.stop()
        raise
    telegram.route_webhook_to(cluster.balancer.url)
    return cluster


def _wait_until_serving(telegram: BotApiServer, replicas: list[RunningBot]) -> None:
    for replica in replicas:
        def serving(replica=replica):
            if replica.process.poll() is not None:
                raise AssertionError(f"a replica exited with {replica.process.returncode}:\n{replica.log_text()}")
            return "Taking updates on port" in replica.log_text()
        telegram.wait_until(serving, timeout=120, what="the replicas to start")

