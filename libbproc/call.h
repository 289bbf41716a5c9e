/*
 * call.h: one request to bpmaster and its reply, over the local API's
 * unix socket with its frames (a 4-byte big-endian length, then JSON; see
 * localapi/frame.go). Internal to the library.
 */
#ifndef BPROC_CALL_H
#define BPROC_CALL_H

#include <stddef.h>

#include "json.h"

/* localapi.MaxFrame: the master sends nothing longer. */
#define BPI_MAXFRAME (8u << 20)
/* Room for a master's error text: BProc's are short, but a text that
 * did not fit would read as no error at all (a Protocol error). */
#define BPI_ERRTEXT 4096

/* Requests are a few numbers and words: they fit here. */
#define BPI_MAXREQUEST 512

/* A reply: its bytes and their tokens; token 0 is the object. */
struct bpi_reply {
	char *buf;
	struct bpi_json json;
};

/* bpi_socket_path is the master's socket: $BPROC_SOCKET where that exists,
 * else the default (on a node: the node's socket, which reaches the
 * master). */
BPI_HIDDEN const char *bpi_socket_path(void);

/* bpi_dial connects to the master's socket: an fd, or -1 with connect's
 * errno (ENOENT or ECONNREFUSED when no master listens). */
BPI_HIDDEN int bpi_dial(void);

/* bpi_send writes one frame holding req. */
BPI_HIDDEN int bpi_send(int fd, const char *req);

/* bpi_recv reads one reply frame. A reply whose "error" is set fails with
 * the errno its text maps to; a frame that is no JSON object is EPROTO; the
 * master hanging up is ECONNRESET. r is to be freed only on success. */
BPI_HIDDEN int bpi_recv(int fd, struct bpi_reply *r);

/* bpi_call dials, sends req, reads the reply and hangs up. */
BPI_HIDDEN int bpi_call(const char *req, struct bpi_reply *r);

BPI_HIDDEN void bpi_reply_free(struct bpi_reply *r);

/* bpi_errno is the errno for the master's error in object obj of j, whose
 * "error" is text: its "code" (localapi.Code: BE_* or an errno) when it has
 * one, else what the text says (BProc's texts, possibly after a "what: "
 * prefix; a master older than codes); EINVAL for texts it does not know,
 * which name a request the master found bad. */
BPI_HIDDEN int bpi_errno(const struct bpi_json *j, int obj, const char *text);

/* bpi_node resolves BPROC_NODE_SELF to the caller's node. */
BPI_HIDDEN int bpi_node(int node);

#endif
