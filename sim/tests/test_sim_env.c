/*
 * test_sim_env.c - the server library on the simulated env, end to end
 * with simulated clients: pub/sub delivery exactly once and in order,
 * queue groups, request/reply and no-responders, a malformed client, bad
 * credentials, crash and restart with reconnecting clients, a clean stop
 * that leaves no handle open, pause/resume, and the determinism of whole
 * runs (same seed, same trace hash; other seeds, other interleavings).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "disk.h"
#include "net.h"
#include "proc.h"

#define MS 1000000LL
#define SEC 1000000000LL

struct fix {
	struct sim_world *w;
	struct sim_proc proc;
	struct sim_client *clients[8];
	struct sim_client_cfg cfgs[8];
	uint32_t nclients;
	char *servers[1];
};

static int resolve(void *arg, const char *server, char *host, size_t cap,
		   int *port)
{
	struct fix *f = arg;
	if (strcmp(server, "n1") != 0)
		return -1;
	snprintf(host, cap, "n1");
	*port = f->proc.port;
	return 0;
}

static void fix_init(struct fix *f, uint64_t seed, const char *user,
		     const char *pass)
{
	memset(f, 0, sizeof(*f));
	f->w = sim_world_new(seed, trace_new());
	sim_net_new(f->w);
	struct sim_node *n = sim_node_add(f->w, "n1", SIM_ROLE_SERVER);
	n->host = sim_net_host(f->w->net, "n1");
	n->host->primary = n;
	n->disk = sim_disk_new(&f->w->rng_disk);
	struct mem m;
	mem_init(&m);
	struct opts o;
	opts_defaults(&o);
	if (user != NULL) {
		opts_set_string(&m, &o.username, user);
		opts_set_string(&m, &o.password, pass);
	}
	sim_proc_init(&f->proc, f->w, n, &o, &m);
	char err[256];
	ck_assert_int_eq(sim_proc_start(&f->proc, err, sizeof(err)), 0);
	f->servers[0] = "n1";
}

static struct sim_client_cfg *client_cfg(struct fix *f, const char *name)
{
	struct sim_client_cfg *k = &f->cfgs[f->nclients];
	memset(k, 0, sizeof(*k));
	k->name = (char *)name;
	k->servers = f->servers;
	k->nservers = 1;
	k->headers = k->no_responders = k->echo = k->handshake = true;
	k->max_pings_out = 2;
	k->reconnect = true;
	k->reconnect_delay_ns = 50 * MS;
	k->reconnect_max_ns = 1 * SEC;
	k->reconnect_jitter_ns = 10 * MS;
	k->max_reconnects = -1;
	k->connect_at_ns = 0;
	return k;
}

static struct sim_client *client_add(struct fix *f)
{
	struct sim_client_cfg *k = &f->cfgs[f->nclients];
	struct sim_node *n = sim_node_add(f->w, k->name, SIM_ROLE_CLIENT);
	n->host = sim_net_host(f->w->net, k->name);
	struct sim_client *c = sim_client_new(f->w, n, k, resolve, f);
	f->clients[f->nclients++] = c;
	sim_client_start(c);
	return c;
}

static void fix_free(struct fix *f)
{
	struct trace *t = f->w->trace;
	for (uint32_t i = 0; i < f->nclients; i++)
		sim_client_free(f->clients[i]);
	sim_proc_free(&f->proc);
	sim_disk_free(f->proc.node->disk);
	sim_net_free(f->w->net);
	sim_world_free(f->w);
	trace_free(t);
}

static void run_until(struct fix *f, int64_t t)
{
	sim_run_until(f->w, t);
	ck_assert_msg(f->w->failure[0] == '\0', "%s", f->w->failure);
}

static struct sim_sub_cfg subs_foo[] = { { .subject = "foo" } };
static struct sim_pub_cfg pubs_foo[] = { {
	.subject = "foo", .count = 200, .interval_ns = 5 * MS,
	.start_ns = 500 * MS, .size = 100,
} };

START_TEST(test_pubsub_exactly_once_in_order)
{
	struct fix f;
	fix_init(&f, 1, NULL, NULL);
	struct sim_client_cfg *k = client_cfg(&f, "sub");
	k->subs = subs_foo;
	k->nsubs = 1;
	struct sim_client *sub = client_add(&f);
	k = client_cfg(&f, "pub");
	k->pubs = pubs_foo;
	k->npubs = 1;
	struct sim_client *pub = client_add(&f);
	run_until(&f, 3 * SEC);
	ck_assert(sim_client_ready(sub));
	ck_assert_uint_eq(sim_client_sent(pub, "pub"), 200);
	const struct sim_track *t = sim_client_sub_track(sub, 0, "pub");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->count, 200);
	ck_assert_uint_eq(t->dups, 0);
	ck_assert_uint_eq(t->out_of_order, 0);
	ck_assert(sim_track_has(t, 1) && sim_track_has(t, 200));
	ck_assert_uint_eq(sim_client_stats(sub)->errors, 0);
	fix_free(&f);
}
END_TEST

static struct sim_sub_cfg subs_q[] = { { .subject = "work", .queue = "q" } };
static struct sim_pub_cfg pubs_work[] = { {
	.subject = "work", .count = 300, .interval_ns = 2 * MS,
	.start_ns = 500 * MS,
} };

START_TEST(test_queue_group_shares_messages)
{
	struct fix f;
	fix_init(&f, 2, NULL, NULL);
	const char *names[] = { "w1", "w2", "w3" };
	struct sim_client *w[3];
	for (int i = 0; i < 3; i++) {
		struct sim_client_cfg *k = client_cfg(&f, names[i]);
		k->subs = subs_q;
		k->nsubs = 1;
		w[i] = client_add(&f);
	}
	struct sim_client_cfg *k = client_cfg(&f, "pub");
	k->pubs = pubs_work;
	k->npubs = 1;
	client_add(&f);
	run_until(&f, 3 * SEC);
	uint64_t total = 0;
	for (int i = 0; i < 3; i++) {
		uint64_t got = sim_client_sub_received(w[i], 0);
		ck_assert_uint_gt(got, 0);
		total += got;
	}
	ck_assert_uint_eq(total, 300);
	for (uint64_t n = 1; n <= 300; n++) {
		int owners = 0;
		for (int i = 0; i < 3; i++) {
			const struct sim_track *t =
				sim_client_sub_track(w[i], 0, "pub");
			owners += t != NULL && sim_track_has(t, n);
		}
		ck_assert_int_eq(owners, 1);
	}
	fix_free(&f);
}
END_TEST

static struct sim_sub_cfg subs_svc[] = { { .subject = "svc", .reply = "pong" } };
static struct sim_req_cfg reqs_svc[] = { {
	.name = "r", .subject = "svc", .count = 20, .interval_ns = 50 * MS,
	.start_ns = 500 * MS, .timeout_ns = 1 * SEC,
} };

START_TEST(test_request_reply_and_no_responders)
{
	struct fix f;
	fix_init(&f, 3, NULL, NULL);
	struct sim_client_cfg *k = client_cfg(&f, "svc");
	k->subs = subs_svc;
	k->nsubs = 1;
	client_add(&f);
	k = client_cfg(&f, "req");
	k->reqs = reqs_svc;
	k->nreqs = 1;
	struct sim_client *req = client_add(&f);
	run_until(&f, 3 * SEC);
	ck_assert_uint_eq(sim_client_req_replies(req, "r"), 20);
	size_t len = 0;
	const char *last = sim_client_req_last_reply(req, "r", &len);
	ck_assert_ptr_nonnull(last);
	ck_assert_str_eq(last, "pong");
	ck_assert_int_eq(sim_client_request(req, "none", "nobody.home", "x",
					    SEC), 0);
	sim_node_turn_end(sim_node_find(f.w, "req"));
	run_until(&f, 4 * SEC);
	ck_assert_uint_eq(sim_client_req_no_responders(req, "none"), 1);
	ck_assert_uint_eq(sim_client_req_timeouts(req, "none"), 0);
	fix_free(&f);
}
END_TEST

START_TEST(test_malformed_client_gets_err_and_close)
{
	struct fix f;
	fix_init(&f, 4, NULL, NULL);
	struct sim_client_cfg *k = client_cfg(&f, "bad");
	k->handshake = false;
	k->reconnect = false;
	struct sim_client *bad = client_add(&f);
	run_until(&f, 100 * MS);
	ck_assert_int_eq(sim_client_send_raw(bad, "FOO BAR\r\n", 9), 0);
	/* A step runs outside the client's own events: end its turn. */
	sim_node_turn_end(sim_node_find(f.w, "bad"));
	run_until(&f, 1 * SEC);
	ck_assert_uint_eq(sim_client_errors_matching(
				  bad, "Unknown Protocol Operation"), 1);
	ck_assert_uint_eq(sim_client_stats(bad)->closed_by_server, 1);
	fix_free(&f);
}
END_TEST

START_TEST(test_bad_credentials)
{
	struct fix f;
	fix_init(&f, 5, "alice", "secret");
	struct sim_client_cfg *k = client_cfg(&f, "good");
	k->user = "alice";
	k->pass = "secret";
	struct sim_client *good = client_add(&f);
	k = client_cfg(&f, "evil");
	k->user = "alice";
	k->pass = "wrong";
	k->reconnect = false;
	struct sim_client *evil = client_add(&f);
	run_until(&f, 1 * SEC);
	ck_assert(sim_client_ready(good));
	ck_assert(!sim_client_ready(evil));
	ck_assert_uint_eq(sim_client_errors_matching(evil,
				"Authorization Violation"), 1);
	fix_free(&f);
}
END_TEST

static struct sim_pub_cfg pubs_late[] = { {
	.subject = "foo", .count = 10, .interval_ns = 5 * MS,
	.start_ns = 6 * SEC,
} };

START_TEST(test_crash_restart_clients_reconnect)
{
	struct fix f;
	fix_init(&f, 6, NULL, NULL);
	struct sim_client_cfg *k = client_cfg(&f, "sub");
	k->subs = subs_foo;
	k->nsubs = 1;
	struct sim_client *sub = client_add(&f);
	run_until(&f, 1 * SEC);
	ck_assert(sim_client_ready(sub));
	sim_proc_crash(&f.proc);
	run_until(&f, 2 * SEC);
	ck_assert(!sim_client_ready(sub));
	ck_assert_uint_eq(sim_client_stats(sub)->closed_by_server, 1);
	char err[128];
	ck_assert_int_eq(sim_proc_start(&f.proc, err, sizeof(err)), 0);
	run_until(&f, 5 * SEC);
	ck_assert(sim_client_ready(sub));
	ck_assert_uint_eq(sim_client_stats(sub)->reconnects, 1);
	/* The subscription was re-sent: messages flow again. */
	k = client_cfg(&f, "pub");
	k->pubs = pubs_late;
	k->npubs = 1;
	k->connect_at_ns = 5 * SEC;
	client_add(&f);
	run_until(&f, 8 * SEC);
	ck_assert_uint_gt(sim_client_sub_received(sub, 0), 0);
	fix_free(&f);
}
END_TEST

START_TEST(test_clean_stop_leaves_nothing_open)
{
	struct fix f;
	fix_init(&f, 7, NULL, NULL);
	struct sim_client_cfg *k = client_cfg(&f, "sub");
	k->subs = subs_foo;
	k->nsubs = 1;
	k->reconnect = false;
	struct sim_client *sub = client_add(&f);
	run_until(&f, 1 * SEC);
	sim_proc_stop(&f.proc);
	ck_assert_str_eq(f.w->failure, "");
	run_until(&f, 2 * SEC);
	ck_assert_uint_eq(sim_client_stats(sub)->disconnects, 1);
	ck_assert(!sim_proc_running(&f.proc));
	fix_free(&f);
}
END_TEST

START_TEST(test_pause_blocks_progress)
{
	struct fix f;
	fix_init(&f, 8, NULL, NULL);
	sim_proc_pause(&f.proc);
	client_cfg(&f, "c");
	struct sim_client *c = client_add(&f);
	run_until(&f, 1 * SEC);
	ck_assert(!sim_client_ready(c));   /* no INFO from a paused server */
	sim_proc_resume(&f.proc);
	run_until(&f, 2 * SEC);
	ck_assert(sim_client_ready(c));
	fix_free(&f);
}
END_TEST

static uint64_t run_hash(uint64_t seed)
{
	struct fix f;
	fix_init(&f, seed, NULL, NULL);
	struct sim_client_cfg *k = client_cfg(&f, "sub");
	k->subs = subs_foo;
	k->nsubs = 1;
	client_add(&f);
	k = client_cfg(&f, "pub");
	k->pubs = pubs_foo;
	k->npubs = 1;
	client_add(&f);
	run_until(&f, 2 * SEC);
	uint64_t h = trace_hash(f.w->trace);
	fix_free(&f);
	return h;
}

START_TEST(test_same_seed_same_hash)
{
	ck_assert_uint_eq(run_hash(99), run_hash(99));
	ck_assert_uint_ne(run_hash(99), run_hash(100));
}
END_TEST

static Suite *env_suite(void)
{
	Suite *s = suite_create("sim_env");
	TCase *tc = tcase_create("server");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pubsub_exactly_once_in_order);
	tcase_add_test(tc, test_queue_group_shares_messages);
	tcase_add_test(tc, test_request_reply_and_no_responders);
	tcase_add_test(tc, test_malformed_client_gets_err_and_close);
	tcase_add_test(tc, test_bad_credentials);
	tcase_add_test(tc, test_crash_restart_clients_reconnect);
	tcase_add_test(tc, test_clean_stop_leaves_nothing_open);
	tcase_add_test(tc, test_pause_blocks_progress);
	tcase_add_test(tc, test_same_seed_same_hash);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(env_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
