/*
 * net_observe.c - reads the client protocol off the virtual wire.
 *
 * Bytes arriving on a client link are fed, as they arrive, to a parser of
 * the project's client codec: what the client sends is parsed in the
 * server role, what the server sends in the client role.  Each operation
 * of interest becomes a trace event, so a trace answers "which connections
 * received message X" without any help from the server.  When a direction
 * stops parsing (a malformed client), one PROTO_BAD event says so and that
 * direction is no longer observed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/assert.h"
#include "lib/json.h"
#include "net.h"

#define IDENT_MAX 64

void sim_net_observe(struct sim_net *net, struct sim_end *src,
		     const char *data, size_t len);

struct obs_ctx {
	struct sim_net *net;
	struct sim_end *src;
	struct sim_end *dst;
};

/* The payload's identity: up to the first blank or line end, at most
 * IDENT_MAX bytes, unprintable bytes shown as '.'. */
static void obs_identity(const struct cp_msg *m, char *out)
{
	const char *p = m->payload + m->header_len;
	size_t n = m->total_len - m->header_len, k = 0;
	for (; k < n && k < IDENT_MAX; k++) {
		unsigned char c = (unsigned char)p[k];
		if (c == ' ' || c == '\r' || c == '\n')
			break;
		out[k] = c >= 0x20 && c < 0x7f ? (char)c : '.';
	}
	out[k] = '\0';
}

static void obs_slice(const struct cp_slice *s, char *out, size_t cap)
{
	size_t n = MIN(s->len, cap - 1);
	if (n > 0)
		memcpy(out, s->ptr, n);
	out[n] = '\0';
}

static int64_t obs_int(const struct cp_slice *s)
{
	int64_t v = 0;
	for (size_t i = 0; i < s->len && i < 18; i++) {
		if (s->ptr[i] < '0' || s->ptr[i] > '9')
			return -1;
		v = v * 10 + (s->ptr[i] - '0');
	}
	return v;
}

static int node_id(const struct sim_end *e)
{
	return e->node ? e->node->id : -1;
}

static void obs_info(struct obs_ctx *x, const struct cp_msg *m)
{
	struct json_doc d;
	int64_t cid = -1;
	if (json_parse(&d, &x->net->obs_mem, m->arg.ptr, m->arg.len) == 0) {
		json_obj_int(&d, 0, "client_id", &cid);
		json_doc_free(&d);
	}
	sim_emit(x->net->w, TRACE_PROTO_INFO, node_id(x->dst), node_id(x->src),
		 x->src->conn->id, cid, NULL, NULL);
}

static void obs_emit_op(struct obs_ctx *x, uint32_t kind,
			const struct cp_msg *m, int64_t value,
			const char *text)
{
	char subject[256];
	obs_slice(&m->subject, subject, sizeof(subject));
	sim_emit(x->net->w, kind, node_id(x->dst), node_id(x->src),
		 x->src->conn->id, value, subject[0] ? subject : NULL, text);
}

static int obs_on_op(void *arg, const struct cp_msg *m)
{
	struct obs_ctx *x = arg;
	char text[IDENT_MAX + 1];
	switch (m->op) {
	case CP_OP_PUB:
	case CP_OP_HPUB:
		obs_identity(m, text);
		obs_emit_op(x, TRACE_PROTO_PUB, m, (int64_t)m->total_len, text);
		break;
	case CP_OP_MSG:
	case CP_OP_HMSG:
		obs_identity(m, text);
		obs_emit_op(x, TRACE_PROTO_MSG, m, obs_int(&m->sid), text);
		break;
	case CP_OP_SUB:
		obs_slice(&m->queue, text, sizeof(text));
		obs_emit_op(x, TRACE_PROTO_SUB, m, obs_int(&m->sid),
			    text[0] ? text : NULL);
		break;
	case CP_OP_UNSUB:
		obs_emit_op(x, TRACE_PROTO_UNSUB, m, obs_int(&m->sid), NULL);
		break;
	case CP_OP_ERR: {
		char err[256];
		obs_slice(&m->arg, err, sizeof(err));
		obs_emit_op(x, TRACE_PROTO_ERR, m, 0, err);
		break;
	}
	case CP_OP_CONNECT: {
		char json[512];
		obs_slice(&m->arg, json, sizeof(json));
		obs_emit_op(x, TRACE_PROTO_CONNECT, m, 0, json);
		break;
	}
	case CP_OP_INFO:
		obs_info(x, m);
		break;
	default:
		break;
	}
	return 0;
}

static void obs_init(struct sim_net *net, struct sim_end *src)
{
	/* What the client (side 0) sends is what a server parses. */
	enum cp_role role = src->side == 0 ? CP_ROLE_SERVER : CP_ROLE_CLIENT;
	cp_parser_init(&src->obs, &net->obs_mem, role);
	src->obs.max_control_line = 0;
	src->obs.max_payload = -1;
	cp_parser_set_headers(&src->obs, true);
	src->obs_init = true;
}

void sim_net_observe(struct sim_net *net, struct sim_end *src,
		     const char *data, size_t len)
{
	if (src->conn->kind != ENV_LINK_CLIENT || src->obs_dead || len == 0)
		return;
	if (!src->obs_init)
		obs_init(net, src);
	struct obs_ctx x = { net, src, &src->conn->end[1 - src->side] };
	long rc = cp_parse(&src->obs, data, len, obs_on_op, &x, NULL);
	if (rc >= 0)
		return;
	src->obs_dead = true;
	const char *why = cp_err_text((int)rc);
	sim_emit(net->w, TRACE_PROTO_BAD, node_id(x.dst), node_id(src),
		 src->conn->id, rc, NULL, why ? why : "parse error");
	cp_parser_free(&src->obs);
	src->obs_init = false;
}
