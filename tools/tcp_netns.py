"""Real TCP transfers in network namespaces: the measuring half of ``tools/calibrate_tcp.py``.

A star of ``n`` client namespaces, a router namespace and a server namespace, joined by veth pairs. Token buckets
(``tc qdisc tbf``) shape the four egress points: each client's upload and the router towards each client at the
client rate, the router towards the server and the server's download at the bottleneck rate; burst ``max(1 ms at
rate, 6056 B)``, queue limit 20 ms at rate. Every namespace gets ``net.ipv4.tcp_no_metrics_save=1`` (no cached
ssthresh from one transfer to the next) and every socket TCP cubic. Addresses are 10.201.x.y inside the namespaces
only: no packet leaves them. :class:`Testbed` is a context manager that deletes everything it made on exit, on an
error and on Ctrl-C / SIGTERM.

Transfers run in threads of this process; each thread enters its namespace with ``setns(2)`` (per thread) before it
opens its socket, so one clock (``time.monotonic``) times every flow. A flow's completion is the instant its last byte
is received, minus its scheduled start (connection set-up included).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
PORT = 5201
_HEADER = 10  # b"U" | b"D", flow number (1 byte), size (8 bytes)
_CHUNK = 1 << 16


def missing_requirements() -> str | None:
    """Why real transfers cannot run here (None when they can)."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root (network namespaces, tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"needs {tool} (iproute2)"
    try:
        with open("/proc/sys/net/ipv4/tcp_available_congestion_control") as f:
            if "cubic" not in f.read().split():
                return "needs TCP cubic in the kernel"
    except OSError:
        return "needs /proc/sys/net/ipv4 (Linux TCP)"
    return None


def _run(*args: str) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def tbf_args(rate_bps: float) -> list[str]:
    """tbf parameters: burst max(1 ms at rate, 6056 B), queue limit 20 ms at rate (bytes)."""
    burst = max(int(rate_bps * 1e-3 / 8), 6056)
    limit = int(rate_bps * 20e-3 / 8)
    return ["tbf", "rate", f"{int(rate_bps)}bit", "burst", str(burst), "limit", str(limit)]


@dataclass(frozen=True)
class Transfer:
    flow: int  # client number
    direction: str  # "up" (client -> server) or "down"
    size_bytes: int
    start_s: float  # after the common start


class Testbed:
    """The namespaces, veths and qdiscs of one star; ``with Testbed(...) as bed: bed.run(transfers)``."""

    def __init__(self, n_clients: int = 4, client_bps: float = 50e6, bottleneck_bps: float = 100e6) -> None:
        self.n = n_clients
        self.client_bps = client_bps
        self.bottleneck_bps = bottleneck_bps
        tag = f"twc{os.getpid() % 100000}"
        self.server = f"{tag}s"
        self.router = f"{tag}r"
        self.clients = [f"{tag}c{i}" for i in range(n_clients)]
        self._tag = tag
        self._made: list[str] = []
        self._old_handlers: dict[int, object] = {}
        self._libc = ctypes.CDLL("libc.so.6", use_errno=True)

    # ------------------------------------------------------------------------------------------------ set-up

    def __enter__(self) -> Testbed:
        for sig in (signal.SIGTERM, signal.SIGHUP):  # Ctrl-C raises KeyboardInterrupt already
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_signal(self, signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def _ns(self, name: str) -> None:
        _run("ip", "netns", "add", name)
        self._made.append(name)
        _run("ip", "-n", name, "link", "set", "lo", "up")
        _run("ip", "netns", "exec", name, "sysctl", "-q", "-w", "net.ipv4.tcp_no_metrics_save=1")

    def _veth(self, a_ns: str, a: str, b_ns: str, b: str, subnet: int) -> None:
        _run("ip", "link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b, "netns", b_ns)
        _run("ip", "-n", a_ns, "addr", "add", f"10.201.{subnet}.2/24", "dev", a)
        _run("ip", "-n", b_ns, "addr", "add", f"10.201.{subnet}.1/24", "dev", b)
        for ns, dev in ((a_ns, a), (b_ns, b)):
            _run("ip", "-n", ns, "link", "set", dev, "up")
        _run("ip", "-n", a_ns, "route", "add", "default", "via", f"10.201.{subnet}.1")

    def _build(self) -> None:
        for name in (self.server, self.router, *self.clients):
            self._ns(name)
        _run("ip", "netns", "exec", self.router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        self._veth(self.server, f"{self._tag}sa", self.router, f"{self._tag}sb", 100)
        for i, ns in enumerate(self.clients):
            self._veth(ns, f"{self._tag}c{i}a", self.router, f"{self._tag}c{i}b", i)
        shape = [(self.server, f"{self._tag}sa", self.bottleneck_bps),  # server download
                 (self.router, f"{self._tag}sb", self.bottleneck_bps)]  # router towards the server
        for i, ns in enumerate(self.clients):
            shape.append((ns, f"{self._tag}c{i}a", self.client_bps))  # client upload
            shape.append((self.router, f"{self._tag}c{i}b", self.client_bps))  # router towards the client
        for ns, dev, rate in shape:
            _run("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", *tbf_args(rate))

    def close(self) -> None:
        """Delete every namespace made (their veths and qdiscs go with them); idempotent."""
        while self._made:
            name = self._made.pop()
            subprocess.run(["ip", "netns", "del", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._old_handlers.clear()

    # ------------------------------------------------------------------------------------------------ transfers

    def _enter(self, ns: str) -> None:
        """Move the calling thread into namespace ``ns`` (sockets opened afterwards live there)."""
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if self._libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns {ns}: {os.strerror(err)}")
        finally:
            os.close(fd)

    @staticmethod
    def _socket() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
        return s

    @staticmethod
    def _recv_exact(conn: socket.socket, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = conn.recv(n - len(out))
            if not chunk:
                raise ConnectionError("peer closed early")
            out += chunk
        return bytes(out)

    @staticmethod
    def _sink(conn: socket.socket, size: int) -> float:
        """Read ``size`` bytes; the instant the last one arrived."""
        buf = bytearray(_CHUNK * 4)
        view = memoryview(buf)
        left = size
        while left > 0:
            n = conn.recv_into(view, min(left, len(buf)))
            if n == 0:
                raise ConnectionError("peer closed early")
            left -= n
        return time.monotonic()

    def run(self, transfers: list[Transfer], timeout_s: float = 120.0) -> dict[int, float]:
        """Run the transfers (each from its scheduled start); flow -> completion time in seconds."""
        payload = memoryview(bytes(max(t.size_bytes for t in transfers)))
        ends: dict[int, float] = {}
        errors: list[BaseException] = []
        ready = threading.Event()
        lock = threading.Lock()

        def guarded(fn):  # noqa: ANN001, ANN202
            def inner(*args):  # noqa: ANN002, ANN202
                try:
                    fn(*args)
                except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                    with lock:
                        errors.append(exc)
                    ready.set()
            return inner

        def serve() -> None:
            self._enter(self.server)
            with self._socket() as ls:
                ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                ls.bind(("10.201.100.2", PORT))
                ls.listen(len(transfers))
                ls.settimeout(timeout_s)
                ready.set()
                workers = []
                for _ in transfers:
                    conn, _addr = ls.accept()
                    w = threading.Thread(target=guarded(handle), args=(conn,), daemon=True)
                    w.start()
                    workers.append(w)
                for w in workers:
                    w.join(timeout_s)

        def handle(conn: socket.socket) -> None:
            with conn:
                conn.settimeout(timeout_s)
                head = self._recv_exact(conn, _HEADER)
                op, flow, size = head[:1], head[1], int.from_bytes(head[2:], "big")
                if op == b"U":
                    end = self._sink(conn, size)
                    with lock:
                        ends[flow] = end
                    conn.sendall(b"k")
                else:
                    conn.sendall(payload[:size])
                    conn.shutdown(socket.SHUT_WR)
                    self._recv_exact(conn, 1)

        def client(t: Transfer, t0: float) -> None:
            self._enter(self.clients[t.flow])
            with self._socket() as s:
                s.settimeout(timeout_s)
                delay = t0 + t.start_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                s.connect(("10.201.100.2", PORT))
                head = (b"U" if t.direction == "up" else b"D") + bytes([t.flow]) + t.size_bytes.to_bytes(8, "big")
                if t.direction == "up":
                    s.sendall(head)
                    s.sendall(payload[: t.size_bytes])
                    self._recv_exact(s, 1)
                else:
                    s.sendall(head)
                    end = self._sink(s, t.size_bytes)
                    with lock:
                        ends[t.flow] = end
                    s.sendall(b"k")

        server = threading.Thread(target=guarded(serve), daemon=True)
        server.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        t0 = time.monotonic() + 0.2
        threads = [threading.Thread(target=guarded(client), args=(t, t0), daemon=True) for t in transfers]
        for th in threads:
            th.start()
        for th in (*threads, server):
            th.join(timeout_s)
        if errors:
            raise errors[0]
        if len(ends) != len(transfers):
            raise RuntimeError(f"only {len(ends)} of {len(transfers)} transfers finished")
        return {t.flow: ends[t.flow] - (t0 + t.start_s) for t in transfers}
