"""A webhook receiver on loopback for the tests: a real HTTP server in a thread, answering each
POST with the next status of a script (then 200), and keeping what it got."""

import http.server
import threading
import time


class Receiver:
    def __init__(self, statuses=(), delays=()):
        self.statuses = list(statuses)
        # Seconds each of the first requests waits before its answer (a slow receiver).
        self.delays = list(delays)
        self.requests = []
        self.lock = threading.Lock()
        self.server = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self, port=0):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append((self.headers, body))  # case-insensitive, as HTTP
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    delay = receiver.delays.pop(0) if receiver.delays else 0
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender went away (a worker killed mid-delivery)

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def keys(self):
        with self.lock:
            return [headers["Idempotency-Key"] for headers, _ in self.requests]

    def wait_for(self, count, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return True
            time.sleep(0.05)
        return False
