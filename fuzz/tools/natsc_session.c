/*
 * natsc_session.c - one realistic nats.c session, for capturing wire bytes
 * (fuzz/tools/make_corpus.sh runs it through capture_proxy.py).
 *
 *   natsc_session URL
 *
 * Publishes (empty, binary, 6 KB, with reply, with headers), subscribes
 * (wildcards, queue group, auto-unsubscribe), does a request/reply and a
 * request nobody answers (the server's 503 no-responders HMSG), flushes,
 * unsubscribes and drains.  Exits non-zero if the client reports an error.
 *
 * Build: cc -o natsc_session natsc_session.c -lnats
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#define CHECK(call) \
	do { \
		natsStatus s_ = (call); \
		if (s_ != NATS_OK) { \
			fprintf(stderr, "%s: %s\n", #call, natsStatus_GetText(s_)); \
			exit(1); \
		} \
	} while (0)

static void drain_sub(natsSubscription *sub, int want)
{
	for (int i = 0; i < want; i++) {
		natsMsg *m = NULL;
		if (natsSubscription_NextMsg(&m, sub, 2000) != NATS_OK)
			break;
		natsMsg_Destroy(m);
	}
}

int main(int argc, char **argv)
{
	natsOptions *opts;
	natsConnection *nc;
	natsSubscription *wild, *tail, *q1, *q2, *svc, *once;
	natsMsg *msg, *reply = NULL;
	static char big[6000];

	memset(big, 'x', sizeof(big));
	CHECK(natsOptions_Create(&opts));
	CHECK(natsOptions_SetURL(opts, argc > 1 ? argv[1] : "nats://127.0.0.1:4222"));
	CHECK(natsOptions_SetName(opts, "fuzz-corpus-session"));
	CHECK(natsConnection_Connect(&nc, opts));

	CHECK(natsConnection_SubscribeSync(&wild, nc, "orders.*"));
	CHECK(natsConnection_SubscribeSync(&tail, nc, "orders.>"));
	CHECK(natsConnection_QueueSubscribeSync(&q1, nc, "work", "workers"));
	CHECK(natsConnection_QueueSubscribeSync(&q2, nc, "work", "workers"));
	CHECK(natsConnection_SubscribeSync(&svc, nc, "svc.echo"));
	CHECK(natsConnection_SubscribeSync(&once, nc, "once"));
	CHECK(natsSubscription_AutoUnsubscribe(once, 2));
	CHECK(natsConnection_Flush(nc));

	CHECK(natsConnection_PublishString(nc, "orders.new", "hello"));
	CHECK(natsConnection_Publish(nc, "orders.new", NULL, 0));
	CHECK(natsConnection_Publish(nc, "orders.eu.big", big, sizeof(big)));
	CHECK(natsConnection_Publish(nc, "orders.bin", "\r\n\0\x01\xff PUB x 1\r\n", 17));
	CHECK(natsConnection_PublishRequestString(nc, "work", "reply.inbox", "job-1"));
	CHECK(natsConnection_PublishString(nc, "work", "job-2"));
	for (int i = 0; i < 3; i++)
		CHECK(natsConnection_PublishString(nc, "once", "tick"));

	CHECK(natsMsg_Create(&msg, "orders.hdr", NULL, "with headers", 12));
	CHECK(natsMsgHeader_Set(msg, "Trace-Id", "abc-123"));
	CHECK(natsMsgHeader_Add(msg, "Trace-Id", "second value"));
	CHECK(natsConnection_PublishMsg(nc, msg));
	natsMsg_Destroy(msg);
	CHECK(natsConnection_Flush(nc));

	drain_sub(wild, 3);
	drain_sub(tail, 5);
	drain_sub(q1, 1);
	drain_sub(q2, 1);
	drain_sub(once, 2);

	/* Request/reply through our own service subscription. */
	CHECK(natsConnection_PublishRequestString(nc, "svc.echo", "_INBOX.manual.1", "ping?"));
	if (natsSubscription_NextMsg(&msg, svc, 2000) == NATS_OK) {
		CHECK(natsConnection_PublishString(nc, natsMsg_GetReply(msg), "pong!"));
		natsMsg_Destroy(msg);
	}
	/* Nobody listens: the server answers with a 503 status HMSG. */
	if (natsConnection_RequestString(&reply, nc, "nobody.home", "anyone?", 1000) == NATS_OK)
		natsMsg_Destroy(reply);

	CHECK(natsSubscription_Unsubscribe(wild));
	CHECK(natsConnection_Flush(nc));
	natsSubscription_Destroy(wild);
	natsSubscription_Destroy(tail);
	natsSubscription_Destroy(q1);
	natsSubscription_Destroy(q2);
	natsSubscription_Destroy(svc);
	natsSubscription_Destroy(once);
	CHECK(natsConnection_Drain(nc));
	natsConnection_Close(nc);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
	nats_Close();
	return 0;
}
