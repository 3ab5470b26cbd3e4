/*
 * consumer.c - JetStream consumers (see consumer.h): configuration,
 * lifecycle, the delivery engine for pull and push consumers, acks and
 * redelivery, and the durable state file.
 *
 * Everything that happens later runs from one env timer per consumer
 * (consumer_run): new messages, ack-wait expiry, pull request expiry and
 * heartbeats, push heartbeats, inactivity and the lazy state write.  Work
 * that arrives inside a delivery (an ack, a pull request, a new message)
 * only updates state and arms the timer for "now", so a consumer never
 * delivers from inside another delivery.
 *
 * Invariants: see consumer.h; in addition the timer is armed whenever
 * there is something left to do, and a consumer on its stream's list is
 * never freed except through consumer_destroy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "../core/opts.h"
#include "../core/server_int.h"
#include "../core/subject.h"
#include "../core/sublist.h"
#include "../lib/assert.h"
#include "../lib/timefmt.h"
#include "consumer.h"
#include "jetstream.h"
#include "js_advisory.h"
#include "js_json.h"
#include "store.h"
#include "stream.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
#define CONSUMER_ACK_WAIT_DEFAULT_NS (30 * NS_PER_S)
#define CONSUMER_INACTIVE_DEFAULT_NS (5 * NS_PER_S)
#define CONSUMER_MAX_WAITING_DEFAULT 512
#define CONSUMER_MAX_ACK_PENDING_DEFAULT 1000
#define CONSUMER_FC_MAX_PENDING_BYTES (32LL * 1024 * 1024)
#define CONSUMER_DESCRIPTION_MAX 4096
/* How often a push consumer without interest looks for a subscriber: the
 * core has no interest notifications, so it polls. */
#define CONSUMER_INTEREST_POLL_NS (100 * NS_PER_MS)
/* A durable's state is written at most this long after it changed. */
#define CONSUMER_FLUSH_DELAY_NS (20 * NS_PER_MS)
/* Push delivery pauses while a subscriber's connection has this much
 * output not yet taken by the socket, and resumes as the socket drains
 * (polling every CONSUMER_BACKLOG_POLL_NS while it does not): delivery
 * overlaps with the client's reading, and a slow client is not sent more
 * than it can take (the messages stay in the stream). */
#define CONSUMER_BACKLOG_MAX (1024 * 1024)
#define CONSUMER_BACKLOG_POLL_NS (1 * NS_PER_MS)
#define CONSUMER_NEVER INT64_MAX

/* A delivered message waiting for its ack. */
struct pending {
	uint64_t sseq;                 /* stream sequence */
	uint64_t dseq;                 /* consumer sequence of the last delivery */
	uint64_t dc;                   /* deliveries so far */
	int64_t deadline_ns;           /* monotonic: redeliver after this */
	int64_t delivered_ns;          /* wall clock of the last delivery */
	bool queued;                   /* on the redelivery queue */
};

/* A waiting pull request (the reference's waitingRequest). */
struct pull_req {
	char *reply;                   /* owned */
	int64_t n;                     /* messages still wanted */
	int64_t d;                     /* messages delivered */
	int64_t b;                     /* bytes left; 0 = no byte limit */
	int64_t expires_ns;            /* monotonic; 0 = never */
	int64_t hb_ns;                 /* heartbeat interval; 0 = none */
	int64_t hb_next_ns;            /* monotonic */
	bool no_wait;
};

struct consumer {
	struct stream *st;             /* owner */
	struct server *srv;
	struct mem *mem;
	struct consumer_config cfg;
	char *name;                    /* owned */
	int64_t created_ns;            /* wall clock */
	uint64_t sseq;                 /* next stream sequence to look at */
	uint64_t dseq;                 /* next consumer sequence */
	uint64_t adflr;                /* ack floor, consumer sequence */
	uint64_t asflr;                /* ack floor, stream sequence */
	struct pending *pending;       /* sorted by sseq */
	size_t n_pending, cap_pending;
	uint64_t *rdq;                 /* redelivery queue, FIFO */
	size_t n_rdq, cap_rdq;
	struct pull_req *waiting;      /* FIFO, round robin */
	size_t n_waiting, cap_waiting;
	uint64_t *lss;                 /* deliver last per subject: sequences */
	size_t n_lss, i_lss;
	uint64_t lss_resume;
	int64_t last_delivered_ns;     /* wall clock, 0 = never */
	int64_t last_ack_ns;           /* wall clock, 0 = never */
	int64_t last_active_ns;        /* monotonic: request, delivery or interest */
	int64_t dthresh_ns;            /* inactive threshold; 0 = none */
	bool active;                   /* push: the deliver subject has interest */
	int64_t hb_next_ns;            /* push idle heartbeat due */
	/* Push backpressure: the largest subscriber backlog seen when
	 * delivery last paused (0 = not paused), and when to look again. */
	size_t backlog;
	bool backlog_poll;
	/* Flow control, as the reference counts it. */
	int64_t pbytes, maxpb, pblimit, fcsz;
	char fcid[CONSUMER_NAME_MAX + STREAM_NAME_MAX + 16];
	/* Replay original: the message held back until its time. */
	bool replay;
	uint64_t replay_lseq;
	int64_t replay_lts;
	uint64_t replay_hold_seq;
	int64_t replay_hold_until_ns;
	bool durable_file;             /* state goes to disk */
	bool dirty;                    /* state changed since the last write */
	int64_t flush_at_ns;
	bool kicked;                   /* deliver at the next run */
	struct sub *ack_sub;
	struct sub *fc_sub;
	/* The kept pending count (consumer_num_pending): npc messages, as
	 * counted when the stream's last sequence was npcm. */
	bool np_valid;
	int64_t npc;
	uint64_t npcm;
	int timer;                     /* env timer, -1 = none */
	int64_t timer_at_ns;
	bool running;                  /* inside consumer_run */
	bool doomed;                   /* delete once consumer_run returns */
	struct buf scratch;            /* store loads */
	struct buf hdr;                /* headers being built */
	struct buf tmp;
};

/* ====================================================== configuration */

static const char *const deliver_names[] = {
	"all", "last", "new", "by_start_sequence", "by_start_time",
	"last_per_subject",
};
static const char *const ack_names[] = { "none", "all", "explicit" };

void consumer_config_free(struct mem *mem, struct consumer_config *c)
{
	mem_free(mem, c->durable);
	mem_free(mem, c->name);
	mem_free(mem, c->description);
	mem_free(mem, c->filter_subject);
	mem_free(mem, c->sample_freq);
	mem_free(mem, c->deliver_subject);
	mem_free(mem, c->deliver_group);
	memset(c, 0, sizeof(*c));
}

/* Days since 1970-01-01 of a civil date (Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool parse_digits(const char **p, int n, int64_t *out)
{
	int64_t v = 0;
	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];
		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (ch - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* RFC 3339 with optional fraction and a Z or +hh:mm offset. */
static bool parse_rfc3339(const char *s, int64_t *out_ns)
{
	int64_t y, mo, d, h, mi, se, frac = 0, off = 0;
	const char *p = s;
	if (!parse_digits(&p, 4, &y) || *p++ != '-' ||
	    !parse_digits(&p, 2, &mo) || *p++ != '-' ||
	    !parse_digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
		return false;
	p++;
	if (!parse_digits(&p, 2, &h) || *p++ != ':' ||
	    !parse_digits(&p, 2, &mi) || *p++ != ':' ||
	    !parse_digits(&p, 2, &se))
		return false;
	if (*p == '.') {
		int n = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (n++ < 9)
				frac = frac * 10 + (*p - '0');
			p++;
		}
		for (; n < 9; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int64_t oh, om;
		int sign = *p++ == '-' ? -1 : 1;
		if (!parse_digits(&p, 2, &oh) || *p++ != ':' ||
		    !parse_digits(&p, 2, &om))
			return false;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return false;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || se > 60)
		return false;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
		       se - off;
	/* Nanoseconds since 1970 in an int64 reach the years 1678 to 2262;
	 * a time outside them is refused rather than wrapped. */
	if (secs <= INT64_MIN / NS_PER_S + 1 || secs >= INT64_MAX / NS_PER_S - 1)
		return false;
	*out_ns = secs * NS_PER_S + frac;
	return true;
}

static int config_decode_time(struct mem *mem, const struct json_doc *d,
			      int obj, struct consumer_config *c)
{
	char *v = NULL;
	int rc = js_json_str(mem, d, obj, "opt_start_time", &v);
	if (rc <= 0)
		return rc;
	bool ok = parse_rfc3339(v, &c->opt_start_time_ns);
	mem_free(mem, v);
	if (!ok)
		return -1;
	c->has_opt_start_time = true;
	return 1;
}

static int config_decode_backoff(const struct json_doc *d, int obj,
				 struct consumer_config *c)
{
	int t = json_obj_get_fold(d, obj, "backoff");
	if (t < 0 || json_type_of(d, t) == JSON_NULL)
		return 0;
	if (json_type_of(d, t) != JSON_ARRAY)
		return -1;
	uint32_t n = d->toks[t].count;
	if (n > CONSUMER_BACKOFF_MAX)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		if (!json_get_int(d, json_array_at(d, t, i), &c->backoff_ns[i]))
			return -1;
	}
	c->n_backoff = n;
	return 0;
}

static int config_decode_strings(struct mem *mem, const struct json_doc *d,
				 int obj, struct consumer_config *c)
{
	int bad = 0;
	bad |= js_json_str(mem, d, obj, "durable_name", &c->durable) < 0;
	bad |= js_json_str(mem, d, obj, "name", &c->name) < 0;
	bad |= js_json_str(mem, d, obj, "description", &c->description) < 0;
	bad |= js_json_str(mem, d, obj, "filter_subject", &c->filter_subject) < 0;
	bad |= js_json_str(mem, d, obj, "sample_freq", &c->sample_freq) < 0;
	bad |= js_json_str(mem, d, obj, "deliver_subject",
			   &c->deliver_subject) < 0;
	bad |= js_json_str(mem, d, obj, "deliver_group", &c->deliver_group) < 0;
	/* Go's omitempty: an empty string is the same as absent. */
	char **all[] = { &c->durable, &c->name, &c->description,
			 &c->filter_subject, &c->sample_freq,
			 &c->deliver_subject, &c->deliver_group };
	for (size_t i = 0; i < ARRAY_LEN(all); i++) {
		if (*all[i] != NULL && (*all[i])[0] == '\0') {
			mem_free(mem, *all[i]);
			*all[i] = NULL;
		}
	}
	return bad ? -1 : 0;
}

static int config_decode_numbers(const struct json_doc *d, int obj,
				 struct consumer_config *c)
{
	int bad = 0;
	bad |= js_json_uint(d, obj, "opt_start_seq", &c->opt_start_seq) < 0;
	bad |= js_json_int(d, obj, "ack_wait", &c->ack_wait_ns) < 0;
	bad |= js_json_int(d, obj, "max_deliver", &c->max_deliver) < 0;
	bad |= js_json_uint(d, obj, "rate_limit_bps", &c->rate_limit_bps) < 0;
	bad |= js_json_int(d, obj, "max_waiting", &c->max_waiting) < 0;
	bad |= js_json_int(d, obj, "max_ack_pending", &c->max_ack_pending) < 0;
	bad |= js_json_int(d, obj, "idle_heartbeat", &c->idle_heartbeat_ns) < 0;
	bad |= js_json_int(d, obj, "max_batch", &c->max_batch) < 0;
	bad |= js_json_int(d, obj, "max_expires", &c->max_expires_ns) < 0;
	bad |= js_json_int(d, obj, "max_bytes", &c->max_bytes) < 0;
	bad |= js_json_int(d, obj, "inactive_threshold",
			   &c->inactive_threshold_ns) < 0;
	bad |= js_json_int(d, obj, "num_replicas", &c->replicas) < 0;
	bad |= js_json_bool(d, obj, "flow_control", &c->flow_control) < 0;
	bad |= js_json_bool(d, obj, "headers_only", &c->headers_only) < 0;
	bad |= js_json_bool(d, obj, "mem_storage", &c->mem_storage) < 0;
	bad |= js_json_bool(d, obj, "direct", &c->direct) < 0;
	return bad ? -1 : 0;
}

int consumer_config_decode(struct mem *mem, const struct json_doc *d, int obj,
			   struct consumer_config *c)
{
	memset(c, 0, sizeof(*c));
	if (json_type_of(d, obj) != JSON_OBJECT)
		return -1;
	int dp = 0, ap = 0, rp = 0;
	static const char *const replay_names[] = { "instant", "original" };
	int rdp = js_json_enum(mem, d, obj, "deliver_policy", deliver_names,
			      ARRAY_LEN(deliver_names), &dp);
	int rap = js_json_enum(mem, d, obj, "ack_policy", ack_names,
			      ARRAY_LEN(ack_names), &ap);
	int rrp = js_json_enum(mem, d, obj, "replay_policy", replay_names, 2,
			      &rp);
	if (rdp < 0 || rap < 0 || rrp < 0 ||
	    config_decode_strings(mem, d, obj, c) != 0 ||
	    config_decode_numbers(d, obj, c) != 0 ||
	    config_decode_backoff(d, obj, c) != 0 ||
	    config_decode_time(mem, d, obj, c) < 0) {
		consumer_config_free(mem, c);
		return -1;
	}
	c->deliver_policy = (enum consumer_deliver)dp;
	/* Go's zero value of AckPolicy is "none". */
	c->ack_policy = (enum consumer_ack)ap;
	c->ack_policy_set = rap > 0;
	c->replay_original = rp == 1;
	return 0;
}

static void encode_str(struct jw *w, const char *key, const char *v)
{
	if (v != NULL) {
		jw_key(w, key);
		jw_str(w, v);
	}
}

static void encode_int(struct jw *w, const char *key, int64_t v)
{
	if (v != 0) {
		jw_key(w, key);
		jw_int(w, v);
	}
}

static void encode_uint(struct jw *w, const char *key, uint64_t v)
{
	if (v != 0) {
		jw_key(w, key);
		jw_uint(w, v);
	}
}

static void encode_bool(struct jw *w, const char *key, bool v)
{
	if (v) {
		jw_key(w, key);
		jw_bool(w, true);
	}
}

void consumer_config_encode(struct jw *w, const struct consumer_config *c)
{
	jw_obj_begin(w);
	encode_str(w, "durable_name", c->durable);
	encode_str(w, "name", c->name);
	encode_str(w, "description", c->description);
	jw_key(w, "deliver_policy");
	jw_str(w, deliver_names[c->deliver_policy]);
	encode_uint(w, "opt_start_seq", c->opt_start_seq);
	if (c->has_opt_start_time) {
		/* Not js_jw_time: that writes 0 (1970) as Go's zero time. */
		char t[TIMEFMT_MAX];
		size_t tn = timefmt_rfc3339(c->opt_start_time_ns, t);
		jw_key(w, "opt_start_time");
		jw_strn(w, t, tn);
	}
	jw_key(w, "ack_policy");
	jw_str(w, ack_names[c->ack_policy]);
	encode_int(w, "ack_wait", c->ack_wait_ns);
	encode_int(w, "max_deliver", c->max_deliver);
	if (c->n_backoff > 0) {
		jw_key(w, "backoff");
		jw_arr_begin(w);
		for (size_t i = 0; i < c->n_backoff; i++)
			jw_int(w, c->backoff_ns[i]);
		jw_arr_end(w);
	}
	encode_str(w, "filter_subject", c->filter_subject);
	jw_key(w, "replay_policy");
	jw_str(w, c->replay_original ? "original" : "instant");
	encode_uint(w, "rate_limit_bps", c->rate_limit_bps);
	encode_str(w, "sample_freq", c->sample_freq);
	encode_int(w, "max_waiting", c->max_waiting);
	encode_int(w, "max_ack_pending", c->max_ack_pending);
	encode_int(w, "idle_heartbeat", c->idle_heartbeat_ns);
	encode_bool(w, "flow_control", c->flow_control);
	encode_bool(w, "headers_only", c->headers_only);
	encode_int(w, "max_batch", c->max_batch);
	encode_int(w, "max_expires", c->max_expires_ns);
	encode_int(w, "max_bytes", c->max_bytes);
	encode_str(w, "deliver_subject", c->deliver_subject);
	encode_str(w, "deliver_group", c->deliver_group);
	encode_int(w, "inactive_threshold", c->inactive_threshold_ns);
	jw_key(w, "num_replicas");
	jw_int(w, c->replicas);
	encode_bool(w, "mem_storage", c->mem_storage);
	encode_bool(w, "direct", c->direct);
	jw_obj_end(w);
}

static void consumer_config_encode_any(struct jw *w, const void *cfg)
{
	consumer_config_encode(w, cfg);
}

static bool config_equal(struct mem *mem, const struct consumer_config *a,
			 const struct consumer_config *b)
{
	return js_json_encoded_equal(mem, consumer_config_encode_any, a, b);
}

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* The reference's setConsumerConfigDefaults. */
static void config_fill_defaults(struct consumer_config *c,
				 const struct js_account *ja)
{
	bool acks = c->ack_policy != CONSUMER_ACK_NONE;
	if (c->deliver_subject == NULL && c->max_waiting == 0)
		c->max_waiting = CONSUMER_MAX_WAITING_DEFAULT;
	if (c->ack_wait_ns == 0 && acks)
		c->ack_wait_ns = CONSUMER_ACK_WAIT_DEFAULT_NS;
	if (c->max_deliver == 0)
		c->max_deliver = -1;
	if (c->n_backoff > 0)
		c->ack_wait_ns = c->backoff_ns[0];
	if (acks && c->max_ack_pending == 0) {
		int64_t p = CONSUMER_MAX_ACK_PENDING_DEFAULT;
		if (ja->limits.max_ack_pending > 0 &&
		    ja->limits.max_ack_pending < p)
			p = ja->limits.max_ack_pending;
		c->max_ack_pending = p;
	}
}

static bool sample_freq_valid(const char *s)
{
	size_t n = strlen(s);
	if (n > 0 && s[n - 1] == '%')
		n--;
	if (n == 0)
		return false;
	size_t i = s[0] == '+' || s[0] == '-' ? 1 : 0;
	if (i == n || s[0] == '-')
		return false;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool deliver_forms_cycle(const struct stream_config *sc,
				const char *subject)
{
	for (size_t i = 0; i < sc->n_subjects; i++) {
		if (subject_matches(subject, strlen(subject), sc->subjects[i],
				    strlen(sc->subjects[i])))
			return true;
	}
	return false;
}

/* The reference's validFilteredSubject: inside a stream subject, or a
 * wildcard filter wider than one. */
static bool filter_valid(const struct stream_config *sc, const char *filter)
{
	size_t fl = strlen(filter);
	if (!subject_is_valid(filter, fl))
		return false;
	bool wc = subject_has_wildcard(filter, fl);
	for (size_t i = 0; i < sc->n_subjects; i++) {
		const char *s = sc->subjects[i];
		if (subject_is_subset(filter, fl, s, strlen(s)) ||
		    (wc && subject_is_subset(s, strlen(s), filter, fl)))
			return true;
	}
	return false;
}

static int check_push(const struct consumer_config *c,
		      const struct stream_config *sc, struct js_error *e)
{
	const char *ds = c->deliver_subject;
	if (subject_has_wildcard(ds, strlen(ds)))
		js_error_set(e, JS_ERR_CONSUMER_DELIVER_TO_WILDCARDS, NULL);
	else if (!subject_is_valid(ds, strlen(ds)))
		js_error_set(e, JS_ERR_CONSUMER_INVALID_DELIVER_SUBJECT, NULL);
	else if (deliver_forms_cycle(sc, ds))
		js_error_set(e, JS_ERR_CONSUMER_DELIVER_CYCLE, NULL);
	else if (c->max_waiting != 0)
		js_error_set(e, JS_ERR_CONSUMER_PUSH_MAX_WAITING, NULL);
	else if (c->max_ack_pending > 0 && c->ack_policy == CONSUMER_ACK_NONE)
		js_error_set(e, JS_ERR_CONSUMER_MAX_PENDING_ACK_POLICY_REQUIRED,
			     NULL);
	else if (c->idle_heartbeat_ns > 0 &&
		 c->idle_heartbeat_ns < 100 * NS_PER_MS)
		js_error_set(e, JS_ERR_CONSUMER_SMALL_HEARTBEAT, NULL);
	else
		return 0;
	return -1;
}

static int check_pull(const struct consumer_config *c,
		      const struct stream_config *sc, struct js_error *e)
{
	if (c->ack_policy == CONSUMER_ACK_NONE &&
	    sc->retention == STREAM_RETENTION_WORKQUEUE)
		js_error_set(e, JS_ERR_CONSUMER_PULL_REQUIRES_ACK, NULL);
	else if (c->rate_limit_bps > 0)
		js_error_set(e, JS_ERR_CONSUMER_PULL_WITH_RATE_LIMIT, NULL);
	else if (c->max_waiting < 0)
		js_error_set(e, JS_ERR_CONSUMER_MAX_WAITING_NEGATIVE, NULL);
	else if (c->idle_heartbeat_ns > 0)
		js_error_set(e, JS_ERR_CONSUMER_HB_REQUIRES_PUSH, NULL);
	else if (c->flow_control)
		js_error_set(e, JS_ERR_CONSUMER_FC_REQUIRES_PUSH, NULL);
	else if (c->max_batch < 0)
		js_error_set(e, JS_ERR_CONSUMER_MAX_REQUEST_BATCH_NEGATIVE, NULL);
	else if (c->max_expires_ns != 0 && c->max_expires_ns < NS_PER_MS)
		js_error_set(e, JS_ERR_CONSUMER_MAX_REQUEST_EXPIRES_TO_SMALL,
			     NULL);
	else
		return 0;
	return -1;
}

/* The start position checks, with the reference's texts. */
static int check_start(const struct consumer_config *c, struct js_error *e)
{
	static const char *const dp_text[] = {
		"all", "last", "new", "by start sequence", "by start time",
		"last per subject",
	};
	const char *dp = dp_text[c->deliver_policy];
	bool has_seq = c->opt_start_seq > 0, has_time = c->has_opt_start_time;
	const char *bad = NULL, *unset = NULL;
	switch (c->deliver_policy) {
	case CONSUMER_DELIVER_ALL:
	case CONSUMER_DELIVER_LAST:
	case CONSUMER_DELIVER_NEW:
	case CONSUMER_DELIVER_LAST_PER_SUBJECT:
		bad = has_seq ? "sequence" : has_time ? "time" : NULL;
		if (bad == NULL &&
		    c->deliver_policy == CONSUMER_DELIVER_LAST_PER_SUBJECT &&
		    c->filter_subject == NULL)
			unset = "filter subject";
		break;
	case CONSUMER_DELIVER_BY_START_SEQUENCE:
		unset = !has_seq ? "start sequence" : NULL;
		bad = has_seq && has_time ? "time" : NULL;
		break;
	case CONSUMER_DELIVER_BY_START_TIME:
		unset = !has_time ? "start time" : NULL;
		bad = has_time && has_seq ? "start sequence" : NULL;
		break;
	}
	if (bad != NULL)
		js_error_setf(e, JS_ERR_CONSUMER_INVALID_POLICY, "consumer "
			      "delivery policy is deliver %s, but optional start "
			      "%s is also set", dp, bad);
	else if (unset != NULL)
		js_error_setf(e, JS_ERR_CONSUMER_INVALID_POLICY, "consumer "
			      "delivery policy is deliver %s, but optional %s is "
			      "not set", dp, unset);
	return bad != NULL || unset != NULL ? -1 : 0;
}

/* The reference's checkConsumerCfg, in its order. */
static int config_check(const struct consumer_config *c,
			const struct stream_config *sc,
			const struct js_account *ja, struct js_error *e)
{
	if (c->replicas > 0 && c->replicas > sc->replicas)
		js_error_set(e, JS_ERR_CONSUMER_REPLICAS_EXCEEDS_STREAM, NULL);
	else if (c->replicas < 0)
		js_error_set(e, JS_ERR_REPLICAS_COUNT_CANNOT_BE_NEGATIVE, NULL);
	else if (c->n_backoff > 0 && c->max_deliver <= (int64_t)c->n_backoff)
		js_error_set(e, JS_ERR_CONSUMER_MAX_DELIVER_BACKOFF, NULL);
	else if (c->description != NULL &&
		 strlen(c->description) > CONSUMER_DESCRIPTION_MAX)
		js_error_setf(e, JS_ERR_CONSUMER_DESCRIPTION_TOO_LONG, "%d",
			      CONSUMER_DESCRIPTION_MAX);
	else if (c->deliver_subject != NULL ? check_push(c, sc, e) != 0
					    : check_pull(c, sc, e) != 0)
		return -1;
	else if (ja->limits.max_ack_pending > 0 &&
		 c->max_ack_pending > ja->limits.max_ack_pending)
		js_error_setf(e, JS_ERR_CONSUMER_MAX_PENDING_ACK_EXCESS, "%lld",
			      (long long)ja->limits.max_ack_pending);
	else if (c->direct && c->deliver_subject == NULL)
		js_error_set(e, JS_ERR_CONSUMER_DIRECT_REQUIRES_PUSH, NULL);
	else if (c->direct && c->durable != NULL)
		js_error_set(e, JS_ERR_CONSUMER_DIRECT_REQUIRES_EPHEMERAL, NULL);
	else if (c->filter_subject != NULL && !filter_valid(sc, c->filter_subject))
		js_error_set(e, JS_ERR_CONSUMER_FILTER_NOT_SUBSET, NULL);
	else if (check_start(c, e) != 0)
		return -1;
	else if (c->sample_freq != NULL && !sample_freq_valid(c->sample_freq))
		js_error_setf(e, JS_ERR_CONSUMER_INVALID_SAMPLING,
			      "strconv.Atoi: parsing \"%.*s\": invalid syntax",
			      (int)(strlen(c->sample_freq) -
				    (c->sample_freq[strlen(c->sample_freq) - 1]
				     == '%')), c->sample_freq);
	else if (c->flow_control && c->idle_heartbeat_ns == 0)
		js_error_set(e, JS_ERR_CONSUMER_WITH_FLOW_CONTROL_NEEDS_HEARTBEATS,
			     NULL);
	else if (c->durable != NULL && c->name != NULL &&
		 strcmp(c->durable, c->name) != 0)
		js_error_set(e, JS_ERR_CONSUMER_CREATE_DURABLE_AND_NAME_MISMATCH,
			     NULL);
	else
		return 0;
	return -1;
}

/* The reference's checkNewConsumerConfig: what an update may change. */
static int config_check_update(struct consumer *o,
			       const struct consumer_config *n,
			       struct js_error *e)
{
	const struct consumer_config *c = &o->cfg;
	const char *why = NULL;
	if (config_equal(o->mem, c, n))
		return 0;
	if (c->deliver_policy != n->deliver_policy)
		why = "deliver policy can not be updated";
	else if (c->opt_start_seq != n->opt_start_seq)
		why = "start sequence can not be updated";
	else if (c->has_opt_start_time != n->has_opt_start_time ||
		 c->opt_start_time_ns != n->opt_start_time_ns)
		why = "start time can not be updated";
	else if (c->ack_policy != n->ack_policy)
		why = "ack policy can not be updated";
	else if (c->replay_original != n->replay_original)
		why = "replay policy can not be updated";
	else if (c->idle_heartbeat_ns != n->idle_heartbeat_ns)
		why = "heart beats can not be updated";
	else if (c->flow_control != n->flow_control)
		why = "flow control can not be updated";
	else if (c->max_waiting != n->max_waiting)
		why = "max waiting can not be updated";
	else if (!str_eq(c->deliver_subject, n->deliver_subject)) {
		if (c->deliver_subject == NULL)
			why = "can not update pull consumer to push based";
		else if (n->deliver_subject == NULL)
			why = "can not update push consumer to pull based";
		else if (o->active) {
			js_error_set(e, JS_ERR_CONSUMER_NAME_EXIST, NULL);
			return -1;
		}
	}
	if (why != NULL) {
		js_error_set(e, JS_ERR_CONSUMER_CREATE, why);
		return -1;
	}
	if (n->n_backoff > 0 && n->max_deliver <= (int64_t)n->n_backoff) {
		js_error_set(e, JS_ERR_CONSUMER_MAX_DELIVER_BACKOFF, NULL);
		return -1;
	}
	return 0;
}

/* ========================================================== helpers */

static int64_t now_mono(const struct consumer *c)
{
	return env_now_mono_ns(c->srv->env);
}

static int64_t now_wall(const struct consumer *c)
{
	return env_now_wall_ns(c->srv->env);
}

static struct js_account *consumer_ja(const struct consumer *c)
{
	return stream_account(c->st);
}

static bool is_push(const struct consumer *c)
{
	return c->cfg.deliver_subject != NULL;
}

static bool needs_acks(const struct consumer *c)
{
	return c->cfg.ack_policy != CONSUMER_ACK_NONE;
}

const char *consumer_name(const struct consumer *c)
{
	return c->name;
}

bool consumer_is_direct(const struct consumer *c)
{
	return c->cfg.direct;
}

const char *consumer_filter(const struct consumer *c)
{
	return c->cfg.filter_subject;
}

/* Sends now (not at the end of the turn), so that messages and status
 * messages of one consumer reach a client in the order they were made. */
static void consumer_send_as(struct consumer *c, const char *subject,
			     const char *shown, const char *reply,
			     const void *hdr, size_t hdr_len, const void *data,
			     size_t len)
{
	/* A JetStream subject (a client may name any reply) could reach the
	 * API and delete this consumer or its stream while it runs: those
	 * wait for the end of the turn. */
	if (strncmp(subject, "$JS.", 4) == 0)
		internal_send_as(c->srv, consumer_ja(c)->acc, subject, shown,
				 reply, hdr, hdr_len, data, len);
	else
		internal_publish_as(c->srv, consumer_ja(c)->acc, subject, shown,
				    reply, hdr, hdr_len, data, len);
}

static void consumer_send(struct consumer *c, const char *subject,
			  const char *reply, const void *hdr, size_t hdr_len,
			  const void *data, size_t len)
{
	consumer_send_as(c, subject, NULL, reply, hdr, hdr_len, data, len);
}

static bool sub_is_plain_client(const struct sub *sub)
{
	return sub->conn != NULL && sub->icb == NULL && sub->parent == NULL &&
	       sub->origin == NULL;
}

static bool result_all_plain(const struct sublist_result *r)
{
	for (size_t i = 0; i < r->npsubs; i++)
		if (!sub_is_plain_client(r->psubs[i]))
			return false;
	for (size_t i = 0; i < r->nqgroups; i++)
		for (size_t j = 0; j < r->qgroups[i].nsubs; j++)
			if (!sub_is_plain_client(r->qgroups[i].subs[j]))
				return false;
	return true;
}

/* A stored message goes to the subscribers of to (a deliver subject or a
 * pull request's inbox) but shows its own subject, as the reference's
 * deliveries do.  Local client subscriptions are written here directly
 * (the common case, without a copy); when others match (leaf, import,
 * internal) the message is routed by to with its subject to show.
 * msg holds the header block (hdr_len bytes) followed by the payload. */
static size_t sub_backlog(const struct sub *sub, size_t max)
{
	return sub->conn != NULL && sub->conn->out_pending > max ?
		sub->conn->out_pending : max;
}

/* The backlog at which push delivery pauses: below the point where the
 * connection would be closed as a slow consumer. */
static size_t backlog_max(const struct consumer *c)
{
	int64_t mp = c->srv->opts->max_pending;
	if (mp > 0 && (uint64_t)mp / 2 < CONSUMER_BACKLOG_MAX)
		return (size_t)mp / 2;
	return CONSUMER_BACKLOG_MAX;
}

/* A queue group can take more while one member can: the smallest backlog
 * of its members (0 when one is not a local client). */
static size_t group_backlog(const struct sublist_qgroup *g)
{
	size_t min = SIZE_MAX;
	for (size_t j = 0; j < g->nsubs; j++) {
		const struct sub *sub = g->subs[j];
		size_t b = sub_is_plain_client(sub) ? sub->conn->out_pending : 0;
		min = MIN(min, b);
	}
	return g->nsubs > 0 ? min : 0;
}

/* The largest output backlog among the local client connections
 * subscribed to to (0 when none). */
static size_t target_backlog(struct consumer *c, const char *to)
{
	struct account *acc = consumer_ja(c)->acc;
	struct sublist_result *r = sublist_match(acc->sl, to, strlen(to));
	size_t max = 0;
	if (r == NULL)
		return 0;
	for (size_t i = 0; i < r->npsubs; i++)
		if (sub_is_plain_client(r->psubs[i]))
			max = sub_backlog(r->psubs[i], max);
	for (size_t i = 0; i < r->nqgroups; i++)
		max = MAX(max, group_backlog(&r->qgroups[i]));
	sublist_result_release(acc->sl, r);
	return max;
}


/* Returns the largest output backlog of the local client connections
 * the message was written to (0 when it was routed otherwise). */
static size_t consumer_deliver(struct consumer *c, const char *to,
			       const char *subject, size_t subject_len,
			       const char *reply, const char *msg,
			       size_t hdr_len, size_t total_len)
{
	struct account *acc = consumer_ja(c)->acc;
	struct sublist_result *r = sublist_match(acc->sl, to, strlen(to));
	size_t backlog = 0;
	if (r == NULL)
		return 0;
	if (!result_all_plain(r)) {
		sublist_result_release(acc->sl, r);
		char shown[1024];
		if (subject_len >= sizeof(shown))
			return 0;
		memcpy(shown, subject, subject_len);
		shown[subject_len] = '\0';
		consumer_send_as(c, to, shown, reply, msg, hdr_len,
				 msg + hdr_len, total_len - hdr_len);
		return 0;
	}
	struct pubmsg m = { subject, subject_len, reply, strlen(reply), msg,
			    hdr_len, total_len, NULL, 0 };
	for (size_t i = 0; i < r->npsubs; i++) {
		conn_deliver(NULL, r->psubs[i], subject, subject_len, &m);
		backlog = sub_backlog(r->psubs[i], backlog);
	}
	for (size_t i = 0; i < r->nqgroups; i++) {
		const struct sublist_qgroup *g = &r->qgroups[i];
		if (g->nsubs == 0)
			continue;
		/* A random member, preferring one without a backlog. */
		size_t start = (size_t)prng_below(&c->srv->prng, g->nsubs);
		size_t lim = backlog_max(c);
		bool done = false;
		for (int pass = 0; pass < 2 && !done; pass++) {
			for (size_t j = 0; j < g->nsubs && !done; j++) {
				struct sub *sub = g->subs[(start + j) % g->nsubs];
				if (pass == 0 && sub->conn->out_pending >= lim)
					continue;
				done = conn_deliver(NULL, sub, subject, subject_len, &m);
			}
		}
		backlog = MAX(backlog, group_backlog(g));
	}
	sublist_result_release(acc->sl, r);
	return backlog;
}

/* A status message ("NATS/1.0 <code> <text>" plus extra header lines). */
static void send_status(struct consumer *c, const char *to, const char *status,
			const char *extra)
{
	struct buf *h = &c->tmp;
	buf_reset(h);
	buf_appendf(h, "NATS/1.0 %s\r\n%s\r\n", status, extra ? extra : "");
	if (!h->oom)
		consumer_send(c, to, NULL, h->data, h->len, NULL, 0);
}

static void send_pending_status(struct consumer *c, const char *to,
				const char *status, int64_t n, int64_t b)
{
	char extra[128];
	snprintf(extra, sizeof(extra), "Nats-Pending-Messages: %lld\r\n"
		 "Nats-Pending-Bytes: %lld\r\n", (long long)n, (long long)b);
	send_status(c, to, status, extra);
}

/* Arms the timer for at_ns unless it already fires earlier. */
static void consumer_arm(struct consumer *c, int64_t at_ns)
{
	if (c->timer < 0 || c->running || at_ns >= c->timer_at_ns)
		return;
	c->timer_at_ns = at_ns;
	c->srv->env->timer_arm(c->srv->env, c->timer, at_ns);
}

static void consumer_kick(struct consumer *c)
{
	c->kicked = true;
	consumer_arm(c, now_mono(c));
}

static void consumer_mark_dirty(struct consumer *c)
{
	if (!c->durable_file)
		return;
	if (!c->dirty)
		c->flush_at_ns = now_mono(c) + CONSUMER_FLUSH_DELAY_NS;
	c->dirty = true;
	consumer_arm(c, c->flush_at_ns);
}

/* ------------------------------------------------- pending and rdq */

static size_t pending_lower_bound(const struct consumer *c, uint64_t sseq)
{
	size_t lo = 0, hi = c->n_pending;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->pending[mid].sseq < sseq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct pending *pending_find(struct consumer *c, uint64_t sseq)
{
	size_t i = pending_lower_bound(c, sseq);
	return i < c->n_pending && c->pending[i].sseq == sseq
	       ? &c->pending[i] : NULL;
}

static struct pending *pending_add(struct consumer *c, uint64_t sseq)
{
	size_t i = pending_lower_bound(c, sseq);
	if (i < c->n_pending && c->pending[i].sseq == sseq)
		return &c->pending[i];
	if (c->n_pending == c->cap_pending) {
		size_t cap = c->cap_pending ? c->cap_pending * 2 : 16;
		struct pending *p = mem_realloc(c->mem, c->pending,
						cap * sizeof(*p));
		if (p == NULL)
			return NULL;
		c->pending = p;
		c->cap_pending = cap;
	}
	memmove(&c->pending[i + 1], &c->pending[i],
		(c->n_pending - i) * sizeof(*c->pending));
	c->n_pending++;
	memset(&c->pending[i], 0, sizeof(c->pending[i]));
	c->pending[i].sseq = sseq;
	return &c->pending[i];
}

static void rdq_remove(struct consumer *c, uint64_t sseq)
{
	for (size_t i = 0; i < c->n_rdq; i++) {
		if (c->rdq[i] == sseq) {
			memmove(&c->rdq[i], &c->rdq[i + 1],
				(c->n_rdq - i - 1) * sizeof(*c->rdq));
			c->n_rdq--;
			return;
		}
	}
}

static void pending_remove(struct consumer *c, struct pending *p)
{
	size_t i = (size_t)(p - c->pending);
	ASSERT(i < c->n_pending);
	if (p->queued)
		rdq_remove(c, p->sseq);
	memmove(&c->pending[i], &c->pending[i + 1],
		(c->n_pending - i - 1) * sizeof(*c->pending));
	c->n_pending--;
}

static void rdq_push(struct consumer *c, struct pending *p)
{
	if (p->queued)
		return;
	if (c->n_rdq == c->cap_rdq) {
		size_t cap = c->cap_rdq ? c->cap_rdq * 2 : 16;
		uint64_t *q = mem_realloc(c->mem, c->rdq, cap * sizeof(*q));
		if (q == NULL)
			return; /* redelivered by the next ack-wait check */
		c->rdq = q;
		c->cap_rdq = cap;
	}
	c->rdq[c->n_rdq++] = p->sseq;
	p->queued = true;
}

static uint64_t rdq_pop(struct consumer *c)
{
	if (c->n_rdq == 0)
		return 0;
	uint64_t seq = c->rdq[0];
	memmove(&c->rdq[0], &c->rdq[1], (c->n_rdq - 1) * sizeof(*c->rdq));
	c->n_rdq--;
	struct pending *p = pending_find(c, seq);
	if (p != NULL)
		p->queued = false;
	return seq;
}

/* Ack wait of a delivery: the backoff entry of its delivery count when
 * backoff is set. */
static int64_t ack_deadline(const struct consumer *c, uint64_t dc,
			    int64_t now)
{
	int64_t wait = c->cfg.ack_wait_ns;
	if (c->cfg.n_backoff > 0) {
		size_t i = dc > 0 ? (size_t)(dc - 1) : 0;
		if (i >= c->cfg.n_backoff)
			i = c->cfg.n_backoff - 1;
		wait = c->cfg.backoff_ns[i];
	}
	return now + wait;
}

static uint64_t num_redelivered(const struct consumer *c)
{
	uint64_t n = 0;
	for (size_t i = 0; i < c->n_pending; i++)
		n += c->pending[i].dc > 1;
	return n;
}

/* Messages at or after the cursor that this consumer will deliver. */
/* Messages from the next sequence on that match the filter, counted
 * the way the reference keeps it (its npc/npcm): computed from the store
 * once (and for every consumer info), then kept: -1 for each first
 * delivery, +1 for each matching message stored after the count, -1 for
 * each of those removed before delivery.  Asked for every delivery (the
 * ack subject carries it), so it must not be a scan; like the
 * reference's, the kept value of a last-per-subject consumer counts
 * messages, not subjects, after the first count. */
static uint64_t consumer_count_pending(struct consumer *c)
{
	const char *f = c->cfg.filter_subject;
	struct store *store = stream_store(c->st);
	uint64_t start = c->sseq;
	if (c->lss != NULL && c->i_lss < c->n_lss)
		start = c->lss[c->i_lss];
	struct store_state ss;
	store_get_state(store, &ss);
	c->npc = (int64_t)store_num_pending(store, start, f, f ? strlen(f) : 0,
					    c->cfg.deliver_policy ==
					    CONSUMER_DELIVER_LAST_PER_SUBJECT);
	c->npcm = ss.last_seq;
	c->np_valid = true;
	return (uint64_t)c->npc;
}

static uint64_t consumer_num_pending(struct consumer *c)
{
	if (!c->np_valid)
		return consumer_count_pending(c);
	return c->npc < 0 ? 0 : (uint64_t)c->npc;
}

static bool consumer_filter_matches(const struct consumer *c,
				    const char *subject, size_t len)
{
	const char *f = c->cfg.filter_subject;
	return f == NULL || subject_matches(subject, len, f, strlen(f));
}

/* ============================================================ pulls */

static void waiting_remove_at(struct consumer *c, size_t i)
{
	mem_free(c->mem, c->waiting[i].reply);
	memmove(&c->waiting[i], &c->waiting[i + 1],
		(c->n_waiting - i - 1) * sizeof(*c->waiting));
	c->n_waiting--;
}

static bool has_interest(struct consumer *c, const char *subject)
{
	return sublist_has_interest(consumer_ja(c)->acc->sl, subject,
				    strlen(subject));
}

/* The reference's processWaiting: expires requests (and, at the end of
 * a delivery pass, no_wait requests that got something), drops those
 * whose requester went away, sends heartbeats.  Returns the messages
 * the remaining requests still want. */
static int64_t process_waiting(struct consumer *c, bool eos, int64_t now)
{
	int64_t want = 0;
	for (size_t i = 0; i < c->n_waiting;) {
		struct pull_req *wr = &c->waiting[i];
		if ((eos && wr->no_wait && wr->d > 0) ||
		    (wr->expires_ns > 0 && now >= wr->expires_ns)) {
			send_pending_status(c, wr->reply, "408 Request Timeout",
					    wr->n, wr->b);
			waiting_remove_at(c, i);
			continue;
		}
		if (!has_interest(c, wr->reply)) {
			waiting_remove_at(c, i);
			continue;
		}
		want += wr->n;
		if (wr->hb_ns > 0 && now >= wr->hb_next_ns) {
			char extra[96];
			snprintf(extra, sizeof(extra), "Nats-Last-Consumer: %llu"
				 "\r\nNats-Last-Stream: %llu\r\n",
				 (unsigned long long)(c->dseq - 1),
				 (unsigned long long)(c->sseq - 1));
			send_status(c, wr->reply, "100 Idle Heartbeat", extra);
			wr->hb_next_ns = now + wr->hb_ns;
		}
		i++;
	}
	return want;
}

/* The reference's nextWaiting and pop: the request that gets a message of
 * sz bytes, moved to the end of the queue (round robin) or removed when
 * done.  Writes its reply into to (capacity cap). */
static bool next_waiting(struct consumer *c, int64_t sz, int64_t now,
			 char *to, size_t cap)
{
	while (c->n_waiting > 0) {
		struct pull_req *wr = &c->waiting[0];
		if (wr->b > 0) {
			if (sz <= wr->b) {
				wr->b -= sz;
				if (wr->b == 0)
					wr->n = 1;
			} else {
				send_pending_status(c, wr->reply, "409 Message "
						    "Size Exceeds MaxBytes",
						    wr->n, wr->b);
				waiting_remove_at(c, 0);
				continue;
			}
		}
		if ((wr->expires_ns == 0 || now < wr->expires_ns) &&
		    has_interest(c, wr->reply)) {
			snprintf(to, cap, "%s", wr->reply);
			wr->d++;
			wr->n--;
			if (wr->hb_ns > 0)
				wr->hb_next_ns = now + wr->hb_ns;
			if (wr->n <= 0) {
				waiting_remove_at(c, 0);
			} else if (c->n_waiting > 1) {
				struct pull_req keep = *wr;
				memmove(&c->waiting[0], &c->waiting[1],
					(c->n_waiting - 1) * sizeof(*wr));
				c->waiting[c->n_waiting - 1] = keep;
			}
			return true;
		}
		waiting_remove_at(c, 0);
	}
	return false;
}

/* A pull request's body: empty, a bare batch number, or JSON. */
struct next_req {
	int64_t batch, max_bytes, expires_ns, hb_ns;
	bool no_wait;
};

static int next_req_parse(struct consumer *c, const char *body, size_t len,
			  struct next_req *r, char *err, size_t err_len)
{
	memset(r, 0, sizeof(*r));
	r->batch = 1;
	while (len > 0 && (body[0] == ' ' || body[0] == '\t' ||
			   body[0] == '\r' || body[0] == '\n')) {
		body++;
		len--;
	}
	if (len == 0)
		return 0;
	if (body[0] != '{') {
		int64_t n = 0;
		size_t i = 0;
		bool neg = body[0] == '-' || body[0] == '+';
		for (i = neg ? 1 : 0; i < len && body[i] >= '0' && body[i] <= '9'
		     && n < INT32_MAX; i++)
			n = n * 10 + (body[i] - '0');
		while (i < len && (body[i] == ' ' || body[i] == '\r' ||
				   body[i] == '\n' || body[i] == '\t'))
			i++;
		if (i == len && len > (size_t)(neg ? 1 : 0))
			r->batch = body[0] == '-' ? -n : n;
		return 0;
	}
	struct json_doc d;
	if (json_parse(&d, c->mem, body, len) != 0) {
		snprintf(err, err_len, "%s", "invalid json");
		return -1;
	}
	int bad = json_type_of(&d, 0) != JSON_OBJECT;
	bad = bad || js_json_int(&d, 0, "batch", &r->batch) < 0;
	bad = bad || js_json_int(&d, 0, "max_bytes", &r->max_bytes) < 0;
	bad = bad || js_json_int(&d, 0, "expires", &r->expires_ns) < 0;
	bad = bad || js_json_int(&d, 0, "idle_heartbeat", &r->hb_ns) < 0;
	bad = bad || js_json_bool(&d, 0, "no_wait", &r->no_wait) < 0;
	json_doc_free(&d);
	if (bad) {
		snprintf(err, err_len, "%s", "invalid json");
		return -1;
	}
	if (r->hb_ns > 0 && r->hb_ns * 2 > r->expires_ns) {
		snprintf(err, err_len, "%s", "heartbeat value too large");
		return -1;
	}
	return 0;
}

static bool check_request_limits(struct consumer *c, const char *reply,
				 const struct next_req *r)
{
	char status[128];
	if (c->cfg.max_batch > 0 && r->batch > c->cfg.max_batch) {
		snprintf(status, sizeof(status), "409 Exceeded MaxRequestBatch "
			 "of %lld", (long long)c->cfg.max_batch);
	} else if (r->expires_ns > 0 && c->cfg.max_expires_ns > 0 &&
		   r->expires_ns > c->cfg.max_expires_ns) {
		char d[64];
		timefmt_go_duration(c->cfg.max_expires_ns, d);
		snprintf(status, sizeof(status), "409 Exceeded "
			 "MaxRequestExpires of %s", d);
	} else if (r->max_bytes > 0 && c->cfg.max_bytes > 0 &&
		   r->max_bytes > c->cfg.max_bytes) {
		snprintf(status, sizeof(status), "409 Exceeded "
			 "MaxRequestMaxBytes of %lld",
			 (long long)c->cfg.max_bytes);
	} else {
		return true;
	}
	send_status(c, reply, status, NULL);
	return false;
}

/* no_wait: answers 404 or 408 right away when the request cannot be
 * served; true when it is to be queued. */
static bool check_no_wait(struct consumer *c, const char *reply,
			  const struct next_req *r, int64_t now)
{
	uint64_t pending = consumer_num_pending(c) + c->n_rdq;
	if (pending == 0 && r->expires_ns == 0) {
		c->last_active_ns = now;
		send_status(c, reply, "404 No Messages", NULL);
		return false;
	}
	if (pending > 0) {
		int64_t want = process_waiting(c, false, now);
		if (pending < (uint64_t)want) {
			c->last_active_ns = now;
			send_status(c, reply, "408 Requests Pending", NULL);
			return false;
		}
	}
	return true;
}

static bool waiting_add(struct consumer *c, const char *reply,
			const struct next_req *r, int64_t now)
{
	if (c->n_waiting == c->cap_waiting) {
		size_t cap = c->cap_waiting ? c->cap_waiting * 2 : 8;
		struct pull_req *w = mem_realloc(c->mem, c->waiting,
						 cap * sizeof(*w));
		if (w == NULL)
			return false;
		c->waiting = w;
		c->cap_waiting = cap;
	}
	struct pull_req *wr = &c->waiting[c->n_waiting];
	memset(wr, 0, sizeof(*wr));
	wr->reply = mem_strdup(c->mem, reply);
	if (wr->reply == NULL)
		return false;
	wr->n = r->batch;
	wr->b = r->max_bytes;
	wr->no_wait = r->no_wait;
	wr->expires_ns = r->expires_ns > 0 ? now + r->expires_ns : 0;
	wr->hb_ns = r->hb_ns;
	wr->hb_next_ns = r->hb_ns > 0 ? now + r->hb_ns : 0;
	c->n_waiting++;
	return true;
}

void consumer_next_request(struct consumer *c, const char *reply,
			   const char *body, size_t len)
{
	char err[64];
	struct next_req r;
	int64_t now = now_mono(c);
	if (reply == NULL || c->doomed)
		return;
	if (is_push(c)) {
		send_status(c, reply, "409 Consumer is push based", NULL);
		return;
	}
	if (next_req_parse(c, body, len, &r, err, sizeof(err)) != 0) {
		char status[96];
		snprintf(status, sizeof(status), "400 Bad Request - %s", err);
		send_status(c, reply, status, NULL);
		return;
	}
	if (!check_request_limits(c, reply, &r))
		return;
	if ((int64_t)c->n_waiting >= c->cfg.max_waiting)
		process_waiting(c, false, now);
	if (r.no_wait && !check_no_wait(c, reply, &r, now))
		return;
	if ((int64_t)c->n_waiting >= c->cfg.max_waiting ||
	    !waiting_add(c, reply, &r, now)) {
		send_status(c, reply, "409 Exceeded MaxWaiting", NULL);
		return;
	}
	c->last_active_ns = now;
	consumer_kick(c);
}

/* ========================================================= delivery */

/* What get_next found: the message to send and its delivery count. */
struct next_msg {
	struct store_msg sm;
	uint64_t dc;
	bool redelivery;
	uint64_t prev_sseq;            /* the cursor before, to undo */
	size_t prev_lss;
};

/* The reference's getNextMsg: redeliveries first, then the skip list of
 * deliver last per subject, then the next stored message; stalls at
 * max_ack_pending.  1 = found, 0 = nothing to send now. */
static int get_next(struct consumer *c, struct next_msg *nm)
{
	struct store *store = stream_store(c->st);
	uint64_t seq;
	while ((seq = rdq_pop(c)) != 0) {
		struct pending *p = pending_find(c, seq);
		if (p == NULL)
			continue;
		uint64_t dc = p->dc + 1;
		if (c->cfg.max_deliver > 0 && dc > (uint64_t)c->cfg.max_deliver) {
			/* Delivered often enough: it stays unacked (the ack
			 * floor waits for it) but is never sent again. */
			js_advisory_delivery(consumer_ja(c),
					     JSA_DELIVERY_MAX_DELIVER,
					     stream_name(c->st), c->name, 0, seq,
					     dc - 1);
			pending_remove(c, p);
			consumer_mark_dirty(c);
			continue;
		}
		if (store_load(store, seq, &nm->sm, &c->scratch) != 0) {
			pending_remove(c, p);
			continue;
		}
		nm->dc = dc;
		nm->redelivery = true;
		return 1;
	}
	nm->redelivery = false;
	nm->dc = 1;
	nm->prev_sseq = c->sseq;
	nm->prev_lss = c->i_lss;
	if (c->cfg.max_ack_pending > 0 &&
	    (int64_t)c->n_pending >= c->cfg.max_ack_pending)
		return 0;
	while (c->lss != NULL && c->i_lss < c->n_lss) {
		seq = c->lss[c->i_lss++];
		if (seq + 1 > c->sseq)
			c->sseq = seq + 1;
		if (c->i_lss == c->n_lss)
			c->sseq = c->lss_resume + 1;
		if (store_load(store, seq, &nm->sm, &c->scratch) == 0)
			return 1;
	}
	const char *f = c->cfg.filter_subject;
	int rc = store_load_next(store, f, f ? strlen(f) : 0, c->sseq, &nm->sm,
				 &c->scratch);
	if (rc != 0) {
		struct store_state ss;
		store_get_state(store, &ss);
		if (ss.last_seq + 1 > c->sseq)
			c->sseq = ss.last_seq + 1;
		return 0;
	}
	c->sseq = nm->sm.seq + 1;
	return 1;
}

/* Puts back what get_next took when nobody could receive it. */
static void unget_next(struct consumer *c, const struct next_msg *nm)
{
	if (!nm->redelivery) {
		c->sseq = nm->prev_sseq;
		c->i_lss = nm->prev_lss;
		return;
	}
	struct pending *p = pending_find(c, nm->sm.seq);
	if (p == NULL || p->queued)
		return;
	rdq_push(c, p);
	/* The pushed entry went to the end; it belongs in front. */
	memmove(&c->rdq[1], &c->rdq[0], (c->n_rdq - 1) * sizeof(*c->rdq));
	c->rdq[0] = nm->sm.seq;
}

/* The message's header block for delivery: as stored, or with
 * Nats-Msg-Size instead of the payload for headers_only. */
static void build_headers(struct consumer *c, const struct store_msg *sm)
{
	struct buf *h = &c->hdr;
	buf_reset(h);
	if (!c->cfg.headers_only) {
		if (sm->hdr != NULL)
			buf_append(h, sm->hdr, sm->hdr_len);
		return;
	}
	if (sm->hdr != NULL && sm->hdr_len >= 4)
		buf_append(h, sm->hdr, sm->hdr_len - 2);
	else
		buf_append_str(h, "NATS/1.0\r\n");
	buf_appendf(h, "Nats-Msg-Size: %zu\r\n\r\n", sm->data_len);
}

static void send_flow_control(struct consumer *c)
{
	char rnd[5];
	prng_base62(&c->srv->prng, rnd, 4);
	rnd[4] = '\0';
	snprintf(c->fcid, sizeof(c->fcid), "$JS.FC.%s.%s.%s",
		 stream_name(c->st), c->name, rnd);
	c->fcsz = c->pbytes;
	static const char hdr[] = "NATS/1.0 100 FlowControl Request\r\n\r\n";
	consumer_send(c, c->cfg.deliver_subject, c->fcid, hdr, sizeof(hdr) - 1,
		      NULL, 0);
}

/* Records one delivery: pending entry, floors, counters, flow control. */
static void after_deliver(struct consumer *c, const struct next_msg *nm,
			  uint64_t dseq, int64_t psz, int64_t now)
{
	uint64_t seq = nm->sm.seq;
	c->last_delivered_ns = now_wall(c);
	c->last_active_ns = now;
	if (needs_acks(c)) {
		struct pending *p = pending_add(c, seq);
		if (p != NULL) {
			/* Like the reference, a redelivery keeps the consumer
			 * sequence of the first delivery (the ack floor
			 * follows those). */
			if (!nm->redelivery)
				p->dseq = dseq;
			p->dc = nm->dc;
			p->deadline_ns = ack_deadline(c, nm->dc, now);
			p->delivered_ns = c->last_delivered_ns;
		}
	} else {
		c->adflr = dseq;
		c->asflr = seq;
	}
	if (c->maxpb > 0) {
		c->pbytes += psz;
		if (c->fcid[0] == '\0' && c->pbytes > c->maxpb / 2)
			send_flow_control(c);
		else if (c->fcid[0] != '\0' && c->pbytes - c->fcsz >= c->maxpb)
			c->fcsz += psz;
	}
	consumer_mark_dirty(c);
	if (!needs_acks(c))
		stream_ack_msg(c->st, c, seq);
}

/* Replay original: holds a first delivery back until as much time has
 * passed since the previous one as between their stores.  True when
 * the message must wait. */
static bool replay_hold(struct consumer *c, const struct next_msg *nm,
			int64_t now)
{
	if (!c->replay || nm->redelivery)
		return false;
	if (c->replay_lts > 0 && c->replay_hold_seq != nm->sm.seq) {
		int64_t delay = nm->sm.ts_ns - c->replay_lts;
		if (delay > NS_PER_MS) {
			c->replay_hold_seq = nm->sm.seq;
			c->replay_hold_until_ns = now + delay;
			return true;
		}
	} else if (c->replay_hold_seq == nm->sm.seq &&
		   now < c->replay_hold_until_ns) {
		return true;
	}
	c->replay_hold_seq = 0;
	c->replay_lts = nm->sm.ts_ns;
	return false;
}

static void ack_reply_build(struct consumer *c, const struct next_msg *nm,
			    uint64_t dseq, uint64_t pending, char *out,
			    size_t cap)
{
	/* Written by hand: this runs for every delivery, and snprintf was
	 * the largest cost of a push consumer. */
	const char *sn = stream_name(c->st);
	size_t sl = strlen(sn), cl = strlen(c->name);
	if (8 + sl + 1 + cl + 5 * 22 + 1 > cap) {
		out[0] = '\0';
		return;
	}
	char *p = out;
	memcpy(p, "$JS.ACK.", 8);
	p += 8;
	memcpy(p, sn, sl);
	p += sl;
	*p++ = '.';
	memcpy(p, c->name, cl);
	p += cl;
	const uint64_t v[5] = { nm->dc, nm->sm.seq, dseq, 0, pending };
	for (int i = 0; i < 5; i++) {
		*p++ = '.';
		if (i == 3 && nm->sm.ts_ns < 0) {
			*p++ = '-';
			p += fmt_u64(p, (uint64_t)0 - (uint64_t)nm->sm.ts_ns);
		} else {
			p += fmt_u64(p, i == 3 ? (uint64_t)nm->sm.ts_ns : v[i]);
		}
	}
	*p = '\0';
}

/* Delivers while someone can receive.  Returns false when it stopped at
 * max_ack_pending (the reference then keeps no_wait requests open). */
static bool deliver_all(struct consumer *c, int64_t now)
{
	char to[512];
	char reply[STREAM_NAME_MAX + CONSUMER_NAME_MAX + 128];
	if (is_push(c) && c->active && c->backlog > 0) {
		/* Paused: go on once the socket has taken some of it. */
		size_t b = target_backlog(c, c->cfg.deliver_subject);
		if (b >= backlog_max(c)) {
			c->backlog_poll = b >= c->backlog;
			c->backlog = b;
			return true;
		}
	}
	c->backlog = 0;
	for (;;) {
		if (is_push(c)) {
			if (!c->active || (c->maxpb > 0 && c->pbytes > c->maxpb))
				return true;
		} else if (c->n_waiting == 0) {
			return true;
		}
		struct next_msg nm;
		if (get_next(c, &nm) == 0)
			return !(c->cfg.max_ack_pending > 0 &&
				 (int64_t)c->n_pending >= c->cfg.max_ack_pending);
		if (replay_hold(c, &nm, now)) {
			unget_next(c, &nm);
			return true;
		}
		uint64_t dseq = c->dseq;
		bool counted = nm.dc == 1 && c->np_valid;
		if (counted)
			c->npc--;
		ack_reply_build(c, &nm, dseq, consumer_num_pending(c), reply,
				sizeof(reply));
		build_headers(c, &nm.sm);
		size_t data_len = c->cfg.headers_only ? 0 : nm.sm.data_len;
		int64_t sz = (int64_t)(nm.sm.subject_len + strlen(reply) +
				       c->hdr.len + data_len);
		if (is_push(c)) {
			size_t dl = strlen(c->cfg.deliver_subject);
			if (dl >= sizeof(to))
				dl = sizeof(to) - 1;
			memcpy(to, c->cfg.deliver_subject, dl);
			to[dl] = '\0';
		} else if (!next_waiting(c, sz, now, to, sizeof(to))) {
			if (counted)
				c->npc++;
			unget_next(c, &nm);
			return true;
		}
		c->dseq++;
		size_t hdr_len = c->hdr.len;
		buf_append(&c->hdr, nm.sm.data, data_len);
		size_t backlog = 0;
		if (!c->hdr.oom)
			backlog = consumer_deliver(c, to, nm.sm.subject,
						   nm.sm.subject_len, reply,
						   c->hdr.data, hdr_len, c->hdr.len);
		after_deliver(c, &nm, dseq,
			      (int64_t)(strlen(to) + strlen(reply) + c->hdr.len),
			      now);
		if (is_push(c) && c->cfg.idle_heartbeat_ns > 0)
			c->hb_next_ns = now + c->cfg.idle_heartbeat_ns;
		if (is_push(c) && backlog >= backlog_max(c)) {
			/* The loop writes it out at the end of this turn. */
			c->backlog = backlog;
			c->backlog_poll = false;
			return true;
		}
	}
}

/* The reference's checkPending: queues for redelivery what waited longer
 * than its ack wait (in sequence order). */
static void check_pending(struct consumer *c, int64_t now)
{
	struct store_state ss;
	store_get_state(stream_store(c->st), &ss);
	bool any = false;
	for (size_t i = 0; i < c->n_pending;) {
		struct pending *p = &c->pending[i];
		if (p->sseq < ss.first_seq) {
			pending_remove(c, p);
			continue;
		}
		if (!p->queued && now >= p->deadline_ns) {
			rdq_push(c, p);
			any = true;
		}
		i++;
	}
	if (any)
		c->kicked = true;
}

static int64_t next_pending_deadline(const struct consumer *c)
{
	int64_t at = CONSUMER_NEVER;
	for (size_t i = 0; i < c->n_pending; i++) {
		const struct pending *p = &c->pending[i];
		if (!p->queued && p->deadline_ns < at)
			at = p->deadline_ns;
	}
	return at;
}

static void push_heartbeat(struct consumer *c, int64_t now)
{
	if (!is_push(c) || c->cfg.idle_heartbeat_ns <= 0)
		return;
	if (now < c->hb_next_ns)
		return;
	c->hb_next_ns = now + c->cfg.idle_heartbeat_ns;
	if (!c->active)
		return;
	char extra[STREAM_NAME_MAX + CONSUMER_NAME_MAX + 160];
	int n = snprintf(extra, sizeof(extra), "Nats-Last-Consumer: %llu\r\n"
			 "Nats-Last-Stream: %llu\r\n",
			 (unsigned long long)(c->dseq - 1),
			 (unsigned long long)(c->sseq - 1));
	if (c->fcid[0] != '\0' && n > 0 && (size_t)n < sizeof(extra))
		snprintf(extra + n, sizeof(extra) - (size_t)n,
			 "Nats-Consumer-Stalled: %s\r\n", c->fcid);
	send_status(c, c->cfg.deliver_subject, "100 Idle Heartbeat", extra);
}

/* Push: follows the deliver subject's interest.  When it goes away the
 * pending messages are redelivered on return (the reference's
 * forceExpirePending happens on a new deliver subject only). */
static void push_update_interest(struct consumer *c, int64_t now)
{
	if (!is_push(c))
		return;
	bool active = has_interest(c, c->cfg.deliver_subject);
	if (active && !c->active)
		c->kicked = true;
	if (active || c->active)
		c->last_active_ns = now;
	c->active = active;
}

/* Ephemerals (and durables with inactive_threshold) go away after the
 * threshold without interest (push) or requests (pull). */
static bool inactive_expired(const struct consumer *c, int64_t now)
{
	if (c->dthresh_ns <= 0)
		return false;
	if (is_push(c) ? c->active : c->n_waiting > 0)
		return false;
	return now - c->last_active_ns >= c->dthresh_ns;
}

static void consumer_write_state(struct consumer *c);

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int64_t next_wake(const struct consumer *c, int64_t now)
{
	int64_t at = c->kicked ? now : CONSUMER_NEVER;
	at = min64(at, next_pending_deadline(c));
	for (size_t i = 0; i < c->n_waiting; i++) {
		const struct pull_req *wr = &c->waiting[i];
		if (wr->expires_ns > 0)
			at = min64(at, wr->expires_ns);
		if (wr->hb_ns > 0)
			at = min64(at, wr->hb_next_ns);
	}
	if (c->n_waiting > 0 && !is_push(c))
		at = min64(at, now + CONSUMER_INTEREST_POLL_NS * 10);
	if (is_push(c) && c->cfg.idle_heartbeat_ns > 0)
		at = min64(at, c->hb_next_ns);
	if (is_push(c) && (!c->active || c->dthresh_ns > 0))
		at = min64(at, now + CONSUMER_INTEREST_POLL_NS);
	if (c->dthresh_ns > 0)
		at = min64(at, c->last_active_ns + c->dthresh_ns);
	if (c->dirty)
		at = min64(at, c->flush_at_ns);
	if (c->replay_hold_seq != 0)
		at = min64(at, c->replay_hold_until_ns);
	if (is_push(c) && c->active && c->backlog > 0)
		at = min64(at, c->backlog_poll ? now + CONSUMER_BACKLOG_POLL_NS : now);
	return at;
}

static void consumer_run(struct consumer *c)
{
	int64_t now = now_mono(c);
	c->running = true;
	push_update_interest(c, now);
	if (c->n_pending > 0)
		check_pending(c, now);
	if (!is_push(c))
		process_waiting(c, false, now);
	c->kicked = false;
	bool not_stalled = deliver_all(c, now);
	if (!is_push(c))
		process_waiting(c, not_stalled, now);
	push_heartbeat(c, now);
	if (c->dirty && now >= c->flush_at_ns)
		consumer_write_state(c);
	c->running = false;
	if (inactive_expired(c, now) || c->doomed) {
		consumer_delete(c);
		return;
	}
	int64_t at = next_wake(c, now);
	c->timer_at_ns = CONSUMER_NEVER;
	if (at != CONSUMER_NEVER)
		consumer_arm(c, at < now ? now : at);
}

static void consumer_timer_fired(void *arg, int timer)
{
	struct consumer *c = arg;
	UNUSED(timer);
	c->timer_at_ns = CONSUMER_NEVER;
	consumer_run(c);
}

void consumer_msg_stored(struct consumer *c, uint64_t seq,
			 const char *subject, size_t subject_len)
{
	if (c->np_valid && seq > c->npcm &&
	    consumer_filter_matches(c, subject, subject_len))
		c->npc++;
	if (is_push(c) ? c->active : c->n_waiting > 0)
		consumer_kick(c);
}

static void ack_msg_ex(struct consumer *c, uint64_t sseq, uint64_t dseq,
		       bool tell_stream);

void consumer_msg_removed(struct consumer *c, uint64_t seq,
			  const char *subject, size_t subject_len)
{
	if (c->np_valid && seq > c->npcm && seq >= c->sseq &&
	    consumer_filter_matches(c, subject, subject_len))
		c->npc--;
	struct pending *p = pending_find(c, seq);
	if (p != NULL)
		ack_msg_ex(c, seq, p->dseq, false);
}

void consumer_purged(struct consumer *c, uint64_t first_seq, uint64_t last_seq)
{
	c->np_valid = false;
	uint64_t seq = first_seq == 0 ? last_seq + 1 : first_seq;
	if (c->sseq < seq)
		c->sseq = seq;
	if (c->asflr < seq) {
		c->asflr = seq - 1;
		c->adflr = c->dseq - 1;
	}
	while (c->n_pending > 0)
		pending_remove(c, &c->pending[c->n_pending - 1]);
	if (c->lss != NULL) {
		while (c->i_lss < c->n_lss && c->lss[c->i_lss] < c->sseq)
			c->i_lss++;
	}
	consumer_mark_dirty(c);
}

/* ============================================================= acks */

/* The reference's processAckMsg for one acknowledgement.  tell_stream
 * is false inside the store's removal callback (the message is gone and
 * the store must not be called). */
static void ack_msg_ex(struct consumer *c, uint64_t sseq, uint64_t dseq,
		       bool tell_stream)
{
	bool was_full = c->cfg.max_ack_pending > 0 &&
			(int64_t)c->n_pending >= c->cfg.max_ack_pending;
	uint64_t from = sseq, to = sseq;
	/* An ack names sequences the client read from the ack subject; one
	 * for a delivery that never happened is ignored. */
	if (c->cfg.ack_policy == CONSUMER_ACK_NONE || dseq >= c->dseq ||
	    sseq >= c->sseq || dseq == 0 || sseq == 0)
		return;
	if (c->cfg.ack_policy == CONSUMER_ACK_EXPLICIT) {
		struct pending *p = pending_find(c, sseq);
		if (p != NULL) {
			dseq = p->dseq;
			pending_remove(c, p);
		}
		if (c->n_pending == 0) {
			c->adflr = c->dseq - 1;
			c->asflr = c->sseq - 1;
		} else if (dseq == c->adflr + 1) {
			c->adflr = dseq;
			c->asflr = sseq;
			size_t i = pending_lower_bound(c, sseq + 1);
			if (i < c->n_pending) {
				c->adflr = c->pending[i].dseq - 1;
				c->asflr = c->pending[i].sseq - 1;
			}
		}
	} else {
		if (dseq <= c->adflr || sseq <= c->asflr)
			return;
		from = c->asflr + 1;
		c->adflr = dseq;
		c->asflr = sseq;
		while (c->n_pending > 0 && c->pending[0].sseq <= sseq)
			pending_remove(c, &c->pending[0]);
	}
	c->last_ack_ns = now_wall(c);
	consumer_mark_dirty(c);
	for (uint64_t s = from; tell_stream && s <= to; s++)
		stream_ack_msg(c->st, c, s);
	if (was_full)
		consumer_kick(c);
}

static void ack_msg(struct consumer *c, uint64_t sseq, uint64_t dseq)
{
	ack_msg_ex(c, sseq, dseq, true);
}

/* -NAK [delay]: redeliver now, or after the delay. */
static void nak_msg(struct consumer *c, uint64_t sseq, uint64_t dseq,
		    const char *arg, size_t len)
{
	if (dseq <= c->adflr || dseq >= c->dseq)
		return;
	struct pending *p = pending_find(c, sseq);
	if (p == NULL)
		return;
	js_advisory_delivery(consumer_ja(c), JSA_DELIVERY_NAK,
			     stream_name(c->st), c->name, dseq, sseq, p->dc);
	while (len > 0 && (*arg == ' ' || *arg == '\t')) {
		arg++;
		len--;
	}
	while (len > 0 && (arg[len - 1] == ' ' || arg[len - 1] == '\r' ||
			   arg[len - 1] == '\n' || arg[len - 1] == '\t'))
		len--;
	int64_t delay = 0;
	bool has_delay = false;
	if (len > 0 && len < 64) {
		char tmp[64];
		memcpy(tmp, arg, len);
		tmp[len] = '\0';
		if (tmp[0] == '{') {
			struct json_doc d;
			if (json_parse(&d, c->mem, tmp, len) == 0) {
				has_delay = json_type_of(&d, 0) == JSON_OBJECT &&
					    js_json_int(&d, 0, "delay", &delay) >= 0;
				json_doc_free(&d);
			}
		} else {
			has_delay = opts_parse_duration(tmp, &delay) == 0;
		}
	}
	if (has_delay) {
		if (p->queued)
			rdq_remove(c, sseq);
		p->queued = false;
		p->deadline_ns = now_mono(c) + delay;
		consumer_arm(c, p->deadline_ns);
		return;
	}
	rdq_push(c, p);
	consumer_kick(c);
}

/* +WPI: the ack wait starts again. */
static void progress_msg(struct consumer *c, uint64_t sseq)
{
	struct pending *p = pending_find(c, sseq);
	if (p != NULL && !p->queued)
		p->deadline_ns = ack_deadline(c, p->dc, now_mono(c));
}

/* sample_freq ("50%", "100") as a percentage; 0 = none. */
static int sample_percent(const struct consumer *c)
{
	const char *f = c->cfg.sample_freq;
	int v = 0;
	if (f == NULL)
		return 0;
	for (const char *p = f[0] == '+' ? f + 1 : f; *p >= '0' && *p <= '9'; p++)
		v = v < 1000 ? v * 10 + (*p - '0') : v;
	return v;
}

/* The reference's sampleAck: an ack metric for a sample of the acks. */
static void sample_ack(struct consumer *c, uint64_t sseq, uint64_t dseq)
{
	int pct = sample_percent(c);
	if (pct <= 0 || (pct < 100 && (int)prng_below(&c->srv->prng, 100) > pct))
		return;
	struct pending *p = pending_find(c, sseq);
	if (p == NULL)
		return;
	js_advisory_ack_metric(consumer_ja(c), stream_name(c->st), c->name,
			       dseq, sseq, now_wall(c) - p->delivered_ns, p->dc);
}

static bool body_is(const char *b, size_t len, const char *word)
{
	size_t n = strlen(word);
	return len == n && memcmp(b, word, n) == 0;
}

static void consumer_ack_in(void *arg, struct sub *sub, struct conn *from,
			    struct account *acc, const struct pubmsg *m)
{
	struct consumer *c = arg;
	UNUSED(sub);
	UNUSED(from);
	UNUSED(acc);
	struct js_ack_info ai;
	if (c->doomed || !js_ack_reply_parse(m->subject, m->subject_len, &ai))
		return;
	uint64_t sseq = ai.sseq, dseq = ai.dseq;
	const char *b = m->data + m->header_len;
	size_t len = m->total_len - m->header_len;
	char reply[512];
	reply[0] = '\0';
	if (m->reply_len > 0 && m->reply_len < sizeof(reply)) {
		memcpy(reply, m->reply, m->reply_len);
		reply[m->reply_len] = '\0';
	}
	bool answer = reply[0] != '\0' && sseq != 0;
	if (len == 0 || body_is(b, len, "+ACK") || body_is(b, len, "+OK")) {
		sample_ack(c, sseq, dseq);
		ack_msg(c, sseq, dseq);
	} else if (len >= 4 && memcmp(b, "+NXT", 4) == 0) {
		ack_msg(c, sseq, dseq);
		if (reply[0] != '\0')
			consumer_next_request(c, reply, b + 4, len - 4);
		answer = false;
	} else if (len >= 4 && memcmp(b, "-NAK", 4) == 0) {
		nak_msg(c, sseq, dseq, b + 4, len - 4);
	} else if (body_is(b, len, "+WPI")) {
		progress_msg(c, sseq);
	} else if (body_is(b, len, "+TERM")) {
		struct pending *p = pending_find(c, sseq);
		uint64_t dc = p != NULL ? p->dc : 1;
		bool known = p != NULL || c->cfg.ack_policy != CONSUMER_ACK_EXPLICIT;
		ack_msg(c, sseq, dseq);
		if (known)
			js_advisory_delivery(consumer_ja(c),
					     JSA_DELIVERY_TERMINATED,
					     stream_name(c->st), c->name, dseq,
					     sseq, dc);
	}
	if (answer)
		consumer_send(c, reply, NULL, NULL, 0, NULL, 0);
}

/* A flow control reply: the client caught up. */
static void consumer_fc_in(void *arg, struct sub *sub, struct conn *from,
			   struct account *acc, const struct pubmsg *m)
{
	struct consumer *c = arg;
	UNUSED(sub);
	UNUSED(from);
	UNUSED(acc);
	if (c->fcid[0] == '\0' || strlen(c->fcid) != m->subject_len ||
	    memcmp(c->fcid, m->subject, m->subject_len) != 0)
		return;
	if (c->maxpb < c->pblimit) {
		c->maxpb *= 2;
		if (c->maxpb > c->pblimit)
			c->maxpb = c->pblimit;
	}
	c->pbytes -= c->fcsz;
	if (c->pbytes < 0)
		c->pbytes = 0;
	c->fcid[0] = '\0';
	c->fcsz = 0;
	consumer_kick(c);
}

bool consumer_needs_ack(const struct consumer *c, uint64_t seq,
			const char *subject, size_t subject_len)
{
	const char *f = c->cfg.filter_subject;
	if (f != NULL && subject != NULL &&
	    !subject_matches(subject, subject_len, f, strlen(f)))
		return false;
	if (seq <= c->asflr)
		return false;
	if (c->cfg.ack_policy != CONSUMER_ACK_EXPLICIT)
		return true;
	if (seq >= c->sseq)
		return true;
	return pending_find((struct consumer *)c, seq) != NULL;
}

/* ======================================================== lifecycle */

/* The reference's selectStartingSeqNo. */
static void select_start(struct consumer *c)
{
	struct store *store = stream_store(c->st);
	struct store_state ss;
	struct store_msg sm;
	const char *f = c->cfg.filter_subject;
	size_t fl = f ? strlen(f) : 0;
	store_get_state(store, &ss);
	switch (c->cfg.deliver_policy) {
	case CONSUMER_DELIVER_ALL:
		c->sseq = ss.first_seq;
		break;
	case CONSUMER_DELIVER_LAST:
		c->sseq = ss.last_seq;
		if (f != NULL)
			c->sseq = store_load_last(store, f, fl, &sm,
						  &c->scratch) == 0 ? sm.seq : 0;
		break;
	case CONSUMER_DELIVER_LAST_PER_SUBJECT:
		c->sseq = ss.last_seq;
		break;
	case CONSUMER_DELIVER_BY_START_SEQUENCE:
		c->sseq = c->cfg.opt_start_seq;
		break;
	case CONSUMER_DELIVER_BY_START_TIME:
		c->sseq = stream_seq_for_time(c->st, c->cfg.opt_start_time_ns);
		break;
	case CONSUMER_DELIVER_NEW:
		c->sseq = ss.last_seq + 1;
		break;
	}
	if (ss.msgs == 0 && ss.last_seq == 0)
		c->sseq = 1;
	else if (c->sseq < ss.first_seq)
		c->sseq = ss.first_seq;
	else if (c->sseq > ss.last_seq)
		c->sseq = ss.last_seq + 1;
	c->dseq = 1;
	/* The reference re-reads its fresh store state here, whose ack floor
	 * is still zero whatever the start. */
	c->adflr = 0;
	c->asflr = 0;
}

struct lss_ctx {
	struct consumer *c;
	bool oom;
};

static void lss_collect(void *arg, const char *subject, size_t len,
			uint64_t msgs, uint64_t first, uint64_t last)
{
	struct lss_ctx *x = arg;
	struct consumer *c = x->c;
	UNUSED(subject);
	UNUSED(len);
	UNUSED(msgs);
	UNUSED(first);
	uint64_t *n = mem_realloc(c->mem, c->lss, (c->n_lss + 1) * sizeof(*n));
	if (n == NULL) {
		x->oom = true;
		return;
	}
	c->lss = n;
	c->lss[c->n_lss++] = last;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Deliver last per subject starts with the last message of each subject
 * (a skip list), then continues after the stream's last sequence. */
static void select_start_lps(struct consumer *c)
{
	struct store_state ss;
	const char *f = c->cfg.filter_subject;
	struct lss_ctx x = { c, false };
	store_get_state(stream_store(c->st), &ss);
	store_each_subject(stream_store(c->st), f, f ? strlen(f) : 0,
			   lss_collect, &x);
	if (c->n_lss == 0)
		return;
	qsort(c->lss, c->n_lss, sizeof(*c->lss), cmp_u64);
	c->lss_resume = ss.last_seq;
	c->sseq = c->lss[0];
}

static void consumer_set_thresholds(struct consumer *c)
{
	bool durable = c->cfg.durable != NULL;
	int64_t jitter = 100 * NS_PER_MS +
			 (int64_t)prng_below(&c->srv->prng, 900) * NS_PER_MS;
	if (!durable && c->cfg.inactive_threshold_ns <= 0) {
		c->dthresh_ns = CONSUMER_INACTIVE_DEFAULT_NS + jitter;
		c->cfg.inactive_threshold_ns = CONSUMER_INACTIVE_DEFAULT_NS;
	} else if (c->cfg.inactive_threshold_ns > 0) {
		c->dthresh_ns = c->cfg.inactive_threshold_ns +
				(is_push(c) ? 0 : jitter);
	} else {
		c->dthresh_ns = 0;
	}
}

static void consumer_free_mem(struct consumer *c)
{
	for (size_t i = 0; i < c->n_waiting; i++)
		mem_free(c->mem, c->waiting[i].reply);
	mem_free(c->mem, c->waiting);
	mem_free(c->mem, c->pending);
	mem_free(c->mem, c->rdq);
	mem_free(c->mem, c->lss);
	mem_free(c->mem, c->name);
	consumer_config_free(c->mem, &c->cfg);
	buf_free(&c->scratch);
	buf_free(&c->hdr);
	buf_free(&c->tmp);
	mem_free(c->mem, c);
}

static int consumer_subscribe(struct consumer *c)
{
	char subj[STREAM_NAME_MAX + CONSUMER_NAME_MAX + 32];
	struct account *acc = consumer_ja(c)->acc;
	snprintf(subj, sizeof(subj), "$JS.ACK.%s.%s.*.*.*.*.*",
		 stream_name(c->st), c->name);
	c->ack_sub = internal_subscribe(c->srv, acc, subj, NULL,
					consumer_ack_in, c);
	if (c->ack_sub == NULL)
		return -1;
	if (c->cfg.flow_control) {
		snprintf(subj, sizeof(subj), "$JS.FC.%s.%s.*",
			 stream_name(c->st), c->name);
		c->fc_sub = internal_subscribe(c->srv, acc, subj, NULL,
					       consumer_fc_in, c);
		if (c->fc_sub == NULL)
			return -1;
	}
	c->timer = c->srv->env->timer_new(c->srv->env, consumer_timer_fired, c);
	return c->timer < 0 ? -1 : 0;
}

static bool name_is_valid(const char *name)
{
	return name[0] != '\0' && strpbrk(name, " \t\r\n\f.*>") == NULL;
}

static void consumer_gen_name(struct consumer *c, char *out)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	do {
		for (int i = 0; i < 8; i++)
			out[i] = alpha[prng_below(&c->srv->prng, 62)];
		out[8] = '\0';
	} while (stream_find_consumer(c->st, out) != NULL);
}

static struct consumer *consumer_alloc(struct stream *st,
				       struct consumer_config *cfg)
{
	struct server *s = stream_account(st)->js->srv;
	struct consumer *c = mem_calloc(&s->mem, 1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->st = st;
	c->srv = s;
	c->mem = &s->mem;
	c->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	c->timer = -1;
	c->timer_at_ns = CONSUMER_NEVER;
	buf_init(&c->scratch, c->mem);
	buf_init(&c->hdr, c->mem);
	buf_init(&c->tmp, c->mem);
	c->created_ns = now_wall(c);
	c->last_active_ns = now_mono(c);
	if (c->cfg.flow_control) {
		c->pblimit = CONSUMER_FC_MAX_PENDING_BYTES;
		c->maxpb = c->pblimit / 16;
	}
	return c;
}

/* Names the consumer: durable, given name, or a generated one. */
static int consumer_set_name(struct consumer *c, struct js_error *e)
{
	char gen[16];
	const char *name = c->cfg.durable ? c->cfg.durable : c->cfg.name;
	if (c->cfg.durable != NULL && strlen(c->cfg.durable) > CONSUMER_NAME_MAX) {
		js_error_setf(e, JS_ERR_CONSUMER_NAME_TOO_LONG, "%d",
			      CONSUMER_NAME_MAX);
		return -1;
	}
	if (name == NULL) {
		/* The reference names it but leaves the config without. */
		consumer_gen_name(c, gen);
		name = gen;
	}
	c->name = mem_strdup(c->mem, name);
	if (c->name == NULL)
		goto oom;
	if (!name_is_valid(c->name)) {
		js_error_set(e, JS_ERR_CONSUMER_BAD_DURABLE_NAME, NULL);
		return -1;
	}
	return 0;
oom:
	js_error_set(e, JS_ERR_CONSUMER_CREATE, "out of memory");
	return -1;
}

/* The reference's updateConfig for an existing consumer. */
static int consumer_update(struct consumer *c, struct consumer_config *n,
			   struct js_error *e)
{
	if (config_check_update(c, n, e) != 0) {
		consumer_config_free(c->mem, n);
		return -1;
	}
	bool new_deliver = !str_eq(c->cfg.deliver_subject, n->deliver_subject);
	int64_t old_thresh = c->cfg.inactive_threshold_ns;
	struct consumer_config old = c->cfg;
	c->cfg = *n;
	memset(n, 0, sizeof(*n));
	if (c->cfg.inactive_threshold_ns != old_thresh)
		consumer_set_thresholds(c);
	else
		c->cfg.inactive_threshold_ns = old_thresh;
	consumer_config_free(c->mem, &old);
	if (new_deliver) {
		/* A new deliver subject gets everything pending again. */
		for (size_t i = 0; i < c->n_pending; i++)
			rdq_push(c, &c->pending[i]);
		c->active = false;
	}
	consumer_mark_dirty(c);
	if (c->durable_file)
		consumer_write_state(c);
	c->kicked = true;
	consumer_arm(c, now_mono(c) + NS_PER_MS);
	return 0;
}

/* Work queue streams: explicit acks, one consumer per partition, deliver
 * all. */
static int check_workqueue(struct stream *st, const struct consumer_config *c,
			   struct js_error *e)
{
	if (stream_config_of(st)->retention != STREAM_RETENTION_WORKQUEUE ||
	    c->direct)
		return 0;
	if (c->ack_policy != CONSUMER_ACK_EXPLICIT) {
		js_error_set(e, JS_ERR_CONSUMER_WQ_REQUIRES_EXPLICIT_ACK, NULL);
		return -1;
	}
	size_t n = stream_consumer_count(st);
	if (n > 0 && c->filter_subject == NULL) {
		js_error_set(e, JS_ERR_CONSUMER_WQ_MULTIPLE_UNFILTERED, NULL);
		return -1;
	}
	for (size_t i = 0; i < n && c->filter_subject != NULL; i++) {
		const char *of = consumer_filter(stream_consumer_at(st, i));
		const char *f = c->filter_subject;
		if (of == NULL ||
		    subject_overlaps(of, strlen(of), f, strlen(f))) {
			js_error_set(e, JS_ERR_CONSUMER_WQ_CONSUMER_NOT_UNIQUE,
				     NULL);
			return -1;
		}
	}
	if (c->deliver_policy != CONSUMER_DELIVER_ALL) {
		js_error_set(e, JS_ERR_CONSUMER_WQ_CONSUMER_NOT_DELIVER_ALL, NULL);
		return -1;
	}
	return 0;
}

static int check_max_consumers(struct stream *st, struct js_error *e)
{
	int64_t maxc = stream_config_of(st)->max_consumers;
	int64_t accl = stream_account(st)->limits.max_consumers;
	if (maxc <= 0 || (accl > 0 && accl < maxc))
		maxc = accl;
	if (maxc > 0 && (int64_t)stream_consumer_count(st) >= maxc) {
		js_error_set(e, JS_ERR_MAXIMUM_CONSUMERS_LIMIT, NULL);
		return -1;
	}
	return 0;
}

/* Sets up a new consumer's state, subscriptions and timer, and links it
 * to its stream.  Frees it on failure. */
static int consumer_start(struct consumer *c, bool restoring,
			  struct js_error *e)
{
	const struct stream_config *sc = stream_config_of(c->st);
	c->durable_file = c->cfg.durable != NULL && sc->storage == STORE_FILE &&
			  !c->cfg.mem_storage;
	if (!restoring) {
		select_start(c);
		if (c->cfg.deliver_policy == CONSUMER_DELIVER_LAST_PER_SUBJECT)
			select_start_lps(c);
	}
	c->replay = c->cfg.replay_original;
	if (c->replay) {
		struct store_state ss;
		store_get_state(stream_store(c->st), &ss);
		c->replay_lseq = ss.last_seq;
	}
	consumer_set_thresholds(c);
	if (consumer_subscribe(c) != 0 || !stream_add_consumer(c->st, c)) {
		js_error_set(e, JS_ERR_CONSUMER_CREATE, "out of memory");
		consumer_destroy(c, false);
		return -1;
	}
	if (is_push(c))
		c->active = has_interest(c, c->cfg.deliver_subject);
	if (c->cfg.idle_heartbeat_ns > 0)
		c->hb_next_ns = now_mono(c) + c->cfg.idle_heartbeat_ns;
	if (!restoring) {
		if (c->durable_file)
			consumer_write_state(c);
		js_advisory_consumer_action(consumer_ja(c), stream_name(c->st),
					    c->name, true);
	}
	/* Not "now": the create response (sent at the end of this turn)
	 * goes out before the first message, as with the reference. */
	c->kicked = true;
	consumer_arm(c, now_mono(c) + NS_PER_MS);
	return 0;
}

int consumer_create(struct stream *st, struct consumer_config *cfg,
		    struct consumer **out, struct js_error *e)
{
	struct js_account *ja = stream_account(st);
	struct mem *mem = &ja->js->srv->mem;
	config_fill_defaults(cfg, ja);
	if (config_check(cfg, stream_config_of(st), ja, e) != 0) {
		consumer_config_free(mem, cfg);
		return -1;
	}
	const char *cname = cfg->durable ? cfg->durable : cfg->name;
	struct consumer *eo = cname ? stream_find_consumer(st, cname) : NULL;
	if (eo != NULL) {
		if (consumer_update(eo, cfg, e) != 0)
			return -1;
		*out = eo;
		return 0;
	}
	if (check_max_consumers(st, e) != 0 || check_workqueue(st, cfg, e) != 0) {
		consumer_config_free(mem, cfg);
		return -1;
	}
	struct consumer *c = consumer_alloc(st, cfg);
	if (c == NULL) {
		consumer_config_free(mem, cfg);
		js_error_set(e, JS_ERR_CONSUMER_CREATE, "out of memory");
		return -1;
	}
	if (consumer_set_name(c, e) != 0) {
		consumer_free_mem(c);
		return -1;
	}
	if (consumer_start(c, false, e) != 0)
		return -1;
	*out = c;
	return 0;
}

static void consumer_state_path(const struct consumer *c, struct buf *out)
{
	buf_reset(out);
	buf_appendf(out, "%s/obs/%s.json", stream_dir(c->st), c->name);
}

void consumer_destroy(struct consumer *c, bool remove_files)
{
	if (c == NULL)
		return;
	struct env *env = c->srv->env;
	if (c->timer >= 0)
		env->timer_free(env, c->timer);
	c->timer = -1;
	internal_unsubscribe(c->srv, c->ack_sub);
	internal_unsubscribe(c->srv, c->fc_sub);
	stream_remove_consumer(c->st, c);
	if (c->durable_file) {
		struct buf p;
		buf_init(&p, c->mem);
		consumer_state_path(c, &p);
		if (remove_files && !p.oom)
			env->file_remove(env, p.data);
		else if (c->dirty)
			consumer_write_state(c);
		buf_free(&p);
	}
	consumer_free_mem(c);
}

void consumer_delete(struct consumer *c)
{
	if (c->running) {
		/* consumer_run frees it once it has returned. */
		c->doomed = true;
		return;
	}
	for (size_t i = 0; i < c->n_waiting; i++)
		send_status(c, c->waiting[i].reply, "409 Consumer Deleted", NULL);
	struct stream *st = c->st;
	uint64_t from = c->asflr;
	js_advisory_consumer_action(consumer_ja(c), stream_name(st), c->name,
				    false);
	consumer_destroy(c, true);
	stream_check_interest(st, from);
}

void consumer_flush_state(struct consumer *c)
{
	if (c->durable_file && c->dirty)
		consumer_write_state(c);
}

/* ============================================================= info */

static void write_seq_info(struct jw *w, const char *key, uint64_t cseq,
			   uint64_t sseq, int64_t last_ns)
{
	jw_key(w, key);
	jw_obj_begin(w);
	jw_key(w, "consumer_seq");
	jw_uint(w, cseq);
	jw_key(w, "stream_seq");
	jw_uint(w, sseq);
	if (last_ns != 0) {
		jw_key(w, "last_active");
		js_jw_time(w, last_ns);
	}
	jw_obj_end(w);
}

void consumer_write_info(struct consumer *c, struct jw *w)
{
	int64_t now = now_mono(c);
	if (!is_push(c))
		process_waiting(c, false, now);
	jw_key(w, "stream_name");
	jw_str(w, stream_name(c->st));
	jw_key(w, "name");
	jw_str(w, c->name);
	jw_key(w, "created");
	js_jw_time(w, c->created_ns);
	jw_key(w, "config");
	consumer_config_encode(w, &c->cfg);
	write_seq_info(w, "delivered", c->dseq - 1, c->sseq - 1,
		       c->last_delivered_ns);
	write_seq_info(w, "ack_floor", c->adflr, c->asflr, c->last_ack_ns);
	jw_key(w, "num_ack_pending");
	jw_uint(w, c->n_pending);
	jw_key(w, "num_redelivered");
	jw_uint(w, num_redelivered(c));
	jw_key(w, "num_waiting");
	jw_uint(w, is_push(c) ? 0 : c->n_waiting);
	jw_key(w, "num_pending");
	jw_uint(w, consumer_count_pending(c));
	if (is_push(c) && has_interest(c, c->cfg.deliver_subject)) {
		jw_key(w, "push_bound");
		jw_bool(w, true);
	}
}

/* ==================================================== durable state */

/* Our own JSON: {"created_ns":..,"config":{..},"state":{"dseq":..,
 * "sseq":..,"adflr":..,"asflr":..,"pending":[[sseq,dseq,dc],..]}}.
 * Written whole with store_meta_write (atomic, checksummed). */
static void consumer_write_state(struct consumer *c)
{
	struct buf b, path;
	struct jw w;
	struct env *env = c->srv->env;
	c->dirty = false;
	buf_init(&b, c->mem);
	buf_init(&path, c->mem);
	buf_appendf(&path, "%s/obs", stream_dir(c->st));
	if (!path.oom)
		env->dir_create(env, path.data);
	consumer_state_path(c, &path);
	jw_init(&w, &b);
	jw_obj_begin(&w);
	jw_key(&w, "created_ns");
	jw_int(&w, c->created_ns);
	jw_key(&w, "config");
	consumer_config_encode(&w, &c->cfg);
	jw_key(&w, "state");
	jw_obj_begin(&w);
	jw_key(&w, "dseq");
	jw_uint(&w, c->dseq);
	jw_key(&w, "sseq");
	jw_uint(&w, c->sseq);
	jw_key(&w, "adflr");
	jw_uint(&w, c->adflr);
	jw_key(&w, "asflr");
	jw_uint(&w, c->asflr);
	jw_key(&w, "pending");
	jw_arr_begin(&w);
	for (size_t i = 0; i < c->n_pending; i++) {
		jw_arr_begin(&w);
		jw_uint(&w, c->pending[i].sseq);
		jw_uint(&w, c->pending[i].dseq);
		jw_uint(&w, c->pending[i].dc);
		jw_arr_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	jw_obj_end(&w);
	int rc = b.oom || path.oom ? STORE_ERR_NOMEM
		 : store_meta_write(env, path.data, b.data, b.len);
	if (rc != 0)
		LOGW(&c->srv->log, "JetStream consumer '%s > %s > %s': could not "
		     "write state: %s", consumer_ja(c)->acc->name,
		     stream_name(c->st), c->name, store_strerror(rc));
	buf_free(&b);
	buf_free(&path);
}

static bool restore_read_state(struct consumer *c, const struct json_doc *d,
			       int state)
{
	int64_t v[4];
	const char *keys[] = { "dseq", "sseq", "adflr", "asflr" };
	for (int i = 0; i < 4; i++)
		if (!json_obj_int(d, state, keys[i], &v[i]) || v[i] < 0)
			return false;
	c->dseq = (uint64_t)v[0];
	c->sseq = (uint64_t)v[1];
	c->adflr = (uint64_t)v[2];
	c->asflr = (uint64_t)v[3];
	if (c->dseq == 0 || c->sseq == 0 || c->adflr >= c->dseq)
		return false;
	int arr = json_obj_get(d, state, "pending");
	if (arr < 0 || json_type_of(d, arr) != JSON_ARRAY)
		return true;
	int64_t now = now_mono(c);
	for (uint32_t i = 0; i < d->toks[arr].count; i++) {
		int e = json_array_at(d, arr, i);
		uint64_t pv[3];
		if (json_type_of(d, e) != JSON_ARRAY || d->toks[e].count != 3)
			return false;
		for (uint32_t j = 0; j < 3; j++)
			if (!json_get_uint(d, json_array_at(d, e, j), &pv[j]))
				return false;
		if (pv[1] >= c->dseq || pv[2] == 0 || pv[1] <= c->adflr ||
		    pv[0] == 0)
			return false;
		struct pending *p = pending_add(c, pv[0]);
		if (p == NULL)
			return false;
		p->dseq = pv[1];
		p->dc = pv[2];
		p->delivered_ns = now_wall(c);
		/* The ack wait starts again with the restart. */
		p->deadline_ns = ack_deadline(c, p->dc, now);
	}
	return true;
}

static void consumer_restore_one(struct stream *st, const char *data,
				 size_t len, const char *file)
{
	struct js_account *ja = stream_account(st);
	struct server *s = ja->js->srv;
	struct json_doc d;
	struct consumer_config cfg;
	struct js_error e = { JS_ERR_NONE, "" };
	if (json_parse(&d, &s->mem, data, len) != 0) {
		LOGW(&s->log, "  Error unmarshalling consumer metadata '%s'", file);
		return;
	}
	int ct = json_obj_get(&d, 0, "config");
	int stt = json_obj_get(&d, 0, "state");
	int64_t created = 0;
	json_obj_int(&d, 0, "created_ns", &created);
	if (ct < 0 || stt < 0 ||
	    consumer_config_decode(&s->mem, &d, ct, &cfg) != 0 ||
	    cfg.durable == NULL) {
		json_doc_free(&d);
		LOGW(&s->log, "  Error reading consumer metadata '%s'", file);
		return;
	}
	struct consumer *c = consumer_alloc(st, &cfg);
	bool ok = c != NULL && consumer_set_name(c, &e) == 0 &&
		  stream_find_consumer(st, c->name) == NULL &&
		  restore_read_state(c, &d, stt);
	json_doc_free(&d);
	if (!ok) {
		if (c != NULL)
			consumer_free_mem(c);
		else
			consumer_config_free(&s->mem, &cfg);
		LOGW(&s->log, "  Error restoring consumer state '%s'", file);
		return;
	}
	c->created_ns = created;
	if (consumer_start(c, true, &e) != 0)
		LOGW(&s->log, "  Error restoring consumer '%s': %s", file, e.text);
}

struct restore_walk {
	struct stream *st;
	struct buf path;
	struct buf data;
};

static void consumer_restore_entry(void *arg, const char *name)
{
	struct restore_walk *rw = arg;
	struct server *s = stream_account(rw->st)->js->srv;
	size_t n = strlen(name);
	if (name[0] == '.' || n < 6 || strcmp(name + n - 5, ".json") != 0)
		return;
	buf_reset(&rw->path);
	buf_appendf(&rw->path, "%s/obs/%s", stream_dir(rw->st), name);
	buf_reset(&rw->data);
	int rc = rw->path.oom ? STORE_ERR_NOMEM
		 : store_meta_read(s->env, rw->path.data, &rw->data);
	if (rc != 0) {
		LOGW(&s->log, "  Error reading consumer state '%s': %s",
		     rw->path.data ? rw->path.data : name, store_strerror(rc));
		return;
	}
	consumer_restore_one(rw->st, rw->data.data, rw->data.len,
			     rw->path.data);
}

void consumer_restore_all(struct stream *st)
{
	struct server *s = stream_account(st)->js->srv;
	struct restore_walk rw;
	rw.st = st;
	buf_init(&rw.path, &s->mem);
	buf_init(&rw.data, &s->mem);
	struct buf dir;
	buf_init(&dir, &s->mem);
	buf_appendf(&dir, "%s/obs", stream_dir(st));
	if (!dir.oom)
		s->env->dir_list(s->env, dir.data, consumer_restore_entry, &rw);
	buf_free(&dir);
	buf_free(&rw.path);
	buf_free(&rw.data);
}

void consumer_invariants(const struct consumer *c)
{
	for (size_t i = 0; i < c->n_pending; i++) {
		const struct pending *p = &c->pending[i];
		ASSERT(i == 0 || c->pending[i - 1].sseq < p->sseq);
		ASSERT(p->dseq < c->dseq);
		ASSERT(p->dc >= 1);
	}
	for (size_t i = 0; i < c->n_rdq; i++) {
		const struct pending *p = NULL;
		for (size_t j = 0; j < c->n_pending && p == NULL; j++)
			if (c->pending[j].sseq == c->rdq[i])
				p = &c->pending[j];
		ASSERT(p != NULL && p->queued);
	}
	ASSERT(c->dseq >= 1);
	ASSERT(c->adflr < c->dseq);
}
