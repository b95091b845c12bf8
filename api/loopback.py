"""The app under uvicorn on a free loopback port, in a thread of this process: for the load run and the tests."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from api.app import create_app
from core.config import Settings
from retrieval.corpus import Corpus


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(settings: Settings, corpus: Corpus) -> Iterator[str]:
    """Serve the app over `corpus` (which outlives the server: the caller closes it); yields the base URL."""
    port = free_port()
    app = create_app(settings, url=f"http://127.0.0.1:{port}")
    app.state.cdmo.borrow(corpus)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
