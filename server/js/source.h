/*
 * source.h - mirrors and sources: streams that copy messages from other
 * streams, in this account, in another account (through imports), or in
 * another JetStream domain (through a leaf connection).
 *
 * The configuration part decodes, checks and encodes a StreamSource
 * ({"name", "opt_start_seq", "opt_start_time", "filter_subject",
 * "subject_transforms": [{"src", "dest"}], "external": {"api",
 * "deliver"}}) in the reference's field order.
 *
 * subject_transforms (2.10): each entry's src selects upstream messages
 * ("" = all) and its dest, when not "", rewrites the subject of the copy.
 * A message no src matches is not copied (its upstream position still
 * counts as seen).  With one transform the upstream consumer filters on
 * its src; with several it is unfiltered and the link filters locally,
 * so an upstream without 2.10 filter_subjects works too.
 *
 * The runtime part (struct sourcing, one per stream that has a mirror or
 * sources) does what the reference does, all through the JetStream API
 * so that local, cross-account and cross-domain upstreams are one case:
 * for each upstream it subscribes a fresh deliver subject ("$JS.M.<id>"
 * for a mirror, "$JS.S.<id>" for a source, under the external deliver
 * prefix when there is one), sends a consumer create request for a
 * "direct" push consumer (no acks, flow control, 1 s idle heartbeats)
 * starting after the last sequence already copied, and stores what
 * arrives: a mirror at the upstream's sequence and time (skipping the
 * gaps), a source as a new message with a "Nats-Stream-Source:
 * <index name> <upstream sequence>" header.  A missed delivery (consumer
 * sequence gap or heartbeat mismatch), 3 s of silence or an error answer
 * recreates the consumer from the last copied sequence, at most every
 * 2 s; after a restart the starting point is found in the stream itself
 * (a mirror's last sequence; a source's last Nats-Stream-Source header),
 * so nothing is lost or copied twice when a link or a server comes back.
 *
 * Ownership: a sourcing belongs to its stream, owns its subscriptions and
 * one env timer, and is stopped (sourcing_stop) before the stream goes.
 */
#ifndef JS_SOURCE_H
#define JS_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "../lib/json.h"
#include "../lib/mem.h"
#include "js_api.h"

struct stream;
struct stream_config;
struct js_account;

/* The most subject_transforms one StreamSource may have: each copied
 * message is matched against them in turn. */
#define SOURCE_TRANSFORMS_MAX 256

/* One entry of subject_transforms.  Strings owned, never NULL, as given. */
struct source_transform {
	char *src;                     /* upstream subjects taken; "" = all */
	char *dest;                    /* mapping of src; "" = unchanged */
};

/* One StreamSource (a mirror or one entry of sources).  Strings owned. */
struct stream_source {
	char *name;
	uint64_t opt_start_seq;
	char *opt_start_time;          /* RFC 3339 as given; NULL = none */
	char *filter_subject;          /* NULL = none */
	struct source_transform *transforms; /* n_transforms entries */
	size_t n_transforms;           /* 0 = none (never with a filter) */
	bool external;
	char *api_prefix;              /* external only; never NULL then */
	char *deliver_prefix;          /* external only; never NULL then */
	char *iname;                   /* index name: name[:hash(api)] */
	/* With subject_transforms, the rest of 2.10's index name: " <srcs>
	 * <dests>", each list joined by form feeds, "" written as ">".  It
	 * follows the sequence in this source's Nats-Stream-Source header,
	 * so that two sources of one stream with different transforms
	 * resume each from its own copies.  NULL without transforms. */
	char *tr_key;
};

/* Decodes the StreamSource object at token tok.  0, or -1 (wrong types:
 * the caller answers invalid JSON). */
int source_config_decode(struct mem *mem, const struct json_doc *d, int tok,
			 struct stream_source *out);
void source_config_encode(struct jw *w, const struct stream_source *s);
void source_config_free(struct mem *mem, struct stream_source *s);
/* Deep copy; false when memory ran out (out is then freed). */
bool source_config_copy(struct mem *mem, const struct stream_source *in,
			struct stream_source *out);
/* Same configuration (both may be NULL). */
bool source_config_equal(const struct stream_source *a,
			 const struct stream_source *b);
/* The checks of checkStreamCfg that need no other stream: mirror with
 * subjects or sources.  0 or -1 with e set. */
int source_config_check(const struct stream_config *c, struct js_error *e);
/* A mirror of a stream seen in ja inherits its allow_direct as
 * mirror_direct (the reference's MirrorDirect). */
void source_config_inherit(struct js_account *ja, struct stream_config *c);
/* The checks of subject_transforms (not with filter_subject, valid src
 * and dest, srcs not overlapping), then those against the account's
 * other streams: message sizes, filter overlap, deliver prefixes against
 * subjects, cycles; also sets mirror_direct from a local origin's
 * allow_direct. */
int source_config_check_streams(struct js_account *ja,
				struct stream_config *c, struct js_error *e);

/* ---- runtime ---- */

struct sourcing;

/* Starts copying for st when its config has a mirror or sources (NULL
 * otherwise, or when memory ran out: logged).  The first consumer
 * requests go out at the end of the loop turn. */
struct sourcing *sourcing_start(struct stream *st);
/* Stops copying: subscriptions and timer go; upstream consumers expire
 * by themselves once their deliver subject has no interest. */
void sourcing_stop(struct sourcing *sg);
/* "mirror": {...} or "sources": [...] of StreamInfo into an open object
 * (nothing when sg is NULL). */
void sourcing_write_info(const struct sourcing *sg, struct jw *w);

#endif
