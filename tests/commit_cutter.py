"""A TCP proxy in front of a PostgreSQL server that can lose a commit's answer, as a connection cut at that moment
does: the server has committed, the client never hears so."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import sqlalchemy


class CommitCutter:
    """Relays every connection to the server; once armed, the next COMMIT reaches the server, and both sides of its
    connection are closed when the server's answer comes back, instead of passing it on."""

    def __init__(self, server_url: str) -> None:
        self.server = sqlalchemy.engine.make_url(server_url)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = self.server.set(host="127.0.0.1", port=self.listener.getsockname()[1]).render_as_string(
            hide_password=False)
        self.armed = threading.Event()
        self.cuts = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def cut_next_commit(self) -> None:
        self.armed.set()

    def accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed
            while True:
                client, _ = self.listener.accept()
                server = socket.create_connection((self.server.host, self.server.port))
                cutting = threading.Event()
                threading.Thread(target=self.relay_queries, args=(client, server, cutting), daemon=True).start()
                threading.Thread(target=self.relay_answers, args=(server, client, cutting), daemon=True).start()

    def relay_queries(self, client: socket.socket, server: socket.socket, cutting: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.armed.is_set() and b"COMMIT" in data:
                    self.armed.clear()
                    cutting.set()
                server.sendall(data)

    def relay_answers(self, server: socket.socket, client: socket.socket, cutting: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if cutting.is_set():  # the commit's answer: it is never passed on
                    self.cuts += 1
                    break
                client.sendall(data)
        for side in (client, server):
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)
            side.close()

    def close(self) -> None:
        self.listener.close()


@contextlib.contextmanager
def commit_cutter(server_url: str) -> Iterator[CommitCutter]:
    cutter = CommitCutter(server_url)
    try:
        yield cutter
    finally:
        cutter.close()
