"""A tiny HTTP server for lab hosts: answers every GET with the peer address
it saw, and logs one line per request ("PEER ip:port") to stdout.

Used by `dataplane demo` and the end-to-end tests so a test can assert which
source address reached the server. Unlike `python3 -m http.server` it does no
reverse DNS lookup at start (a lab host has no resolver to ask).

usage: python3 -c "$SCRIPT" BIND_IP PORT NAME
"""
import http.server
import socketserver
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    # Keep-alive, so one connection (one flow) can carry several requests.
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        peer = "%s:%d" % self.client_address[:2]
        body = ("server=%s peer=%s\n" % (NAME, peer)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("PEER %s" % peer, flush=True)

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    bind, port, NAME = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with Server((bind, port), Handler) as srv:
        print("LISTENING %s:%d" % (bind, port), flush=True)
        srv.serve_forever()
