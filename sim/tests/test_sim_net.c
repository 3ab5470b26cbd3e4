/*
 * test_sim_net.c - the virtual network through the env seam: connect,
 * accept, refused, ordered delivery in random splits, end of stream, the
 * send window, latency, partitions (hold, drop, one way, handshake lost),
 * reset faults, a crashed owner and determinism of the splits.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/assert.h"
#include "net.h"
#include "sim_env.h"

#define RX_CAP (1 << 20)

struct app {
	struct sim_node *node;
	struct env *e;
	int lsock;
	int sock;             /* accepted or connecting/connected socket */
	unsigned char *rx;
	size_t rxlen;
	int reads;            /* successful recv calls */
	int eof;
	long err;             /* last negative recv result other than EAGAIN */
	int connected;        /* connect completed (WRITE) */
	int connect_error;    /* connect failed (ERROR) */
	int writable;         /* WRITE callbacks after connect */
};

struct fixture {
	struct sim_world *w;
	struct app a, b;      /* a listens on 4222, b connects */
};

static void app_io(void *arg, int sock, unsigned events);

static void app_read(struct app *x)
{
	for (;;) {
		long n = x->e->sock_recv(x->e, x->sock, x->rx + x->rxlen,
					 RX_CAP - x->rxlen);
		if (n == ENV_EAGAIN)
			return;
		if (n == 0) {
			x->eof = 1;
			x->e->sock_watch(x->e, x->sock, 0, app_io, x);
			return;
		}
		if (n < 0) {
			x->err = n;
			x->e->sock_watch(x->e, x->sock, 0, app_io, x);
			return;
		}
		x->rxlen += (size_t)n;
		x->reads++;
	}
}

static void app_io(void *arg, int sock, unsigned events)
{
	struct app *x = arg;
	(void)sock;
	if (events & ENV_EV_WRITE) {
		x->writable++;
		x->e->sock_watch(x->e, x->sock, ENV_EV_READ, app_io, x);
	}
	if (events & (ENV_EV_READ | ENV_EV_ERROR))
		app_read(x);
}

static void app_accept(void *arg, int lsock, unsigned events)
{
	struct app *x = arg;
	(void)events;
	char ip[64];
	int port;
	int s = x->e->tcp_accept(x->e, lsock, ip, &port);
	if (s < 0)
		return;
	ck_assert_str_eq(ip, "10.0.0.2");   /* host b is the second host */
	x->sock = s;
	x->e->sock_watch(x->e, s, ENV_EV_READ, app_io, x);
}

static void app_connected(void *arg, int sock, unsigned events)
{
	struct app *x = arg;
	(void)sock;
	if (events & ENV_EV_ERROR) {
		char c;
		x->connect_error++;
		x->err = x->e->sock_recv(x->e, x->sock, &c, 1);
		x->e->sock_watch(x->e, x->sock, 0, app_connected, x);
		return;
	}
	x->connected++;
	x->e->sock_watch(x->e, x->sock, ENV_EV_READ, app_io, x);
}

static void app_init(struct fixture *f, struct app *x, const char *name)
{
	memset(x, 0, sizeof(*x));
	x->node = sim_node_add(f->w, name, SIM_ROLE_CLIENT);
	x->node->host = sim_net_host(f->w->net, name);
	x->node->env = sim_env_new(f->w, x->node);
	x->e = sim_env_env(x->node->env);
	x->rx = calloc(1, RX_CAP);
	x->sock = x->lsock = -1;
}

static void fixture_init(struct fixture *f, uint64_t seed)
{
	f->w = sim_world_new(seed, trace_new());
	sim_net_new(f->w);
	app_init(f, &f->a, "a");
	app_init(f, &f->b, "b");
}

static void fixture_free(struct fixture *f)
{
	struct trace *t = f->w->trace;
	sim_env_free(f->a.node->env);
	sim_env_free(f->b.node->env);
	free(f->a.rx);
	free(f->b.rx);
	sim_net_free(f->w->net);
	sim_world_free(f->w);
	trace_free(t);
}

static void listen_and_connect(struct fixture *f, int port)
{
	int bound = 0;
	f->a.lsock = f->a.e->tcp_listen(f->a.e, "0.0.0.0", 4222, ENV_LINK_CLIENT,
					app_accept, &f->a, &bound);
	ck_assert_int_ge(f->a.lsock, 0);
	ck_assert_int_eq(bound, 4222);
	f->b.sock = f->b.e->tcp_connect(f->b.e, "a", port, ENV_LINK_CLIENT,
					app_connected, &f->b);
	ck_assert_int_ge(f->b.sock, 0);
}

static void run_ms(struct fixture *f, int64_t ms)
{
	sim_run_until(f->w, sim_now(f->w) + ms * 1000000);
}

static long send_all(struct app *x, const void *data, size_t len)
{
	struct iovec iov = { (void *)data, len };
	return x->e->sock_sendv(x->e, x->sock, &iov, 1);
}

static void fill_pattern(unsigned char *p, size_t n, size_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((start + i) * 7 + 3);
}

START_TEST(test_connect_accept_and_ordered_splits)
{
	struct fixture f;
	fixture_init(&f, 11);
	listen_and_connect(&f, 4222);
	run_ms(&f, 50);
	ck_assert_int_eq(f.b.connected, 1);
	ck_assert_int_ge(f.a.sock, 0);
	unsigned char buf[1000];
	size_t sent = 0;
	for (int i = 0; i < 100; i++) {
		fill_pattern(buf, sizeof(buf), sent);
		ck_assert_int_eq(send_all(&f.b, buf, sizeof(buf)), sizeof(buf));
		sent += sizeof(buf);
		run_ms(&f, 5);
	}
	run_ms(&f, 100);
	ck_assert_uint_eq(f.a.rxlen, sent);
	unsigned char *want = malloc(sent);
	fill_pattern(want, sent, 0);
	ck_assert(memcmp(want, f.a.rx, sent) == 0);
	free(want);
	/* 100 spaced sends were read in more pieces: the splits happened. */
	ck_assert_int_gt(f.a.reads, 100);
	sim_net_invariants(f.w->net);
	fixture_free(&f);
}
END_TEST

START_TEST(test_refused_without_listener)
{
	struct fixture f;
	fixture_init(&f, 1);
	f.b.sock = f.b.e->tcp_connect(f.b.e, "a", 9999, ENV_LINK_CLIENT,
				      app_connected, &f.b);
	run_ms(&f, 50);
	ck_assert_int_eq(f.b.connect_error, 1);
	ck_assert_int_eq(f.b.connected, 0);
	ck_assert_int_eq(f.b.err, ENV_EREFUSED);
	/* Unknown host names fail at once. */
	ck_assert_int_eq(f.b.e->tcp_connect(f.b.e, "nowhere", 1,
					    ENV_LINK_CLIENT, app_connected,
					    &f.b), ENV_EINVAL);
	fixture_free(&f);
}
END_TEST

START_TEST(test_close_gives_eof_after_data)
{
	struct fixture f;
	fixture_init(&f, 2);
	listen_and_connect(&f, 4222);
	run_ms(&f, 50);
	ck_assert_int_eq(send_all(&f.a, "hello", 5), 5);
	f.a.e->sock_close(f.a.e, f.a.sock);
	run_ms(&f, 50);
	ck_assert_uint_eq(f.b.rxlen, 5);
	ck_assert(memcmp(f.b.rx, "hello", 5) == 0);
	ck_assert_int_eq(f.b.eof, 1);
	/* Writing to a closed peer ends in a reset. */
	ck_assert_int_eq(send_all(&f.b, "x", 1), 1);
	run_ms(&f, 50);
	ck_assert_int_eq(send_all(&f.b, "y", 1), ENV_ECLOSED);
	fixture_free(&f);
}
END_TEST

START_TEST(test_window_backpressure)
{
	struct fixture f;
	fixture_init(&f, 3);
	f.w->net->cfg.window_bytes = 4096;
	listen_and_connect(&f, 4222);
	run_ms(&f, 50);
	/* a does not read: stop watching. */
	f.a.e->sock_watch(f.a.e, f.a.sock, 0, app_io, &f.a);
	static unsigned char big[10000];
	ck_assert_int_eq(send_all(&f.b, big, sizeof(big)), 4096);
	ck_assert_int_eq(send_all(&f.b, big, sizeof(big)), ENV_EAGAIN);
	f.b.e->sock_watch(f.b.e, f.b.sock, ENV_EV_READ | ENV_EV_WRITE, app_io,
			  &f.b);
	int before = f.b.writable;
	run_ms(&f, 50);
	ck_assert_int_eq(f.b.writable, before);   /* still full */
	f.a.e->sock_watch(f.a.e, f.a.sock, ENV_EV_READ, app_io, &f.a);
	run_ms(&f, 50);
	ck_assert_uint_eq(f.a.rxlen, 4096);
	ck_assert_int_gt(f.b.writable, before);   /* room again */
	fixture_free(&f);
}
END_TEST

START_TEST(test_latency_bound)
{
	struct fixture f;
	fixture_init(&f, 4);
	for (int k = 0; k < SIM_LINK_KINDS; k++) {
		f.w->net->cfg.link[k].latency.min_ns = 5000000;
		f.w->net->cfg.link[k].latency.max_ns = 5000000;
	}
	listen_and_connect(&f, 4222);
	run_ms(&f, 9);
	ck_assert_int_eq(f.b.connected, 0);   /* SYN + SYNACK take 10 ms */
	run_ms(&f, 2);
	ck_assert_int_eq(f.b.connected, 1);
	send_all(&f.b, "abc", 3);
	run_ms(&f, 4);
	ck_assert_uint_eq(f.a.rxlen, 0);
	run_ms(&f, 2);
	ck_assert_uint_eq(f.a.rxlen, 3);
	fixture_free(&f);
}
END_TEST

static struct sim_partition *cut(struct fixture *f, const char *name,
				 enum sim_part_mode mode, bool one_way)
{
	struct sim_partition *p = sim_net_partition_new(f->w->net, name);
	p->side[f->b.node->id] |= 1;   /* A side = b */
	p->side[f->a.node->id] |= 2;   /* B side = a */
	p->mode = mode;
	p->one_way = one_way;
	sim_net_partition(f->w->net, p);
	return p;
}

START_TEST(test_hold_partition_delivers_after_heal)
{
	struct fixture f;
	fixture_init(&f, 5);
	listen_and_connect(&f, 4222);
	run_ms(&f, 50);
	cut(&f, "p", SIM_PART_HOLD, false);
	send_all(&f.b, "held bytes", 10);
	run_ms(&f, 60000);
	ck_assert_uint_eq(f.a.rxlen, 0);
	ck_assert_int_eq(f.b.err, 0);
	ck_assert_uint_eq(sim_net_heal(f.w->net, "p"), 1);
	run_ms(&f, 50);
	ck_assert_uint_eq(f.a.rxlen, 10);
	ck_assert(memcmp(f.a.rx, "held bytes", 10) == 0);
	sim_net_invariants(f.w->net);
	fixture_free(&f);
}
END_TEST

START_TEST(test_drop_partition_stalls_then_resets)
{
	struct fixture f;
	fixture_init(&f, 6);
	f.w->net->cfg.reset_after_ns = 3 * SIM_NS_PER_SEC;
	listen_and_connect(&f, 4222);
	run_ms(&f, 50);
	cut(&f, "p", SIM_PART_DROP, false);
	send_all(&f.b, "lost", 4);
	run_ms(&f, 2900);
	ck_assert_int_eq(f.b.err, 0);          /* still stalled */
	run_ms(&f, 200);
	ck_assert_int_eq(f.b.err, ENV_ECLOSED);   /* gave up */
	ck_assert_uint_eq(f.a.rxlen, 0);
	sim_net_heal(f.w->net, NULL);
	/* The other side learns when it next sends. */
	send_all(&f.a, "ping", 4);
	run_ms(&f, 50);
	ck_assert_int_eq(send_all(&f.a, "more", 4), ENV_ECLOSED);
	fixture_free(&f);
}
END_TEST

START_TEST(test_short_drop_partition_delivers_late)
{
	struct fixture f;
	fixture_init(&f, 7);
	listen_and_connect(&f, 4222);
	run_ms(&f, 50);
	cut(&f, "p", SIM_PART_DROP, false);
	send_all(&f.b, "late", 4);
	run_ms(&f, 1000);
	sim_net_heal(f.w->net, "p");
	run_ms(&f, 50);
	ck_assert_uint_eq(f.a.rxlen, 4);
	ck_assert_int_eq(f.b.err, 0);
	fixture_free(&f);
}
END_TEST

START_TEST(test_one_way_partition)
{
	struct fixture f;
	fixture_init(&f, 8);
	listen_and_connect(&f, 4222);
	run_ms(&f, 50);
	cut(&f, "p", SIM_PART_HOLD, true);   /* b -> a blocked only */
	send_all(&f.b, "b2a", 3);
	send_all(&f.a, "a2b", 3);
	run_ms(&f, 100);
	ck_assert_uint_eq(f.a.rxlen, 0);
	ck_assert_uint_eq(f.b.rxlen, 3);
	fixture_free(&f);
}
END_TEST

START_TEST(test_connect_times_out_across_drop)
{
	struct fixture f;
	fixture_init(&f, 9);
	int bound;
	f.a.lsock = f.a.e->tcp_listen(f.a.e, "a", 4222, ENV_LINK_ROUTE,
				      app_accept, &f.a, &bound);
	cut(&f, "p", SIM_PART_DROP, false);
	f.b.sock = f.b.e->tcp_connect(f.b.e, "a", 4222, ENV_LINK_ROUTE,
				      app_connected, &f.b);
	run_ms(&f, 1900);
	ck_assert_int_eq(f.b.connect_error, 0);
	run_ms(&f, 200);
	ck_assert_int_eq(f.b.connect_error, 1);
	ck_assert_int_lt(f.a.sock, 0);
	fixture_free(&f);
}
END_TEST

START_TEST(test_partition_by_kind)
{
	struct fixture f;
	fixture_init(&f, 10);
	listen_and_connect(&f, 4222);
	run_ms(&f, 50);
	struct sim_partition *p = sim_net_partition_new(f.w->net, "routes");
	memset(p->side, 3, p->nside);
	p->kinds = 1u << ENV_LINK_ROUTE;
	sim_net_partition(f.w->net, p);
	send_all(&f.b, "client", 6);   /* a client link: not cut */
	run_ms(&f, 50);
	ck_assert_uint_eq(f.a.rxlen, 6);
	fixture_free(&f);
}
END_TEST

START_TEST(test_reset_fault_and_crash)
{
	struct fixture f;
	fixture_init(&f, 12);
	listen_and_connect(&f, 4222);
	run_ms(&f, 50);
	struct sim_partition *sel = sim_net_partition_new(f.w->net, "sel");
	sel->side[f.b.node->id] = 1;
	sel->side[f.a.node->id] = 2;
	ck_assert_uint_eq(sim_net_reset_matching(f.w->net, sel), 1);
	sim_net_partition_free(sel);
	run_ms(&f, 10);
	ck_assert_int_eq(f.a.err, ENV_ECLOSED);
	ck_assert_int_eq(f.b.err, ENV_ECLOSED);
	/* A new connection, then a's process crashes: b gets a reset. */
	f.b.err = 0;
	f.b.connected = 0;
	f.b.e->sock_close(f.b.e, f.b.sock);
	f.a.e->sock_close(f.a.e, f.a.sock);
	f.b.sock = f.b.e->tcp_connect(f.b.e, "a", 4222, ENV_LINK_CLIENT,
				      app_connected, &f.b);
	run_ms(&f, 50);
	ck_assert_int_eq(f.b.connected, 1);
	sim_env_kill(f.a.node->env);
	run_ms(&f, 50);
	ck_assert_int_eq(f.b.err, ENV_ECLOSED);
	fixture_free(&f);
}
END_TEST

/* The sizes of successive reads, as a fingerprint of the splits. */
static uint64_t split_fingerprint(uint64_t seed)
{
	struct fixture f;
	fixture_init(&f, seed);
	listen_and_connect(&f, 4222);
	run_ms(&f, 50);
	static unsigned char buf[20000];
	send_all(&f.b, buf, sizeof(buf));
	run_ms(&f, 50);
	uint64_t fp = (uint64_t)f.a.reads * 1000003u + f.a.rxlen;
	fp = fp * 31 + (uint64_t)sim_now(f.w) + f.w->dispatched;
	fixture_free(&f);
	return fp;
}

START_TEST(test_determinism_of_splits)
{
	ck_assert_uint_eq(split_fingerprint(42), split_fingerprint(42));
	int differ = 0;
	for (uint64_t s = 1; s <= 5; s++)
		differ += split_fingerprint(s) != split_fingerprint(42);
	ck_assert_int_gt(differ, 0);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("sim_net");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_connect_accept_and_ordered_splits);
	tcase_add_test(tc, test_refused_without_listener);
	tcase_add_test(tc, test_close_gives_eof_after_data);
	tcase_add_test(tc, test_window_backpressure);
	tcase_add_test(tc, test_latency_bound);
	tcase_add_test(tc, test_hold_partition_delivers_after_heal);
	tcase_add_test(tc, test_drop_partition_stalls_then_resets);
	tcase_add_test(tc, test_short_drop_partition_delivers_late);
	tcase_add_test(tc, test_one_way_partition);
	tcase_add_test(tc, test_connect_times_out_across_drop);
	tcase_add_test(tc, test_partition_by_kind);
	tcase_add_test(tc, test_reset_fault_and_crash);
	tcase_add_test(tc, test_determinism_of_splits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(net_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
