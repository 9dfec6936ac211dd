"""A small Server-Sent Events client over a raw socket for the SSE tests:
sends one GET, reads the status and headers, then decodes the chunked body
into events ({"event", "id", "data", "comments"}) as the browser's
EventSource would (text/event-stream, one blank line ends an event)."""
import json
import socket
import time


class SseStream:
    def __init__(self, server, path, headers=None, timeout=10):
        self.sock = socket.create_connection((server.host, server.port), timeout=timeout)
        lines = [f"GET {path} HTTP/1.1", "Host: concertd"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.raw = b""      # bytes read, not yet decoded
        self.text = b""     # decoded body bytes, not yet parsed into events
        self.ended = False  # the last chunk (or the connection's end) was seen
        self.retry = None
        self.comments = []
        head = self._read_until(b"\r\n\r\n", timeout)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ")[1])
        self.headers = {}
        for line in header_lines:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.body = None
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n:
                self._recv(timeout)
            self.body = json.loads(self.raw[:n]) if n else None
            self.close()

    def header(self, name):
        return self.headers.get(name.lower())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.raw += data

    def _read_until(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while marker not in self.raw:
            self._recv(deadline - time.monotonic())
        head, _, self.raw = self.raw.partition(marker)
        return head

    def _decode(self):
        """Move whole chunks from raw into text; True at the last chunk."""
        if not self.chunked:
            self.text += self.raw
            self.raw = b""
            return False
        while True:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return False
            size = int(self.raw[:line_end].split(b";")[0], 16)
            if size == 0:
                self.raw = b""
                return True
            if len(self.raw) < line_end + 2 + size + 2:
                return False
            self.text += self.raw[line_end + 2:line_end + 2 + size]
            self.raw = self.raw[line_end + 2 + size + 2:]

    def _parse_one(self):
        """The next whole event (or None) from text; comments and retry are
        recorded, not returned."""
        while b"\n\n" in self.text:
            block, _, self.text = self.text.partition(b"\n\n")
            event = {"event": "message", "id": None, "data": None}
            data = []
            for line in block.decode("utf-8").split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "retry":
                    self.retry = int(value)
                elif field == "event":
                    event["event"] = value
                elif field == "id":
                    event["id"] = value
                elif field == "data":
                    data.append(value)
            if data:
                event["data"] = json.loads("\n".join(data))
                return event
        return None

    def next_event(self, timeout=10):
        """The next event, or None when the stream ended first. Raises
        socket.timeout when none comes in time."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.ended and self._decode():
                self.ended = True
            event = self._parse_one()
            if event is not None:
                return event
            if self.ended:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no event in time")
            try:
                self._recv(left)
            except EOFError:
                self.ended = True

    def events_until_end(self, timeout=10):
        out = []
        while True:
            event = self.next_event(timeout)
            if event is None:
                return out
            out.append(event)
