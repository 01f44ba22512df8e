#!/usr/bin/env python3
"""A webhook receiver for tests/e2e-dispatch.sh: a real HTTP server on 127.0.0.1.

Every POST body is parsed as JSON; accepted ones are appended, one compact
line each, to --log. While the fail budget is above zero a POST is answered
500 (and appended to --failed-log) and the budget drops by one. The budget
starts at --fail-first and can be raised at any time by writing a number to
--fail-file (read and rewritten under a lock on every request), so a test
can make the next N deliveries fail without restarting the receiver.

The chosen port is written to --port-file once the server listens (written
to a temporary name and renamed, so a reader never sees half a number).
SIGTERM stops it.
"""
import argparse
import http.server
import json
import os
import signal
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--failed-log")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--fail-file")
    ap.add_argument("--delay-ms", type=int, default=0,
                    help="answer each request after this delay (to interleave dispatchers)")
    args = ap.parse_args()

    lock = threading.Lock()
    state = {"budget": args.fail_first}

    def take_failure():
        """True if this request must fail (consumes one unit of budget)."""
        if args.fail_file and os.path.exists(args.fail_file):
            with open(args.fail_file) as f:
                text = f.read().strip()
            os.unlink(args.fail_file)
            if text:
                state["budget"] += int(text)
        if state["budget"] > 0:
            state["budget"] -= 1
            return True
        return False

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet: the test reads the files
            pass

        def answer(self, code, text):
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
            if args.delay_ms:
                time.sleep(args.delay_ms / 1000.0)
            try:
                alert = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                self.answer(400, "not JSON: %s" % e)
                return
            ctype = self.headers.get("Content-Type", "")
            if not ctype.startswith("application/json"):
                self.answer(415, "Content-Type is %r" % ctype)
                return
            if self.headers.get("X-Tanfang-Alert-Id") != alert.get("id"):
                self.answer(400, "X-Tanfang-Alert-Id does not match the body's id")
                return
            line = json.dumps(alert, ensure_ascii=False, separators=(",", ":")) + "\n"
            with lock:
                if take_failure():
                    if args.failed_log:
                        with open(args.failed_log, "a", encoding="utf-8") as f:
                            f.write(line)
                    code = 500
                else:
                    with open(args.log, "a", encoding="utf-8") as f:
                        f.write(line)
                    code = 200
            self.answer(code, "failed on purpose\n" if code == 500 else "ok\n")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
