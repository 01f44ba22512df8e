#!/usr/bin/env python3
"""An independent tanfang client, built only from proto/tanfang.proto and
docs/protocol.md: no tanfang C code is imported or called, except the
daemon under test and the admin client used to enrol this client's key.

Run by meson as the test 'independent-client' with
  TANFANGD     the daemon binary
  TANFANG_BIN  the clients' build folder (holds tanfang-admin)
  TANFANG_SRC  the source root (holds proto/tanfang.proto)
Needs Debian's python3-zmq, python3-nacl, python3-protobuf and
protobuf-compiler. Exit 0 on success, 1 on failure, 77 (skip) when a
package is missing, unless TANFANG_REQUIRE_INTEROP is set (CI sets it:
there a missing package is a failure).
"""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
DEBIAN_PYTHON = "/usr/bin/python3"
REEXEC_MARK = "TANFANG_INTEROP_REEXEC"


def missing_dependencies():
    """Names of what is missing, [] when everything is there."""
    missing = []
    for mod, pkg in (("zmq", "python3-zmq"), ("nacl.signing", "python3-nacl"),
                     ("google.protobuf", "python3-protobuf")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(pkg)
    if not shutil.which("protoc"):
        missing.append("protobuf-compiler (protoc)")
    return missing


def ensure_dependencies():
    missing = missing_dependencies()
    if not missing:
        return
    # Debian's python3-* packages serve Debian's interpreter; the python3
    # first on PATH may be another one (pyenv, a venv) that cannot see them.
    here = os.path.realpath(sys.executable or "")
    if (os.path.exists(DEBIAN_PYTHON) and os.path.realpath(DEBIAN_PYTHON) != here
            and not os.environ.get(REEXEC_MARK)):
        os.environ[REEXEC_MARK] = "1"
        sys.stdout.flush()
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    msg = "missing: " + ", ".join(missing) + " (apt-get install python3-zmq python3-nacl " \
          "python3-protobuf protobuf-compiler)"
    if os.environ.get("TANFANG_REQUIRE_INTEROP"):
        print("FAIL: " + msg + "; TANFANG_REQUIRE_INTEROP is set", file=sys.stderr)
        sys.exit(1)
    print("SKIP: " + msg)
    sys.exit(SKIP)


ensure_dependencies()

import zmq  # noqa: E402
from nacl.bindings import (crypto_sign_ed25519_pk_to_curve25519,  # noqa: E402
                           crypto_sign_ed25519_sk_to_curve25519)
from nacl.signing import SigningKey  # noqa: E402
from zmq.utils import z85  # noqa: E402

DOMAIN = b"tanfang/v1"  # the signing prefix (docs/protocol.md, "Signing")
RECV_TIMEOUT_MS = 10000
DAEMON_START_S = 15
MAX_MESSAGE_SIZE = 1048576  # the daemon's default max_message_size

pb = None  # the generated module, loaded in main()


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print("ok:", what, flush=True)


def env_path(name):
    v = os.environ.get(name)
    if not v:
        raise Failure("environment variable %s is not set (run through meson test)" % name)
    return v


def load_proto(src, outdir):
    """Generates tanfang_pb2 from the .proto with protoc and imports it."""
    global pb
    proto_dir = os.path.join(src, "proto")
    gen = os.path.join(outdir, "gen")
    os.makedirs(gen)
    r = subprocess.run(["protoc", "--proto_path=" + proto_dir, "--python_out=" + gen,
                        os.path.join(proto_dir, "tanfang.proto")],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Failure("protoc failed:\n" + r.stderr)
    sys.path.insert(0, gen)
    import tanfang_pb2
    pb = tanfang_pb2
    print("ok: protoc generated tanfang_pb2 from proto/tanfang.proto", flush=True)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def now_ms():
    return int(time.time() * 1000)


def ref_of(body):
    """Reply.ref: BLAKE2b-256 (unkeyed, 32-byte digest) of Envelope.body."""
    return hashlib.blake2b(body, digest_size=32).digest()


def seal(key, request):
    """Serialises request, signs "tanfang/v1" || body, returns (frame, body)."""
    body = request.SerializeToString()
    sig = key.sign(DOMAIN + body).signature  # detached: the 64-byte signature
    env = pb.Envelope(signer=bytes(key.verify_key), body=body, signature=sig)
    return env.SerializeToString(), body


def visit_request(vid, elder, note="", sent_at_ms=None, visited_at=None, kind=None,
                  location=None):
    req = pb.Request(sent_at_ms=now_ms() if sent_at_ms is None else sent_at_ms)
    v = req.visit
    v.id = vid
    v.elder_id = elder
    v.kind = pb.VISIT_KIND_DOOR if kind is None else kind
    v.visited_at = int(time.time()) - 600 if visited_at is None else visited_at
    v.duration_min = 30
    v.basic_living.finding = pb.FINDING_OK
    v.safety_risk.finding = pb.FINDING_CONCERN
    v.safety_risk.note = "煤炉通风需检查"
    v.family_support.finding = pb.FINDING_OK
    v.care_protection.finding = pb.FINDING_OK
    v.needs.append(pb.AID_MEALS)
    v.note = note
    if location:
        v.lat, v.lon = location
        v.accuracy_m = 15.0
        v.has_location = True
    return req


class Daemon:
    def __init__(self, tanfangd, data, log_path):
        self.tanfangd = tanfangd
        self.data = data
        self.log_path = log_path
        self.proc = None
        self.endpoint = None

    def start(self, extra=()):
        port = free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % port
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.tanfangd, "run", "--data", self.data, "--listen",
                                      self.endpoint] + list(extra),
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + DAEMON_START_S
        while time.monotonic() < deadline:
            if "listening on" in self.log():
                print("ok: tanfangd listening on %s (pid %d)" % (self.endpoint, self.proc.pid),
                      flush=True)
                return
            if self.proc.poll() is not None:
                raise Failure("tanfangd exited with %d before listening:\n%s" %
                              (self.proc.returncode, self.log()))
            time.sleep(0.05)
        raise Failure("tanfangd did not log 'listening on' within %d s:\n%s" %
                      (DAEMON_START_S, self.log()))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


class Admin:
    """The project's admin client, used only for the registry set-up."""

    def __init__(self, bindir, data, endpoint):
        self.argv = [os.path.join(bindir, "tanfang-admin"), "--data", data, "--endpoint",
                     endpoint]

    def __call__(self, *args, expect_rc=0):
        r = subprocess.run(self.argv + list(args), capture_output=True, text=True, timeout=60)
        if r.returncode != expect_rc:
            raise Failure("tanfang-admin %s exited %d (expected %d)\nstdout: %s\nstderr: %s" %
                          (" ".join(args), r.returncode, expect_rc, r.stdout, r.stderr))
        print("ok: tanfang-admin %s" % " ".join(args), flush=True)
        return r.stdout


class Conn:
    """A DEALER socket: one frame out (Envelope), one frame back (Reply)."""

    def __init__(self, ctx, endpoint, server_key=None, key=None):
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        if server_key:
            # The CURVE key pair is the X25519 twin of the Ed25519 key
            # (docs/protocol.md, section 1): the daemon lets in only the
            # twins of enrolled keys. Without a key: ephemeral, refused.
            if key is not None:
                pub = z85.encode(crypto_sign_ed25519_pk_to_curve25519(bytes(key.verify_key)))
                sec = z85.encode(crypto_sign_ed25519_sk_to_curve25519(
                    bytes(key) + bytes(key.verify_key)))
            else:
                pub, sec = zmq.curve_keypair()
            self.sock.curve_serverkey = server_key
            self.sock.curve_publickey = pub
            self.sock.curve_secretkey = sec
        self.sock.connect(endpoint)

    def send(self, frame):
        self.sock.send(frame)

    def recv(self, timeout_ms=RECV_TIMEOUT_MS):
        """The next Reply, or None after timeout_ms."""
        if not self.sock.poll(timeout_ms, zmq.POLLIN):
            return None
        parts = self.sock.recv_multipart()
        if len(parts) != 1:
            raise Failure("reply of %d frames, expected exactly one" % len(parts))
        rep = pb.Reply()
        rep.ParseFromString(parts[0])
        return rep

    def call(self, frame, what):
        self.send(frame)
        rep = self.recv()
        if rep is None:
            raise Failure("%s: no reply within %d ms" % (what, RECV_TIMEOUT_MS))
        return rep

    def close(self):
        self.sock.close(0)


def sname(status):
    return pb.Status.Name(status) if status in pb.Status.values() else str(status)


def expect(rep, status, what, body=None):
    """Checks status (and ref when body is given), naming request and reply."""
    if rep.status != status:
        raise Failure("%s: expected %s, got %s (detail: %r)" %
                      (what, sname(status), sname(rep.status), rep.detail))
    if body is not None and rep.ref != ref_of(body):
        raise Failure("%s: Reply.ref %s != BLAKE2b-256(body) %s" %
                      (what, rep.ref.hex(), ref_of(body).hex()))
    print("ok: %s -> %s%s%s" % (what, sname(rep.status),
                                " (ref matches)" if body is not None else "",
                                (" detail: " + rep.detail) if rep.detail else ""), flush=True)


def run(tmp):
    tanfangd = env_path("TANFANGD")
    bindir = env_path("TANFANG_BIN")
    src = env_path("TANFANG_SRC")
    for p in (tanfangd, os.path.join(bindir, "tanfang-admin")):
        if not os.access(p, os.X_OK):
            raise Failure("%s is not built" % p)
    load_proto(src, tmp)

    data = os.path.join(tmp, "data")
    r = subprocess.run([tanfangd, "init", "--data", data], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise Failure("tanfangd init exited %d:\n%s%s" % (r.returncode, r.stdout, r.stderr))
    with open(os.path.join(data, "curve.pub"), "rb") as f:
        server_key = f.read().strip()
    check(len(server_key) == 40, "tanfangd init wrote DATA/curve.pub, a 40-character Z85 key")

    daemon = Daemon(tanfangd, data, os.path.join(tmp, "daemon.log"))
    ctx = zmq.Context()
    conns = []
    try:
        daemon.start()
        first = exercise(daemon, ctx, conns, Admin(bindir, data, daemon.endpoint), server_key)
        for c in conns:
            c.close()
        conns.clear()
        daemon.stop()
        rc = daemon.proc.returncode
        check(rc == 0, "tanfangd exited 0 on SIGTERM (got %s)" % rc)

        # Restarted without CURVE: a plain DEALER works, and the first
        # visit is still stored (its resend is a duplicate).
        daemon.start(["--no-curve"])
        plain = Conn(ctx, daemon.endpoint)
        conns.append(plain)
        frame, body = first
        expect(plain.call(frame, "after restart"), pb.STATUS_DUPLICATE,
               "first visit resent to the restarted daemon (--no-curve, plain DEALER)", body)
    except Failure:
        print("---- daemon log ----\n%s---- end ----" % daemon.log(), file=sys.stderr)
        raise
    finally:
        for c in conns:
            c.close()
        daemon.stop()
        ctx.term()


def exercise(daemon, ctx, conns, admin, server_key):
    home = (46.7312, 122.9087)
    # ---- registry, through the admin client ----
    admin("area", "add", "152223", "扎赉特旗")
    admin("area", "add", "152224", "Another banner")
    admin("visitor", "add", "gw-py", "Python grid worker", "--role", "grid_worker", "--area",
          "152223")
    admin("elder", "add", "E-PY-1", "Elder One", "--area", "152223", "--lat", str(home[0]),
          "--lon", str(home[1]))
    admin("elder", "add", "E-PY-2", "Elder Two", "--area", "152224")

    key = SigningKey.generate()
    pk_hex = bytes(key.verify_key).hex()
    check(len(pk_hex) == 64 and pk_hex == pk_hex.lower(),
          "own Ed25519 key made with PyNaCl, public key %s" % pk_hex)
    admin("key", "enrol", pk_hex, "--visitor", "gw-py")

    # ---- a key not enrolled cannot even connect ----
    outsider = Conn(ctx, daemon.endpoint, server_key, SigningKey.generate())
    conns.append(outsider)
    outsider.send(b"hello")
    check(outsider.recv(2000) is None,
          "a connection with a key nobody enrolled is refused at the handshake")

    conn = Conn(ctx, daemon.endpoint, server_key, key)
    conns.append(conn)

    # ---- a visit: OK, ref, no flags ----
    vid = os.urandom(16)
    # One visited_at for the visit and its re-sealing: two seals either side
    # of a second's boundary would otherwise differ in content (CONFLICT).
    visited = int(time.time()) - 600
    frame, body = seal(key, visit_request(vid, "E-PY-1", note="first visit", location=home,
                                          visited_at=visited))
    first = (frame, body)
    rep = conn.call(frame, "visit")
    expect(rep, pb.STATUS_OK, "visit %s over CURVE" % vid.hex(), body)
    check(list(rep.flags) == [], "no anti-fabrication flags on a visit at home, dated now")
    check(rep.WhichOneof("result") is None, "a visit's reply carries no result")

    # ---- resend: DUPLICATE ----
    rep = conn.call(frame, "resend")
    expect(rep, pb.STATUS_DUPLICATE, "the same envelope resent", body)

    # Re-signed later (new sent_at_ms, so another body): still the same record.
    frame2, body2 = seal(key, visit_request(vid, "E-PY-1", note="first visit",
                                            sent_at_ms=now_ms() + 1500, location=home,
                                            visited_at=visited))
    time.sleep(0.01)
    check(body2 != body, "re-sealed body differs (sent_at_ms)")
    rep = conn.call(frame2, "re-sealed")
    expect(rep, pb.STATUS_DUPLICATE, "same visit re-sealed with another sent_at_ms", body2)

    # ---- same id, other content: CONFLICT ----
    frame, body = seal(key, visit_request(vid, "E-PY-1", note="edited afterwards",
                                          location=home))
    rep = conn.call(frame, "conflict")
    expect(rep, pb.STATUS_CONFLICT, "same visit id with other content", body)

    # ---- one signature byte flipped: BAD_SIGNATURE, nothing stored ----
    vid2 = os.urandom(16)
    good, body = seal(key, visit_request(vid2, "E-PY-1", note="second visit", location=home))
    env = pb.Envelope()
    env.ParseFromString(good)
    sig = bytearray(env.signature)
    sig[17] ^= 0x01
    env.signature = bytes(sig)
    rep = conn.call(env.SerializeToString(), "bad signature")
    expect(rep, pb.STATUS_BAD_SIGNATURE, "envelope with one signature byte flipped", body)
    rep = conn.call(good, "good after bad")
    expect(rep, pb.STATUS_OK, "the correctly signed envelope afterwards (nothing was stored)",
           body)

    # ---- signature over the body without the domain prefix: BAD_SIGNATURE ----
    env = pb.Envelope(signer=bytes(key.verify_key), body=body,
                      signature=key.sign(body).signature)
    rep = conn.call(env.SerializeToString(), "no prefix")
    expect(rep, pb.STATUS_BAD_SIGNATURE, "signature without the \"tanfang/v1\" prefix", body)

    # ---- a key never enrolled: UNKNOWN_SIGNER ----
    stranger = SigningKey.generate()
    frame, body = seal(stranger, visit_request(os.urandom(16), "E-PY-1", location=home))
    rep = conn.call(frame, "unknown signer")
    expect(rep, pb.STATUS_UNKNOWN_SIGNER, "visit signed by a key never enrolled", body)

    # ---- garbage: MALFORMED, no ref ----
    rep = conn.call(b"\xff\xfe garbage, not an Envelope \x00\x01", "garbage")
    expect(rep, pb.STATUS_MALFORMED, "garbage bytes")
    check(rep.ref == b"", "no ref for a frame that is not an Envelope")

    # ---- a well-signed Request with a bad field: MALFORMED with ref ----
    frame, body = seal(key, visit_request(os.urandom(15), "E-PY-1"))
    rep = conn.call(frame, "15-byte id")
    expect(rep, pb.STATUS_MALFORMED, "visit id of 15 bytes", body)

    # ---- two frames in one message: MALFORMED ----
    frame, body = seal(key, visit_request(os.urandom(16), "E-PY-1"))
    conn.sock.send_multipart([frame, frame])
    rep = conn.recv()
    check(rep is not None, "a reply to a two-frame message")
    expect(rep, pb.STATUS_MALFORMED, "message of two frames")

    # ---- unknown elder, elder outside the visitor's area ----
    frame, body = seal(key, visit_request(os.urandom(16), "E-NOBODY"))
    expect(conn.call(frame, "unknown elder"), pb.STATUS_UNKNOWN_ELDER, "visit to an unknown elder",
           body)
    frame, body = seal(key, visit_request(os.urandom(16), "E-PY-2"))
    expect(conn.call(frame, "out of scope"), pb.STATUS_FORBIDDEN,
           "visit to an elder outside the visitor's area", body)

    # ---- queries are for supervisors, admins, dispatchers ----
    req = pb.Request(sent_at_ms=now_ms())
    req.overdue.limit = 10
    frame, body = seal(key, req)
    expect(conn.call(frame, "query"), pb.STATUS_FORBIDDEN, "overdue query by a grid worker", body)

    # ---- registry changes are for admins ----
    req = pb.Request(sent_at_ms=now_ms())
    req.put_area.area.code = "152225"
    req.put_area.area.name = "Not allowed"
    frame, body = seal(key, req)
    expect(conn.call(frame, "put_area"), pb.STATUS_FORBIDDEN, "put_area by a grid worker", body)

    # ---- clock: ahead refused; an old visit accepted, an old query not ----
    frame, body = seal(key, visit_request(os.urandom(16), "E-PY-1",
                                          sent_at_ms=now_ms() + 3600 * 1000))
    expect(conn.call(frame, "ahead"), pb.STATUS_CLOCK_SKEW, "visit sent_at_ms one hour ahead",
           body)
    day_ago = now_ms() - 86400 * 1000
    frame, body = seal(key, visit_request(os.urandom(16), "E-PY-1", sent_at_ms=day_ago,
                                          visited_at=day_ago // 1000, location=home))
    expect(conn.call(frame, "old visit"), pb.STATUS_OK,
           "visit signed a day ago (offline outbox)", body)
    req = pb.Request(sent_at_ms=day_ago)
    req.overdue.limit = 10
    frame, body = seal(key, req)
    expect(conn.call(frame, "old query"), pb.STATUS_CLOCK_SKEW, "query signed a day ago", body)

    # ---- anti-fabrication flags ----
    frame, body = seal(key, visit_request(os.urandom(16), "E-PY-1",
                                          visited_at=int(time.time()) - 60 * 86400,
                                          location=(home[0] + 0.1, home[1])))
    rep = conn.call(frame, "flags")
    expect(rep, pb.STATUS_OK, "door visit dated 60 days ago, 11 km from home", body)
    check(sorted(rep.flags) == ["dated_long_ago", "far_from_home"],
          "Reply.flags = %s" % list(rep.flags))

    # ---- several in flight, matched by ref ----
    sent = {}
    for i in range(5):
        frame, body = seal(key, visit_request(os.urandom(16), "E-PY-1", note="batch %d" % i))
        sent[ref_of(body)] = i
        conn.send(frame)
    got = set()
    for _ in range(5):
        rep = conn.recv()
        if rep is None:
            raise Failure("pipelined: a reply missing after %d ms" % RECV_TIMEOUT_MS)
        if rep.status != pb.STATUS_OK or rep.ref not in sent:
            raise Failure("pipelined: reply %s ref %s does not match a request" %
                          (sname(rep.status), rep.ref.hex()))
        got.add(rep.ref)
    check(len(got) == 5, "5 visits in flight: every reply matched to its request by ref")

    # ---- oversize: TOO_LARGE with ref ----
    big = bytes(MAX_MESSAGE_SIZE + 1000)
    env = pb.Envelope(signer=bytes(key.verify_key), body=big, signature=bytes(64))
    rep = conn.call(env.SerializeToString(), "too large")
    expect(rep, pb.STATUS_TOO_LARGE, "envelope over the 1 MiB default limit", big)

    # ---- far above the limit: the connection is dropped, the daemon stays up ----
    huge = Conn(ctx, daemon.endpoint, server_key, key)
    conns.append(huge)
    env = pb.Envelope(signer=bytes(key.verify_key), body=bytes(3 * MAX_MESSAGE_SIZE),
                      signature=bytes(64))
    huge.send(env.SerializeToString())
    check(huge.recv(2000) is None, "no reply to a 3 MiB frame (connection dropped)")
    frame, body = seal(key, visit_request(os.urandom(16), "E-PY-1", location=home))
    expect(conn.call(frame, "after huge"), pb.STATUS_OK,
           "the daemon still serves the other connection", body)

    # ---- the transport is CURVE: a plain client gets nothing ----
    plain = Conn(ctx, daemon.endpoint)
    conns.append(plain)
    frame, body = seal(key, visit_request(os.urandom(16), "E-PY-1"))
    plain.send(frame)
    check(plain.recv(2000) is None, "a client without CURVE gets no reply from a TCP endpoint")

    # ---- the enrolled key is listed in hex ----
    out = admin("list", "keys")
    check(pk_hex in out, "tanfang-admin list keys shows the key as %s" % pk_hex)
    return first


def main():
    tmp = tempfile.mkdtemp(prefix="tanfang-interop-")
    try:
        run(tmp)
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr, flush=True)
        return 1
    except (OSError, subprocess.SubprocessError) as e:
        print("FAIL: %s" % e, file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("independent client: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
