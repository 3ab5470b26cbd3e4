/*
 * peer_proto.h - sans-IO codec for the server-to-server protocols: leaf
 * node connections and cluster routes (nats-server 2.9.10 wire format).
 *
 * Same design as the client codec (client_proto.h): bytes go in in any
 * split, one callback per complete operation, slices point into the
 * caller's bytes or, for an op that crossed a feed boundary, into a
 * scratch buffer owned by the parser.  Slices are valid only during the
 * callback.  After a protocol error the parser is dead until
 * peer_parser_reset.
 *
 * Both ends of a leaf or route connection speak the same ops, so the only
 * configuration is the kind of connection.  The parser hands out what an
 * op means rather than how it was spelled: the reference treats SUB, RS+
 * and LS+ alike on a leaf connection, RS-, LS- and UNSUB alike on both
 * kinds, and so on (docs/protocols.md has the table).
 */
#ifndef PROTO_PEER_PROTO_H
#define PROTO_PEER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/mem.h"

enum peer_role { PEER_LEAF = 0, PEER_ROUTE = 1 };

enum peer_op {
	PEER_OP_CONNECT = 1,   /* arg: the JSON */
	PEER_OP_INFO,          /* arg: the JSON */
	PEER_OP_PING,
	PEER_OP_PONG,
	PEER_OP_OK,
	PEER_OP_ERR,           /* arg: the text, quotes stripped */
	/* Interest.  Leaf: LS+, RS+ or SUB "<subject> [<queue> <weight>]".
	 * Route: RS+ "<account> <subject> [<queue> <weight>]" or LS+
	 * "<origin> <account> <subject> [<queue> <weight>]". */
	PEER_OP_SUB,
	/* End of interest.  Leaf: LS-, RS- or UNSUB "<subject> [<queue>]".
	 * Route: RS-, LS- or UNSUB "<account> <subject> [<queue>]". */
	PEER_OP_UNSUB,
	/* A message.  Leaf: LMSG/RMSG (no headers), HMSG (headers) with
	 * "<subject> ...".  Route: RMSG/HMSG "<account> <subject> ...", LMSG
	 * "<origin> <account> <subject> ..." (always with a header size).
	 * Then "[reply]" or "+ <reply> <queues...>" or "| <queues...>", then
	 * "[<header size>] <total size>", a CRLF, the bytes, a CRLF. */
	PEER_OP_MSG,
	/* PUB/HPUB exactly as a client sends them (the reference accepts
	 * them on both kinds). */
	PEER_OP_PUB,
	PEER_OP_ACCOUNT_SUB,   /* A+ <account>: the reference ignores it */
	PEER_OP_ACCOUNT_UNSUB, /* A- <account>: the reference ignores it */
};

enum peer_err {
	PEER_OK = 0,
	/* -ERR 'Unknown Protocol Operation' then close: unknown op name,
	 * payload not followed by CRLF. */
	PEER_ERR_UNKNOWN_OP = -1,
	/* -ERR 'maximum control line exceeded' then close.  The reference
	 * has no line limit on these connections; ours is max_control_line
	 * or PEER_LINE_MAX. */
	PEER_ERR_MAX_CONTROL_LINE = -2,
	/* -ERR 'Maximum Payload Violation' then close (before the payload). */
	PEER_ERR_MAX_PAYLOAD = -3,
	/* Close without -ERR: wrong argument count, bad size, header size >
	 * total size, bad reply marker, HPUB without headers. */
	PEER_ERR_PARSE = -4,
	/* Out of memory for the scratch buffer. */
	PEER_ERR_NOMEM = -5,
	/* The callback asked to stop: not an error, feed the rest later. */
	PEER_STOPPED = -6,
};

/* The hard bound on a control line when max_control_line is 0. */
#define PEER_LINE_MAX ((size_t)1 << 20)

struct peer_slice {
	const char *ptr;
	size_t len;
};

/* One parsed operation; fields that do not apply have length 0. */
struct peer_msg {
	enum peer_op op;
	struct peer_slice origin;   /* route LS+/LMSG: leaf origin cluster */
	struct peer_slice account;  /* route SUB/UNSUB/MSG; A+/A- (raw arg) */
	struct peer_slice subject;  /* SUB/UNSUB/MSG/PUB */
	struct peer_slice reply;    /* MSG/PUB */
	struct peer_slice queue;    /* SUB/UNSUB: queue group */
	int64_t weight;             /* SUB with queue: members, -1 when the
				     * token is not a size (the reference
				     * keeps such a sub with weight -1) */
	struct peer_slice queues;   /* MSG: from the first queue name to the
				     * end of the last; walk it with
				     * peer_queues_next */
	size_t queue_count;         /* MSG: names in queues */
	struct peer_slice arg;      /* CONNECT/INFO JSON, -ERR text, A+/A-
				     * account; else the raw argument part */
	bool has_headers;           /* MSG/PUB: a header size was sent */
	size_t header_len;          /* header bytes, 0 without headers */
	size_t total_len;           /* MSG/PUB: header + payload bytes */
	const char *payload;        /* header block then payload */
};

/* Return 0 to go on, nonzero to stop (peer_parse returns PEER_STOPPED). */
typedef int (*peer_msg_cb)(void *arg, const struct peer_msg *msg);

struct peer_parser {
	/* configuration, set by the owner before parsing */
	enum peer_role role;
	size_t max_control_line;   /* args part; 0 = PEER_LINE_MAX */
	int64_t max_payload;       /* PUB/HPUB total size; < 0 = unlimited */
	int64_t max_msg_payload;   /* LMSG/RMSG/HMSG total; < 0 = unlimited */
	struct mem *mem;
	/* state (private to peer_proto.c) */
	int state;
	int error;                 /* sticky enum peer_err once failed */
	char *scratch;             /* line, then payload, split across feeds */
	size_t scratch_len;        /* bytes of scratch in use */
	size_t scratch_cap;        /* bytes allocated for scratch */
	size_t line_len;           /* parked op: its line's bytes in scratch */
	size_t payload_need;       /* parked op: payload + CRLF still due */
	size_t payload_total;      /* parked op: its total_len */
	uint32_t name_cand;        /* op names still matching the bytes read */
	int name;                  /* the op name read (private table index) */
	int name_pos;              /* bytes of the op name matched so far */
	bool headers_ok;           /* HPUB accepted (peer_parser_set_headers) */
};

/* Defaults follow the reference: leaf max_payload 1048576 (its client
 * limit, applied to PUB/HPUB only), route unlimited; LMSG/RMSG/HMSG
 * unlimited (the scratch buffer grows with the bytes that arrive, not with
 * the announced size); max_control_line 0; HPUB accepted. */
void peer_parser_init(struct peer_parser *p, struct mem *mem,
		      enum peer_role role);
void peer_parser_free(struct peer_parser *p);
void peer_parser_reset(struct peer_parser *p);

/* Feed len bytes.  Calls cb for each complete op.  Returns the number of
 * bytes consumed (== len unless stopped) or a negative enum peer_err.  On
 * PEER_STOPPED, *consumed (if not NULL) says how many bytes were consumed
 * so the caller can feed the rest later; on an error, how far it got. */
long peer_parse(struct peer_parser *p, const char *data, size_t len,
		peer_msg_cb cb, void *arg, size_t *consumed);

/* Whether HPUB is accepted (default true).  The reference closes the
 * connection on HPUB when headers were not negotiated, before the sizes:
 * with false, HPUB fails with PEER_ERR_PARSE.  Applies to the next op. */
void peer_parser_set_headers(struct peer_parser *p, bool enabled);

/* The reference's -ERR text for a parse error, or NULL when the connection
 * closes silently. */
const char *peer_err_text(int err);

/* Walks the queue names of a PEER_OP_MSG: set *it = msg->queues first;
 * each call stores the next name in *name and returns true, or returns
 * false at the end. */
bool peer_queues_next(struct peer_slice *it, struct peer_slice *name);

/*
 * Encoder: writes the control line of m (CRLF included, no NUL) as this
 * kind of connection spells it, and returns its length, or 0 when cap is
 * too small.  The payload (total_len bytes) and its CRLF are the caller's
 * to send after the line.  A line never needs more than the sum of m's
 * slice lengths plus PEER_LINE_OVERHEAD bytes.  Slices are written
 * verbatim (callers pass valid tokens); empty ones are left out.
 *
 *   CONNECT "CONNECT <arg>"             INFO   "INFO <arg> "
 *   PING/PONG/OK/ERR "PING", "PONG", "+OK", "-ERR '<arg>'"
 *   SUB    leaf "LS+ <subject> [<queue> <weight>]"
 *          route "RS+ <account> <subject> [<queue> <weight>]", or with an
 *          origin "LS+ <origin> <account> <subject> [<queue> <weight>]"
 *   UNSUB  leaf "LS- <subject> [<queue>]"
 *          route "RS- <account> <subject> [<queue>]"
 *   MSG    leaf "LMSG"/"HMSG" (has_headers) "<subject> <tail>"
 *          route "RMSG"/"HMSG" "<account> <subject> <tail>", or with an
 *          origin "LMSG <origin> <account> <subject> <tail>" (always
 *          with a header size)
 *          tail: "[<reply>]" or, with queues, "+ <reply> <queues>" or
 *          "| <queues>"; then "[<header_len>] <total_len>"
 *   PUB    "PUB <subject> [<reply>] <total>" or "HPUB ... <hdr> <total>"
 *   ACCOUNT_SUB/UNSUB "A+ <account>", "A- <account>"
 * A queue group weight must be >= 0.
 */
#define PEER_LINE_OVERHEAD 64
#define PEER_PING_LINE "PING\r\n"
#define PEER_PONG_LINE "PONG\r\n"

size_t peer_encode_line(char *out, size_t cap, enum peer_role role,
			const struct peer_msg *m);

/* Shorthands for the common lines, same contract as peer_encode_line. */
size_t peer_encode_sub_line(char *out, size_t cap, enum peer_role role,
			    struct peer_slice account, struct peer_slice subject,
			    struct peer_slice queue, int64_t weight);
size_t peer_encode_unsub_line(char *out, size_t cap, enum peer_role role,
			      struct peer_slice account, struct peer_slice subject,
			      struct peer_slice queue);
size_t peer_encode_info_line(char *out, size_t cap, const char *json,
			     size_t json_len);
size_t peer_encode_connect_line(char *out, size_t cap, const char *json,
				size_t json_len);
size_t peer_encode_err_line(char *out, size_t cap, const char *text,
			    size_t text_len);

#endif
