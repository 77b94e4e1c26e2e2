#!/usr/bin/env python3
"""A SASL-terminating TCP proxy that makes a plaintext Kafka broker look like a
Kafka SASL listener, for kafka-sync's interoperability tests.

tansu 0.6 has no working SASL, so the tests put this proxy in front of it:

    client --SASL_PLAINTEXT--> sasl_proxy.py --PLAINTEXT--> tansu

(and stunnel in front of the proxy for SASL_SSL). For every client connection
the proxy opens one upstream connection, then plays the broker's side of the
SASL exchange the way Apache Kafka's SaslServerAuthenticator does:

- Before authentication only ApiVersions (key 18), SaslHandshake (17, v0-v1)
  and SaslAuthenticate (36, v0-v2) are accepted; any other request closes the
  connection. ApiVersions goes to the broker and its answer is patched to
  advertise SaslHandshake v0-1 and SaslAuthenticate v0-2 (responses v0-v3 and
  later; v3+ are flexible). A second ApiVersions after a successful one, as in
  Kafka, closes the connection.
- SaslHandshake answers the enabled mechanisms; an unknown one gets error 33
  UNSUPPORTED_SASL_MECHANISM and the connection is closed. SaslHandshake v0
  (raw SASL tokens without Kafka framing) is not supported: logged and closed.
- SaslAuthenticate runs the mechanism: PLAIN (RFC 4616), SCRAM-SHA-256 and
  SCRAM-SHA-512 (RFC 5802 / RFC 7677, server side by the PyPI package scramp,
  4096 iterations as Kafka's minimum), OAUTHBEARER (RFC 7628) with Kafka's
  unsecured JWS tokens (header alg "none", empty signature, claims "sub" and
  "exp" required, "iat" not in the future). A failure answers error 58
  SASL_AUTHENTICATION_FAILED with a message naming the user (for OAUTHBEARER
  the token's "sub", when it has one), then closes the connection. An OAUTHBEARER token that fails validation first gets the RFC
  7628 JSON error as a server challenge; the client's %x01 reply then fails.
- With --session-lifetime-ms, the final SaslAuthenticate response (v1+)
  reports the session lifetime (for OAUTHBEARER: the smaller of it and the
  token's remaining lifetime, the token's alone without the option), the
  session expires after it, and any request but a SaslHandshake that arrives
  after expiry closes the connection (Kafka's behaviour). KIP-368 re-authentication
  (SaslHandshake v1 + SaslAuthenticate on an authenticated connection) is
  answered by the proxy once every earlier request that expects a response has
  been answered (Produce with acks=0 has none), so responses stay in order; it
  must keep the mechanism and the user, and renews the session. Without a
  session lifetime a late SaslHandshake gets ILLEGAL_SASL_STATE (34), as from
  Kafka's request handler.
- After authentication, frames are piped both ways unchanged, except
  ApiVersions responses (patched as above) and responses to Produce requests
  with acks=0, which tansu 0.6 sends and Kafka does not: they are dropped.

Statistics go to --stats as JSON, rewritten atomically on every event:
connections, open_connections, authentications, authentications_by_mechanism,
reauthentications, reauthentications_per_connection ({connection id: count}),
failed_authentications, expired_session_closes, listening ("host:port").
The file is first written once the listening socket accepts connections.

Logs go to stderr. Passwords never appear in them.

Usage:

    sasl_proxy.py --listen 9093 --upstream 127.0.0.1:9092 \\
        --user alice:alice-secret --user bob:bob-secret \\
        --mechanisms PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER \\
        [--session-lifetime-ms 3000] --stats /tmp/proxy-stats.json
"""

import argparse
import base64
import binascii
import itertools
import json
import logging
import os
import socket
import struct
import sys
import threading
import time
from collections import deque

try:
    import scramp
except ImportError:
    sys.exit(
        "sasl_proxy.py needs the PyPI package scramp: run it with the venv's python that "
        '`eval "$(.ci/test-env.sh)"` exports as KAFKA_SYNC_PYTHON'
    )

API_PRODUCE = 0
API_SASL_HANDSHAKE = 17
API_API_VERSIONS = 18
API_SASL_AUTHENTICATE = 36

ERROR_NONE = 0
ERROR_UNSUPPORTED_SASL_MECHANISM = 33
ERROR_ILLEGAL_SASL_STATE = 34
ERROR_SASL_AUTHENTICATION_FAILED = 58

# The versions this proxy answers, advertised in every ApiVersions response.
SASL_HANDSHAKE_VERSIONS = (0, 1)
SASL_AUTHENTICATE_VERSIONS = (0, 2)

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")

# Kafka's limit for frames before authentication (saslAuthRequestMaxReceiveSize)
# and its default socket.request.max.bytes after it.
MAX_FRAME_BEFORE_AUTH = 512 * 1024
MAX_FRAME = 100 * 1024 * 1024

# How long a re-authentication waits for earlier responses from the broker.
REAUTH_DRAIN_TIMEOUT = 60.0

# How many forwarded requests without a response are remembered at most.
MAX_UNANSWERED = 100_000

log = logging.getLogger("sasl_proxy")


class ProtocolError(Exception):
    """A frame that cannot be parsed: the connection is closed."""


class InvalidToken(Exception):
    """An OAUTHBEARER token that fails validation (the reason is logged)."""


class AuthFailed(Exception):
    """Authentication failed; the message goes to the client (error 58)."""

    def __init__(self, message, user=None):
        super().__init__(message)
        self.user = user


# ---------------------------------------------------------------------------
# Wire primitives
# ---------------------------------------------------------------------------


class Reader:
    """Reads Kafka primitive types from a bytes object."""

    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError(f"truncated frame: need {n} bytes at {self.pos} of {len(self.data)}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int16(self):
        return struct.unpack(">h", self.take(2))[0]

    def int32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self):
        value = 0
        for shift in range(0, 35, 7):
            (byte,) = self.take(1)
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise ProtocolError("unsigned varint longer than 5 bytes")

    def nullable_string(self):
        n = self.int16()
        return None if n < 0 else self.take(n).decode("utf-8", "replace")

    def compact_nullable_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode("utf-8", "replace")

    def bytes32(self):
        n = self.int32()
        return b"" if n < 0 else self.take(n)

    def compact_bytes(self):
        n = self.uvarint()
        return b"" if n == 0 else self.take(n - 1)

    def skip_tagged_fields(self):
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())


def uvarint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def string16(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode("utf-8")
    return struct.pack(">h", len(b)) + b


def compact_nullable_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode("utf-8")
    return uvarint(len(b) + 1) + b


class RequestHeader:
    """Request header v1 (v2 for flexible versions: tagged fields follow)."""

    def __init__(self, api_key, api_version, correlation_id, client_id, body_offset):
        self.api_key = api_key
        self.api_version = api_version
        self.correlation_id = correlation_id
        self.client_id = client_id
        self.body_offset = body_offset

    def __repr__(self):
        return f"key={self.api_key} v{self.api_version} corr={self.correlation_id}"


# The first flexible request version of the APIs whose bodies the proxy reads.
FIRST_FLEXIBLE = {
    API_PRODUCE: 9,
    API_SASL_HANDSHAKE: None,  # never flexible
    API_API_VERSIONS: 3,
    API_SASL_AUTHENTICATE: 2,
}


def is_flexible(api_key, api_version):
    first = FIRST_FLEXIBLE.get(api_key)
    return first is not None and api_version >= first


def parse_request_header(frame):
    """Parses the header; the body offset is exact for the APIs in FIRST_FLEXIBLE."""
    r = Reader(frame)
    api_key, api_version, correlation_id = r.int16(), r.int16(), r.int32()
    client_id = r.nullable_string()  # always a classic string, even in header v2
    if is_flexible(api_key, api_version):
        r.skip_tagged_fields()
    return RequestHeader(api_key, api_version, correlation_id, client_id, r.pos)


def expects_response(header, frame):
    """False only for Produce with acks=0, which the broker never answers."""
    if header.api_key != API_PRODUCE:
        return True
    r = Reader(frame, header.body_offset)
    try:
        if header.api_version >= 9:
            r.compact_nullable_string()  # transactional_id
        elif header.api_version >= 3:
            r.nullable_string()  # transactional_id
        return r.int16() != 0  # acks
    except ProtocolError:
        return True


def patch_api_versions_response(frame, version):
    """Returns the ApiVersions response frame (correlation id included) with
    SaslHandshake and SaslAuthenticate advertised at the proxy's versions.

    The response header is always v0, even for flexible versions (v3+). An
    error response is returned unchanged (Kafka answers an unsupported version
    with a v0 body whatever the request's version).
    """
    r = Reader(frame, 4)
    error_code = r.int16()
    if error_code != ERROR_NONE:
        return frame
    flexible = version >= 3
    count = r.uvarint() - 1 if flexible else r.int32()
    if count < 0:
        return frame
    entries = {}
    for _ in range(count):
        start = r.pos
        key = r.int16()
        r.take(4)  # min and max versions
        if flexible:
            r.skip_tagged_fields()
        entries[key] = frame[start : r.pos]
    rest = frame[r.pos :]  # throttle_time_ms (v1+) and the tagged fields (v3+)
    tail = b"\x00" if flexible else b""
    entries[API_SASL_HANDSHAKE] = struct.pack(">hhh", API_SASL_HANDSHAKE, *SASL_HANDSHAKE_VERSIONS) + tail
    entries[API_SASL_AUTHENTICATE] = struct.pack(">hhh", API_SASL_AUTHENTICATE, *SASL_AUTHENTICATE_VERSIONS) + tail
    count_bytes = uvarint(len(entries) + 1) if flexible else struct.pack(">i", len(entries))
    body = b"".join(entries[k] for k in sorted(entries))
    return frame[:4] + struct.pack(">h", error_code) + count_bytes + body + rest


def sasl_handshake_response(correlation_id, error_code, mechanisms):
    """SaslHandshake response v0/v1 (never flexible: response header v0)."""
    body = struct.pack(">ih", correlation_id, error_code) + struct.pack(">i", len(mechanisms))
    return body + b"".join(string16(m) for m in mechanisms)


def sasl_authenticate_response(correlation_id, version, error_code, error_message, auth_bytes, lifetime_ms):
    """SaslAuthenticate response v0-v2 (v2 flexible: response header v1)."""
    out = struct.pack(">i", correlation_id)
    if version >= 2:
        out += b"\x00"  # response header v1 tagged fields
        out += struct.pack(">h", error_code) + compact_nullable_string(error_message)
        out += uvarint(len(auth_bytes) + 1) + auth_bytes
    else:
        out += struct.pack(">h", error_code) + string16(error_message)
        out += struct.pack(">i", len(auth_bytes)) + auth_bytes
    if version >= 1:
        out += struct.pack(">q", lifetime_ms)
    if version >= 2:
        out += b"\x00"
    return out


def parse_sasl_authenticate(header, frame):
    r = Reader(frame, header.body_offset)
    return r.compact_bytes() if header.api_version >= 2 else r.bytes32()


def parse_sasl_handshake(header, frame):
    return Reader(frame, header.body_offset).nullable_string() or ""


# ---------------------------------------------------------------------------
# Mechanisms: step(auth_bytes) -> (response_bytes, done); when done, .user is
# the authenticated user and .credential_expiry_ms the credential's expiry
# (wall clock, ms) or None. Failures raise AuthFailed.
# ---------------------------------------------------------------------------


class Plain:
    """RFC 4616: [authzid] NUL authcid NUL passwd, checked against --user."""

    name = "PLAIN"

    def __init__(self, users):
        self.users = users
        self.user = None
        self.credential_expiry_ms = None

    def step(self, data):
        parts = data.split(b"\x00")
        if len(parts) != 3:
            raise AuthFailed("Authentication failed: Invalid SASL/PLAIN response: expected 3 tokens")
        authzid, user, password = (p.decode("utf-8", "replace") for p in parts)
        if authzid and authzid != user:
            raise AuthFailed(
                f"Authentication failed: Client requested an authorization id ({authzid}) "
                f"that is different from username ({user})",
                user,
            )
        if user not in self.users or self.users[user] != password:
            raise AuthFailed(f"Authentication failed: Invalid username or password for user '{user}'", user)
        self.user = user
        return b"", True


def decode_saslname(name):
    """RFC 5802's saslname: '=2C' is ',' and '=3D' is '='."""
    return name.replace("=2C", ",").replace("=3D", "=")


class Scram:
    """SCRAM-SHA-256 / -512: the server side is scramp's ScramServer."""

    def __init__(self, name, auth_infos, context):
        self.name = name
        self.auth_infos = auth_infos  # user -> (salt, stored_key, server_key, iterations)
        self.context = context  # "authentication" or "re-authentication"
        self.server = scramp.ScramMechanism(name).make_server(self._lookup)
        self.stage = 0
        self.user = None
        self.credential_expiry_ms = None

    def _lookup(self, raw_user):
        self.user = decode_saslname(raw_user)
        info = self.auth_infos.get(self.user)
        if info is None:
            raise self._failed()
        return info

    def _failed(self):
        # Kafka's message, plus the user, which the tests want to see.
        return AuthFailed(
            f"Authentication failed during {self.context} due to invalid credentials with SASL "
            f"mechanism {self.name} for user '{self.user}'",
            self.user,
        )

    def step(self, data):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthFailed(f"Authentication failed: {self.name} message is not UTF-8") from None
        try:
            if self.stage == 0:
                self.stage = 1
                self.server.set_client_first(text)
                return self.server.get_server_first().encode("utf-8"), False
            if self.stage == 1:
                self.stage = 2
                self.server.set_client_final(text)
                return self.server.get_server_final().encode("utf-8"), True
        except scramp.ScramException as e:
            log.info("%s for user %r failed: %s", self.name, self.user, e)
            raise self._failed() from None
        raise AuthFailed(f"Authentication failed: unexpected {self.name} message after the exchange ended", self.user)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class OAuthBearer:
    """RFC 7628 with Kafka's unsecured JWS tokens (alg "none")."""

    name = "OAUTHBEARER"

    def __init__(self):
        self.user = None
        self.credential_expiry_ms = None
        self.error = None

    def step(self, data):
        if self.error is not None:
            if data == b"\x01":
                whose = f" for user '{self.user}'" if self.user else ""
                raise AuthFailed(f"Authentication failed: {self.error}{whose}", self.user)
            self.error = None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthFailed("Authentication failed: OAUTHBEARER message is not UTF-8") from None
        # gs2-header "n,[a=authzid]," then kvsep, key=value pairs each ending in kvsep, kvsep.
        if not text.startswith("n,") or "\x01" not in text or not text.endswith("\x01\x01"):
            raise AuthFailed("Authentication failed: invalid OAUTHBEARER client first message")
        gs2, _, kvpairs = text.partition("\x01")
        authzid = gs2[2:-1]
        authzid = authzid[2:] if authzid.startswith("a=") else ""
        pairs = dict(p.split("=", 1) for p in kvpairs.split("\x01") if "=" in p)
        scheme, _, token = pairs.get("auth", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthFailed("Authentication failed: OAUTHBEARER message has no 'auth=Bearer <token>'")
        try:
            sub, expiry_ms = self._validate(token.strip())
        except InvalidToken as e:
            # RFC 7628 section 3.2.2: the error goes back as a challenge, the client answers %x01.
            self.error = '{"status":"invalid_token"}'
            log.info("OAUTHBEARER token for %r refused: %s", self.user, e)
            return self.error.encode("utf-8"), False
        if authzid and authzid != sub:
            raise AuthFailed(
                f"Authentication failed: Client requested an authorization id ({authzid}) that is "
                f"different from the token's principal name ({sub})",
                sub,
            )
        self.user = sub
        self.credential_expiry_ms = expiry_ms
        return b"", True

    def _validate(self, token):
        """Returns (sub, exp in ms); InvalidToken says what is wrong."""
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("not a compact JWS (header.claims.signature)")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
        except (binascii.Error, ValueError) as e:
            raise InvalidToken(f"malformed base64url or JSON: {e}") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise InvalidToken("header and claims must be JSON objects")
        sub = claims.get("sub")
        if isinstance(sub, str) and sub.strip():
            self.user = sub
        if header.get("alg") != "none":
            raise InvalidToken(f"unsecured JWS must have alg 'none', not {header.get('alg')!r}")
        if parts[2]:
            raise InvalidToken("unsecured JWS must not carry a signature")
        if not isinstance(sub, str) or not sub.strip():
            raise InvalidToken("no principal name in the 'sub' claim")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            raise InvalidToken("no expiration time ('exp') in the token")
        now_ms = time.time() * 1000
        expiry_ms = int(exp * 1000)
        if expiry_ms <= now_ms:
            raise InvalidToken(f"token expired {(now_ms - expiry_ms) / 1000:.1f} s ago")
        iat = claims.get("iat")
        if isinstance(iat, (int, float)) and not isinstance(iat, bool):
            if iat * 1000 > now_ms:
                raise InvalidToken("token issued in the future ('iat')")
            if iat >= exp:
                raise InvalidToken("'iat' is not before 'exp'")
        return sub, expiry_ms


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------


class Stats:
    """Counters, written as JSON to a file after every change."""

    def __init__(self, path, listening):
        self.path = path
        self.lock = threading.Lock()
        self.data = {
            "listening": listening,
            "connections": 0,
            "open_connections": 0,
            "authentications": 0,
            "authentications_by_mechanism": {},
            "reauthentications": 0,
            "reauthentications_per_connection": {},
            "failed_authentications": 0,
            "expired_session_closes": 0,
        }
        with self.lock:
            self._write()

    def update(self, fn):
        with self.lock:
            fn(self.data)
            self._write()

    def _write(self):
        if not self.path:
            return
        tmp = f"{self.path}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.data, f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.path)
        except OSError as e:
            log.warning("cannot write stats to %s: %s", self.path, e)


# ---------------------------------------------------------------------------
# One proxied connection
# ---------------------------------------------------------------------------


def recv_exact(sock, n):
    """n bytes, or None on EOF at a frame boundary."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            if buf:
                raise ProtocolError(f"connection closed inside a frame ({len(buf)} of {n} bytes)")
            return None
        buf += chunk
    return bytes(buf)


def recv_frame(sock, max_size):
    size_bytes = recv_exact(sock, 4)
    if size_bytes is None:
        return None
    (size,) = struct.unpack(">i", size_bytes)
    if size < 0 or size > max_size:
        raise ProtocolError(f"frame size {size} outside 0..{max_size}")
    body = recv_exact(sock, size)
    if body is None:
        raise ProtocolError("connection closed after a frame size")
    return body


class Close(Exception):
    """Ends the connection (the reason is logged)."""


class Connection:
    """A client connection and its upstream connection.

    Two threads: this one reads the client and runs the SASL state machine;
    `_pump_upstream` relays the broker's responses. Writes to the client are
    serialised by `send_lock`. `pending` lists the forwarded requests in order,
    each with whether the client expects a response; `awaiting` counts those
    that do and were not answered yet (re-authentication waits for zero).

    Produce with acks=0 gets no response from Kafka, but tansu 0.6 sends one:
    such a response is dropped, so the client sees what Kafka would send. A
    broker that sends none is fine too: unanswered acks=0 entries are skipped
    when a later response arrives.
    """

    # "start" (before SaslHandshake), "handshake_done", "authenticated",
    # "reauth_handshake_done". Only the client thread changes it.

    def __init__(self, proxy, conn_id, client, peer):
        self.proxy = proxy
        self.id = conn_id
        self.client = client
        self.peer = peer
        self.upstream = None
        self.send_lock = threading.Lock()
        self.cond = threading.Condition()
        self.pending = deque()  # (correlation id, api key, api version, expects response)
        self.awaiting = 0  # entries of `pending` that expect a response
        self.closed = False
        self.state = "start"
        self.mechanism = None  # the mechanism name chosen by the handshake
        self.session = None  # the running mechanism object
        self.user = None
        self.session_expiry = None  # time.monotonic() deadline, or None
        self.reauths = 0
        self.versions_ok = False  # a successful ApiVersions response was relayed
        self.bad_mechanism = None  # why the pending re-authentication must fail
        self.dropped_acks0 = 0  # responses to acks=0 Produce requests dropped

    # --- plumbing -------------------------------------------------------------

    def send_client(self, data):
        with self.send_lock:
            self.client.sendall(struct.pack(">i", len(data)) + data)

    def close(self, reason):
        with self.cond:
            if self.closed:
                return
            self.closed = True
            self.cond.notify_all()
        log.info("conn %d: closing (%s)", self.id, reason)
        for s in (self.client, self.upstream):
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def run(self):
        try:
            self._run()
        finally:
            self.proxy.stats.update(lambda d: d.__setitem__("open_connections", d["open_connections"] - 1))

    def _run(self):
        try:
            self.upstream = socket.create_connection(self.proxy.upstream, timeout=10)
            self.upstream.settimeout(None)
            self.upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            log.warning("conn %d: cannot connect to upstream %s:%d: %s", self.id, *self.proxy.upstream, e)
            self.close("no upstream")
            return
        pump = threading.Thread(target=self._pump_upstream, name=f"conn-{self.id}-up", daemon=True)
        pump.start()
        reason = "client closed the connection"
        try:
            while True:
                limit = MAX_FRAME if self.state == "authenticated" else MAX_FRAME_BEFORE_AUTH
                frame = recv_frame(self.client, limit)
                if frame is None:
                    break
                self._on_request(frame)
        except Close as e:
            reason = str(e)
        except ProtocolError as e:
            reason = f"protocol error: {e}"
        except OSError as e:
            reason = f"client socket: {e}"
        except Exception as e:  # one bad connection must not kill the proxy
            log.exception("conn %d: unexpected error", self.id)
            reason = f"unexpected error: {e!r}"
        finally:
            self.close(reason)
            pump.join(timeout=5)

    def _pump_upstream(self):
        reason = "upstream closed the connection"
        try:
            while True:
                frame = recv_frame(self.upstream, MAX_FRAME)
                if frame is None:
                    break
                if len(frame) < 4:
                    raise ProtocolError("response shorter than its correlation id")
                (corr,) = struct.unpack_from(">i", frame)
                with self.cond:
                    # acks=0 Produce requests the broker did not answer (as Kafka does not).
                    while self.pending and not self.pending[0][3] and self.pending[0][0] != corr:
                        self.pending.popleft()
                    if self.pending and self.pending[0][0] == corr:
                        _, api_key, version, expected = self.pending.popleft()
                        if expected:
                            self.awaiting -= 1
                    else:
                        log.warning(
                            "conn %d: response corr=%d does not match the oldest request %s",
                            self.id,
                            corr,
                            self.pending[0] if self.pending else None,
                        )
                        api_key = version = None
                        expected = True
                    self.cond.notify_all()
                if not expected:
                    if not self.dropped_acks0:
                        log.info(
                            "conn %d: the broker answered an acks=0 Produce (corr=%d); dropped, "
                            "as Kafka sends no such response (logged once per connection)",
                            self.id,
                            corr,
                        )
                    self.dropped_acks0 += 1
                    continue
                if api_key == API_API_VERSIONS:
                    frame = patch_api_versions_response(frame, version)
                    if struct.unpack_from(">h", frame, 4)[0] == ERROR_NONE:
                        self.versions_ok = True
                self.send_client(frame)
        except (OSError, ProtocolError) as e:
            reason = f"upstream: {e}"
        except Exception as e:  # likewise
            log.exception("conn %d: unexpected error relaying responses", self.id)
            reason = f"unexpected error relaying responses: {e!r}"
        self.close(reason)

    def _forward(self, header, frame):
        expected = expects_response(header, frame)
        with self.cond:
            self.pending.append((header.correlation_id, header.api_key, header.api_version, expected))
            if expected:
                self.awaiting += 1
            # A broker that (like Kafka) never answers acks=0 leaves their entries
            # behind until another response arrives; keep that bounded.
            while len(self.pending) > MAX_UNANSWERED and not self.pending[0][3]:
                self.pending.popleft()
        # Only this thread writes to the upstream socket.
        self.upstream.sendall(struct.pack(">i", len(frame)) + frame)

    def _drain(self):
        """Waits until every forwarded request that expects a response was answered."""
        deadline = time.monotonic() + REAUTH_DRAIN_TIMEOUT
        with self.cond:
            while self.awaiting and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Close(f"{self.awaiting} responses still outstanding after {REAUTH_DRAIN_TIMEOUT} s")
                self.cond.wait(left)
            if self.closed:
                raise Close("closed while waiting for outstanding responses")

    # --- the state machine ------------------------------------------------------

    def _on_request(self, frame):
        header = parse_request_header(frame)
        key = header.api_key
        if self.state == "authenticated":
            if key == API_SASL_HANDSHAKE:
                self._drain()
                self._handshake(header, frame, reauth=True)
            elif key == API_SASL_AUTHENTICATE:
                self._close_if_expired(header)
                self._drain()
                # Kafka's request handler: SaslAuthenticate after authentication is illegal.
                self.send_client(
                    sasl_authenticate_response(
                        header.correlation_id,
                        header.api_version,
                        ERROR_ILLEGAL_SASL_STATE,
                        "SaslAuthenticate request received after successful authentication",
                        b"",
                        0,
                    )
                )
            else:
                self._close_if_expired(header)
                self._forward(header, frame)
            return

        if self.state in ("handshake_done", "reauth_handshake_done"):
            if key != API_SASL_AUTHENTICATE:
                raise Close(f"unexpected request {header} during SASL authentication")
            self._authenticate(header, frame)
            return

        # Not authenticated yet.
        if key == API_API_VERSIONS:
            if self.versions_ok:
                raise Close("a second ApiVersions request after a successful one (Kafka closes too)")
            self._forward(header, frame)
        elif key == API_SASL_HANDSHAKE:
            self._handshake(header, frame, reauth=False)
        elif key == API_SASL_AUTHENTICATE:
            raise Close("SaslAuthenticate before SaslHandshake")
        else:
            raise Close(f"unexpected request {header} before authentication (only 17, 18, 36 are allowed)")

    def _close_if_expired(self, header):
        """Kafka closes a connection whose session expired when any request but
        a re-authentication's SaslHandshake arrives."""
        if self.session_expiry is not None and time.monotonic() > self.session_expiry:
            self.proxy.stats.update(lambda d: d.__setitem__("expired_session_closes", d["expired_session_closes"] + 1))
            raise Close(f"session of {self.user!r} expired; request {header} arrived after expiry")

    def _handshake(self, header, frame, reauth):
        if header.api_version == 0:
            raise Close(
                "SaslHandshake v0 (raw SASL tokens without Kafka framing) is not supported by this proxy; "
                "use SaslHandshake v1 with SaslAuthenticate"
            )
        if header.api_version > SASL_HANDSHAKE_VERSIONS[1]:
            raise Close(f"unsupported SaslHandshake version {header.api_version}")
        mechanism = parse_sasl_handshake(header, frame)
        enabled = self.proxy.mechanisms
        if reauth and self.session_expiry is None:
            # Kafka only re-authenticates sessions that expire; otherwise its
            # request handler answers the handshake with ILLEGAL_SASL_STATE.
            log.info("conn %d: SaslHandshake on an authenticated connection without a session lifetime", self.id)
            self.send_client(sasl_handshake_response(header.correlation_id, ERROR_ILLEGAL_SASL_STATE, []))
            return
        if mechanism not in enabled:
            self.send_client(sasl_handshake_response(header.correlation_id, ERROR_UNSUPPORTED_SASL_MECHANISM, enabled))
            self._count_failure()
            raise Close(f"unsupported SASL mechanism {mechanism!r} (enabled: {', '.join(enabled)})")
        if reauth and mechanism != self.mechanism:
            self.send_client(sasl_handshake_response(header.correlation_id, ERROR_NONE, enabled))
            self.state = "reauth_handshake_done"
            self.session = None  # the next SaslAuthenticate fails
            self.bad_mechanism = f"re-authentication changed the mechanism from {self.mechanism} to {mechanism}"
            return
        self.mechanism = mechanism
        self.session = self.proxy.new_mechanism(mechanism, "re-authentication" if reauth else "authentication")
        self.state = "reauth_handshake_done" if reauth else "handshake_done"
        log.info("conn %d: %s handshake, mechanism %s", self.id, "re-authentication" if reauth else "SASL", mechanism)
        self.send_client(sasl_handshake_response(header.correlation_id, ERROR_NONE, enabled))

    def _authenticate(self, header, frame):
        version = header.api_version
        if version > SASL_AUTHENTICATE_VERSIONS[1]:
            raise Close(f"unsupported SaslAuthenticate version {version}")
        reauth = self.state == "reauth_handshake_done"
        auth_bytes = parse_sasl_authenticate(header, frame)
        try:
            if self.session is None:
                raise AuthFailed(f"Authentication failed: {self.bad_mechanism}", self.user)
            response, done = self.session.step(auth_bytes)
            if done and reauth and self.session.user != self.user:
                raise AuthFailed(
                    f"Authentication failed: re-authentication changed the user from '{self.user}' "
                    f"to '{self.session.user}'",
                    self.session.user,
                )
        except AuthFailed as e:
            self.send_client(
                sasl_authenticate_response(
                    header.correlation_id, version, ERROR_SASL_AUTHENTICATION_FAILED, str(e), b"", 0
                )
            )
            self._count_failure()
            raise Close(f"{'re-' if reauth else ''}authentication failed: {e}") from None
        lifetime_ms = 0
        if done:
            lifetime_ms = self._start_session()
        self.send_client(
            sasl_authenticate_response(header.correlation_id, version, ERROR_NONE, None, response, lifetime_ms)
        )
        if not done:
            return
        self.state = "authenticated"
        mech = self.mechanism
        if reauth:
            self.reauths += 1
            n = self.reauths

            def count(d):
                d["reauthentications"] += 1
                d["reauthentications_per_connection"][str(self.id)] = n

            self.proxy.stats.update(count)
        else:

            def count(d):
                d["authentications"] += 1
                by = d["authentications_by_mechanism"]
                by[mech] = by.get(mech, 0) + 1

            self.proxy.stats.update(count)
        log.info(
            "conn %d: %s user %r with %s (SaslAuthenticate v%d, session lifetime %s)",
            self.id,
            "re-authenticated" if reauth else "authenticated",
            self.user,
            mech,
            version,
            f"{lifetime_ms} ms" if self.session_expiry is not None else "unlimited",
        )

    def _start_session(self):
        """Sets the user and the session expiry; returns the lifetime to report."""
        self.user = self.session.user
        configured = self.proxy.session_lifetime_ms
        credential_expiry_ms = self.session.credential_expiry_ms
        if credential_expiry_ms is None and not configured:
            self.session_expiry = None
            return 0
        lifetimes = []
        if configured:
            lifetimes.append(configured)
        if credential_expiry_ms is not None:
            lifetimes.append(credential_expiry_ms - time.time() * 1000)
        lifetime = max(0, int(min(lifetimes)))
        self.session_expiry = time.monotonic() + lifetime / 1000
        return lifetime

    def _count_failure(self):
        self.proxy.stats.update(lambda d: d.__setitem__("failed_authentications", d["failed_authentications"] + 1))


# ---------------------------------------------------------------------------
# The listener
# ---------------------------------------------------------------------------


class Proxy:
    def __init__(self, args):
        self.upstream = args.upstream
        self.mechanisms = args.mechanisms
        self.session_lifetime_ms = args.session_lifetime_ms
        self.users = args.users
        # SCRAM credentials are derived once (4096 PBKDF2 iterations, Kafka's minimum).
        self.scram_infos = {}
        for mech in self.mechanisms:
            if mech.startswith("SCRAM-"):
                m = scramp.ScramMechanism(mech)
                self.scram_infos[mech] = {
                    user: m.make_auth_info(password, iteration_count=4096) for user, password in self.users.items()
                }
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((args.host, args.listen))
        self.listener.listen(128)
        host, port = self.listener.getsockname()
        self.stats = Stats(args.stats, f"{host}:{port}")
        log.info(
            "listening on %s:%d -> upstream %s:%d; mechanisms %s; users %s; session lifetime %s",
            host,
            port,
            *self.upstream,
            ",".join(self.mechanisms),
            ",".join(sorted(self.users)),
            f"{self.session_lifetime_ms} ms" if self.session_lifetime_ms else "unlimited",
        )

    def new_mechanism(self, name, context):
        if name == "PLAIN":
            return Plain(self.users)
        if name == "OAUTHBEARER":
            return OAuthBearer()
        return Scram(name, self.scram_infos[name], context)

    def serve(self):
        for conn_id in itertools.count(1):
            try:
                client, peer = self.listener.accept()
            except OSError as e:
                log.warning("accept failed: %s", e)
                time.sleep(0.05)
                continue
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def opened(d):
                d["connections"] += 1
                d["open_connections"] += 1

            self.stats.update(opened)
            log.info("conn %d: accepted from %s:%d", conn_id, *peer)
            conn = Connection(self, conn_id, client, peer)
            threading.Thread(target=conn.run, name=f"conn-{conn_id}", daemon=True).start()


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--listen", type=int, required=True, help="port to listen on (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--upstream", required=True, help="the broker, HOST:PORT")
    p.add_argument("--user", action="append", default=[], metavar="USER:PASSWORD", help="a user (repeatable)")
    p.add_argument(
        "--mechanisms",
        default="PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        help="comma-separated, from " + ", ".join(MECHANISMS),
    )
    p.add_argument("--session-lifetime-ms", type=int, default=0, help="session lifetime reported to clients (0: none)")
    p.add_argument("--stats", default="", help="JSON statistics file, rewritten on every event")
    args = p.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    if not host or not port.isdigit():
        p.error(f"--upstream must be HOST:PORT, not {args.upstream!r}")
    args.upstream = (host, int(port))
    args.users = {}
    for pair in args.user:
        user, sep, password = pair.partition(":")
        if not sep or not user:
            p.error(f"--user must be USER:PASSWORD, not {pair.split(':')[0]!r}...")
        args.users[user] = password
    args.mechanisms = [m.strip().upper() for m in args.mechanisms.split(",") if m.strip()]
    for m in args.mechanisms:
        if m not in MECHANISMS:
            p.error(f"unknown mechanism {m!r}; supported: {', '.join(MECHANISMS)}")
    if args.session_lifetime_ms < 0:
        p.error("--session-lifetime-ms must be >= 0")
    return args


def main(argv=None):
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03d sasl_proxy %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        proxy = Proxy(args)
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", args.host, args.listen, e)
        return 1
    try:
        proxy.serve()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
