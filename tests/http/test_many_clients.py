"""Many keep-alive clients at once: 1,000 connections each send two requests
on the same socket; every one is answered 200 and no connection is dropped."""
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
        state = {"sock": sock, "buf": b"", "answered": 0, "port": sock.getsockname()[1]}
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
                assert rest[:length] == b'{"status":"ok"}\n'
                c["buf"] = rest[length:]
                c["answered"] += 1
                if c["answered"] == 1:
                    c["sock"].sendall(request)  # second request, same socket
                else:
                    pending -= 1
    for c in clients:
        sel.unregister(c["sock"])
        # Still the socket it started with: nothing was reopened.
        assert c["sock"].getsockname()[1] == c["port"]
        c["sock"].close()
    sel.close()
    assert pending == 0, f"{pending} of {CLIENTS} clients did not get both replies"
