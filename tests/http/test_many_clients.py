"""Many keep-alive clients at once: 1,000 connections each send two requests
on the same socket; every one is answered 200 and no connection is dropped.

How it fails: a reply that is not 200 or not the health body; a connection the
server closes after either reply (recv returns b"" while replies are pending,
or, once both are in, the server's FIN is waiting on the socket); a reply
announcing "Connection: close"; a client still waiting at the deadline."""
import resource
import selectors
import socket
import time

import pytest

CLIENTS = 1000
DEADLINE_S = 60


def raise_fd_limit(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.fail(f"open-file hard limit {hard} is below {wanted}: raise it (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def test_a_thousand_keep_alive_clients(start_server):
    raise_fd_limit(CLIENTS + 200)
    server = start_server("memory")
    request = (b"GET /healthz HTTP/1.1\r\nHost: concertd\r\n\r\n")
    sel = selectors.DefaultSelector()
    clients = []
    for _ in range(CLIENTS):
        sock = socket.create_connection((server.host, server.port), timeout=10)
        sock.setblocking(False)
        state = {"sock": sock, "buf": b"", "answered": 0}
        clients.append(state)
        sel.register(sock, selectors.EVENT_READ, state)
    # Every client is connected before any request goes out: 1,000 at once.
    for c in clients:
        c["sock"].sendall(request)

    deadline = time.monotonic() + DEADLINE_S
    pending = CLIENTS
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            c = key.data
            chunk = c["sock"].recv(65536)
            assert chunk, f"server closed a keep-alive connection after {c['answered']} replies"
            c["buf"] += chunk
            while b"\r\n\r\n" in c["buf"]:
                head, _, rest = c["buf"].partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(rest) < length:
                    break
                assert head.startswith(b"HTTP/1.1 200"), head
                assert b"connection: close" not in head.lower(), head
                assert rest[:length] == b'{"status":"ok"}\n'
                c["buf"] = rest[length:]
                c["answered"] += 1
                if c["answered"] == 1:
                    c["sock"].sendall(request)  # second request, same socket
                else:
                    pending -= 1
    assert pending == 0, f"{pending} of {CLIENTS} clients did not get both replies"
    closed = 0
    for c in clients:
        sel.unregister(c["sock"])
        # Both replies are in; the server must still hold the connection open
        # (keep-alive): nothing to read, no FIN. b"" means it closed it.
        try:
            extra = c["sock"].recv(1)
        except BlockingIOError:
            extra = None
        if extra == b"":
            closed += 1
        else:
            assert extra is None, f"unexpected bytes after the second reply: {extra!r}"
        c["sock"].close()
    sel.close()
    assert closed == 0, f"the server closed {closed} of {CLIENTS} keep-alive connections"
