/*
 * memstore.c - the memory kind of the message store: each message's
 * header and payload in one allocation hung off its slot.
 *
 * Owns the blobs; the index, limits and waiters are store_common.c's.
 * Nothing is logged and sync has nothing to do, so waiters are answered
 * at the end of the turn with success.  Bytes are counted as the
 * reference's memory store does: subject + header + payload + 16.
 */
#include <string.h>

#include "store_int.h"
#include "../lib/assert.h"

/* A non-NULL marker: the memory kind has no state of its own. */
static const int mem_kind_marker;

static int mem_open(struct store *st, struct store_report *rep)
{
	UNUSED(rep);
	st->kind_state = (void *)&mem_kind_marker;
	return 0;
}

static void mem_close(struct store *st)
{
	for (size_t i = st->head; i < st->nslots; i++)
		mem_free(st->mem, st->slots[i].blob);
	st->kind_state = NULL;
}

static int mem_destroy(struct store *st)
{
	mem_close(st);
	return 0;
}

static int mem_put(struct store *st, struct store_slot *sl, const char *subject,
		   size_t subject_len, const void *hdr, const void *data)
{
	UNUSED(subject);
	UNUSED(subject_len);
	size_t n = (size_t)sl->hdr_len + sl->data_len;
	sl->blob = mem_alloc(st->mem, n > 0 ? n : 1);
	if (sl->blob == NULL)
		return STORE_ERR_NOMEM;
	if (sl->hdr_len > 0)
		memcpy(sl->blob, hdr, sl->hdr_len);
	if (sl->data_len > 0)
		memcpy(sl->blob + sl->hdr_len, data, sl->data_len);
	return 0;
}

/* Copies into scratch: a later removal frees the blob. */
static int mem_get(struct store *st, const struct store_slot *sl,
		   struct store_msg *out, struct buf *scratch)
{
	UNUSED(st);
	size_t slen = sl->subj->len;
	buf_reset(scratch);
	buf_append(scratch, sl->subj->name, slen);
	buf_append(scratch, sl->blob, (size_t)sl->hdr_len + sl->data_len);
	if (scratch->oom)
		return STORE_ERR_NOMEM;
	const uint8_t *p = (const uint8_t *)scratch->data;
	out->seq = sl->seq;
	out->ts_ns = sl->ts_ns;
	out->subject = scratch->data;
	out->subject_len = slen;
	out->hdr = sl->hdr_len > 0 ? p + slen : NULL;
	out->hdr_len = sl->hdr_len;
	out->data = p + slen + sl->hdr_len;
	out->data_len = sl->data_len;
	return 0;
}

static int mem_log_removed(struct store *st, uint64_t new_first,
			   const uint64_t *seqs, size_t n)
{
	UNUSED(st);
	UNUSED(new_first);
	UNUSED(seqs);
	UNUSED(n);
	return 0;
}

static int mem_log_last(struct store *st, uint64_t last)
{
	UNUSED(st);
	UNUSED(last);
	return 0;
}

static void mem_drop(struct store *st, struct store_slot *sl, bool secure)
{
	if (secure && sl->blob != NULL)
		memset(sl->blob, 0, (size_t)sl->hdr_len + sl->data_len);
	mem_free(st->mem, sl->blob);
	sl->blob = NULL;
}

static int mem_sync(struct store *st)
{
	UNUSED(st);
	return 0;
}

static bool mem_dirty(const struct store *st)
{
	UNUSED(st);
	return false;
}

static uint64_t mem_msg_size(size_t subject_len, size_t hdr_len,
			     size_t data_len, bool has_hdr)
{
	UNUSED(has_hdr);
	return (uint64_t)subject_len + hdr_len + data_len + 16;
}

const struct store_ops store_mem_ops = {
	.open = mem_open,
	.close = mem_close,
	.destroy = mem_destroy,
	.put = mem_put,
	.get = mem_get,
	.log_removed = mem_log_removed,
	.log_last = mem_log_last,
	.drop = mem_drop,
	.sync = mem_sync,
	.dirty = mem_dirty,
	.msg_size = mem_msg_size,
};
