/*
 * Deadlines for receiving a request, not only for silence (docs/http-edge.md).
 *
 * libmicrohttpd's connection timeout restarts on every byte, so a client
 * that trickles one header byte every few seconds (slowloris) would hold a
 * connection forever. The watch gives each connection a deadline: its
 * request head must arrive within head_ms of the connection opening (or of
 * the previous response, plus the idle allowance, on a kept-alive
 * connection), its body within body_ms of the head. A thread checks the
 * deadlines and shutdown(2)s the socket of a connection that missed one;
 * libmicrohttpd then sees the connection end and closes it itself. The
 * watch never close(2)s a descriptor: libmicrohttpd owns it, and an entry
 * leaves the watch (edge_watch_close, from the "closed" notification,
 * which libmicrohttpd 0.9.75 sends before it closes the socket) under the
 * same mutex the thread holds while it shuts sockets down, so the thread
 * can never touch a descriptor number that was closed and reused.
 */
#ifndef CONCERTD_EDGE_WATCH_H
#define CONCERTD_EDGE_WATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct edge_watch edge_watch;
typedef struct edge_conn edge_conn;

/* A watch with these allowances (all > 0, milliseconds); NULL when out of
 * memory. idle_ms is how long a kept-alive connection may stay silent
 * between requests (the server's idle timeout). */
edge_watch *edge_watch_new(int64_t head_ms, int64_t body_ms, int64_t idle_ms);

/* Start the checking thread; 0, or -1 if it cannot start. */
int edge_watch_start(edge_watch *w);

/* Stop the thread (no more shutdowns). Entries stay until closed. */
void edge_watch_stop(edge_watch *w);

/* Free the watch and any entry left; NULL is a no-op. Call after the
 * server stopped (every connection closed). */
void edge_watch_free(edge_watch *w);

/* A connection on socket fd opened: its head is due within head_ms.
 * NULL when out of memory (the connection is then not watched). */
edge_conn *edge_watch_open(edge_watch *w, int fd);

/* The head arrived: the body is due within body_ms. */
void edge_watch_head_done(edge_watch *w, edge_conn *c);

/* The whole request arrived and is being answered: no deadline (a reply
 * such as an event stream may last for hours). */
void edge_watch_answering(edge_watch *w, edge_conn *c);

/* The response was sent and the connection kept alive: the next head is
 * due within idle_ms + head_ms. */
void edge_watch_next_request(edge_watch *w, edge_conn *c);

/* The connection is closing: forget it (before its socket is closed).
 * NULL c is a no-op. */
void edge_watch_close(edge_watch *w, edge_conn *c);

/* The length of the raw request target of the connection's current
 * request, noted when libmicrohttpd parsed the request line (edge_check.h
 * needs it). Only the connection's own thread touches it: no lock. A NULL
 * c is a no-op / 0. */
void edge_conn_note_target(edge_conn *c, size_t len);
size_t edge_conn_target_len(const edge_conn *c);

#endif
