"""The course's first image: a minimal page on port 5000 showing the URL asked for and the time.

Standard library only, so the image needs nothing but Debian's python3.
"""

from __future__ import annotations

import datetime
import html
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("WEB_VERSION", "v1")
PORT = int(os.environ.get("PORT", "5000"))

PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>CSC 8567</title></head>
<body><h1>CSC 8567</h1><p>Site assez simpliste !</p>
<p>Version : <strong id="version">{version}</strong></p>
<p>URL demandée : <code id="url">{url}</code></p>
<p>Heure : <time id="time">{time}</time></p>
<p>Servi par : <code id="host">{host}</code></p>
</body></html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "csc8567-web-nodb/" + VERSION

    def do_GET(self) -> None:
        host = self.headers.get("Host", "")
        url = f"http://{host}{self.path}"
        body = PAGE.format(
            version=html.escape(VERSION),
            url=html.escape(url),
            time=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            host=html.escape(socket.gethostname()),
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write(f"{self.address_string()} - {format % args}\n")
        sys.stdout.flush()


def main() -> None:
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    # Kubernetes stops pods with SIGTERM: exit promptly instead of waiting for the grace period.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"web-nodb {VERSION} listening on :{PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
