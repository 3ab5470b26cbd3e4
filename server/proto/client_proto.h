/*
 * client_proto.h - sans-IO codec for the NATS client protocol.
 *
 * The parser takes bytes as they arrive, in any split, and calls back once per
 * complete operation.  It never allocates per byte and never sees a socket:
 * a control line or payload split across reads is copied into a scratch
 * buffer owned by the parser (bounded by the limits), otherwise slices point
 * straight into the caller's bytes.  Slices are valid only during the
 * callback.
 *
 * One codec serves both sides: CP_ROLE_SERVER parses what clients send
 * (CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG, INFO, +OK, -ERR), CP_ROLE_CLIENT
 * parses what servers send (INFO, MSG, HMSG, PING, PONG, +OK, -ERR).
 *
 * Errors follow nats-server 2.9.10 (see cp_err); after an error the parser
 * is dead until cp_parser_reset.
 */
#ifndef PROTO_CLIENT_PROTO_H
#define PROTO_CLIENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/mem.h"

enum cp_role { CP_ROLE_SERVER = 0, CP_ROLE_CLIENT = 1 };

enum cp_op {
	CP_OP_CONNECT = 1,
	CP_OP_INFO,
	CP_OP_PUB,
	CP_OP_HPUB,
	CP_OP_SUB,
	CP_OP_UNSUB,
	CP_OP_PING,
	CP_OP_PONG,
	CP_OP_OK,
	CP_OP_ERR,
	CP_OP_MSG,
	CP_OP_HMSG,
};

enum cp_err {
	CP_OK = 0,
	/* -ERR 'Unknown Protocol Operation' then close: unknown op, op not
	 * valid for the role, bad payload terminator. */
	CP_ERR_UNKNOWN_OP = -1,
	/* -ERR 'maximum control line exceeded' then close. */
	CP_ERR_MAX_CONTROL_LINE = -2,
	/* -ERR 'Maximum Payload Violation' then close (before the payload). */
	CP_ERR_MAX_PAYLOAD = -3,
	/* Close without -ERR: wrong argument count, bad size, header size >
	 * total size (the reference logs a parse error). */
	CP_ERR_PARSE = -4,
	/* Out of memory for the scratch buffer. */
	CP_ERR_NOMEM = -5,
	/* The callback asked to stop (returned nonzero); not a protocol
	 * error: parsing may continue with the unconsumed bytes later. */
	CP_STOPPED = -6,
};

struct cp_slice {
	const char *ptr;
	size_t len;
};

/* One parsed operation. */
struct cp_msg {
	enum cp_op op;
	struct cp_slice subject;   /* PUB/HPUB/SUB/MSG/HMSG */
	struct cp_slice reply;     /* PUB/HPUB/MSG/HMSG; len 0 when absent */
	struct cp_slice queue;     /* SUB; len 0 when absent */
	struct cp_slice sid;       /* SUB/UNSUB/MSG/HMSG */
	struct cp_slice arg;       /* CONNECT/INFO JSON; -ERR text (quotes
				    * stripped); the raw argument part for
				    * PUB/HPUB/SUB/UNSUB/MSG/HMSG; empty for
				    * PING/PONG/+OK (rest of line ignored) */
	int64_t max_msgs;          /* UNSUB: -1 when absent or not a number */
	size_t header_len;         /* HPUB/HMSG: header bytes; else 0 */
	size_t total_len;          /* PUB/HPUB/MSG/HMSG: header + payload */
	const char *payload;       /* header block then payload, total_len */
};

/* Return 0 to go on, nonzero to stop (cp_parse returns CP_STOPPED). */
typedef int (*cp_msg_cb)(void *arg, const struct cp_msg *msg);

struct cp_parser {
	/* configuration, set by the owner before parsing */
	enum cp_role role;
	size_t max_control_line;   /* args part limit; 0 = unlimited */
	int64_t max_payload;       /* PUB/HPUB total size limit; < 0 = unlimited */
	struct mem *mem;
	/* state (private to client_proto.c) */
	int state;
	int error;                 /* sticky enum cp_err once failed */
	char *scratch;             /* control line or payload split across feeds */
	size_t scratch_len;        /* bytes of scratch in use */
	size_t scratch_cap;        /* bytes allocated for scratch */
	struct cp_msg pending;     /* op whose payload is being collected */
	size_t payload_need;       /* bytes (incl. CRLF) still to collect */
	size_t payload_off;        /* where the payload starts in scratch */
	int op;                    /* enum cp_op whose name is being read */
	int name_pos;              /* bytes of the op name matched so far */
	bool headers_ok;           /* HPUB accepted (see cp_parser_set_headers) */
};

/* Defaults: server role max_control_line 4096 and max_payload 1048576 (the
 * reference's), client role unlimited; HPUB accepted. */
void cp_parser_init(struct cp_parser *p, struct mem *mem, enum cp_role role);
void cp_parser_free(struct cp_parser *p);
void cp_parser_reset(struct cp_parser *p);

/* Feed len bytes.  Calls cb for each complete op.  Returns the number of
 * bytes consumed (== len unless stopped) or a negative enum cp_err.  On
 * CP_STOPPED, *consumed (if not NULL) says how many bytes were consumed so
 * the caller can feed the rest later.  On a protocol error the bytes after
 * the error are not looked at (*consumed then says how far it got). */
long cp_parse(struct cp_parser *p, const char *data, size_t len,
	      cp_msg_cb cb, void *arg, size_t *consumed);

/* Whether HPUB is accepted (default true).  The reference closes a client
 * that sends HPUB without having negotiated "headers":true in CONNECT, and
 * does so before looking at the sizes (so no 'Maximum Payload Violation'):
 * with false, HPUB fails with CP_ERR_PARSE.  May be called from the
 * callback (e.g. after CONNECT); it applies to the next op. */
void cp_parser_set_headers(struct cp_parser *p, bool enabled);

/* The reference's -ERR text for a parse error, or NULL when the connection
 * must close silently (CP_ERR_PARSE). */
const char *cp_err_text(int err);

/*
 * Encoders.  Each writes one complete control line, CRLF included, into out
 * (no NUL) and returns its length, or 0 when cap is too small.  A line
 * never needs more than the sum of its string lengths plus
 * CP_LINE_OVERHEAD bytes.  Strings are written verbatim: callers pass valid
 * tokens.  A reply/queue of length 0 is left out.
 */
#define CP_LINE_OVERHEAD 64
#define CP_PING_LINE "PING\r\n"
#define CP_PONG_LINE "PONG\r\n"
#define CP_OK_LINE "+OK\r\n"

/* "MSG <subject> <sid> [reply] <total>" or, with has_headers,
 * "HMSG <subject> <sid> [reply] <header_len> <total>". */
size_t cp_encode_msg_line(char *out, size_t cap,
			  const char *subject, size_t subject_len,
			  const char *sid, size_t sid_len,
			  const char *reply, size_t reply_len,
			  bool has_headers, size_t header_len, size_t total_len);
/*
 * The parts of a MSG/HMSG line that are the same for every subscriber of
 * one message, so a delivery costs two copies instead of an encoding: the
 * line is head + sid + tail, with head "MSG <subject> " (HMSG with
 * has_headers) and tail " [reply] [<header_len>] <total>" and the CRLF.
 * For a non-empty sid, head + sid + tail are the bytes cp_encode_msg_line
 * writes.
 */
#define CP_MSG_PARTS_MAX 256
struct cp_msg_parts {
	const char *subject;       /* borrowed: what head was rendered for */
	size_t subject_len;
	bool has_headers;
	bool rendered;             /* render was called (it may not fit) */
	bool fits;                 /* head and tail hold the parts */
	uint16_t head_len;         /* bytes of head */
	uint16_t tail_len;         /* bytes of tail */
	char head[CP_MSG_PARTS_MAX];
	char tail[CP_MSG_PARTS_MAX];
};

/* Renders the parts and records subject and has_headers; returns fits,
 * false when a part needs more than CP_MSG_PARTS_MAX bytes. */
bool cp_msg_parts_render(struct cp_msg_parts *mp,
			 const char *subject, size_t subject_len,
			 const char *reply, size_t reply_len,
			 bool has_headers, size_t header_len, size_t total_len);

/* "PUB <subject> [reply] <total>" or
 * "HPUB <subject> [reply] <header_len> <total>". */
size_t cp_encode_pub_line(char *out, size_t cap,
			  const char *subject, size_t subject_len,
			  const char *reply, size_t reply_len,
			  bool has_headers, size_t header_len, size_t total_len);
/* "SUB <subject> [queue] <sid>". */
size_t cp_encode_sub_line(char *out, size_t cap,
			  const char *subject, size_t subject_len,
			  const char *queue, size_t queue_len,
			  const char *sid, size_t sid_len);
/* "UNSUB <sid> [max_msgs]"; max_msgs < 0 leaves it out. */
size_t cp_encode_unsub_line(char *out, size_t cap,
			    const char *sid, size_t sid_len, int64_t max_msgs);
/* "CONNECT <json>". */
size_t cp_encode_connect_line(char *out, size_t cap,
			      const char *json, size_t json_len);
/* "INFO <json> " - the reference puts a blank before the CRLF. */
size_t cp_encode_info_line(char *out, size_t cap,
			   const char *json, size_t json_len);
/* "-ERR '<text>'". */
size_t cp_encode_err_line(char *out, size_t cap,
			  const char *text, size_t text_len);

#endif
