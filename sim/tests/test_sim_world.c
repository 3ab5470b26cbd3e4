/*
 * test_sim_world.c - the virtual clock and event queue: ordering by (time,
 * sequence), cancellation, batching and turn ends, pausing, generations,
 * wall-clock drift and the independence of random streams.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "world.h"

struct rec {
	char log[256];
	size_t len;
	int turn_ends;
};

static void rec_fn(struct sim_world *w, struct sim_event *ev)
{
	struct rec *r = ev->p;
	(void)w;
	r->log[r->len++] = (char)ev->a;
	r->log[r->len] = '\0';
}

static struct sim_world *world_new(uint64_t seed)
{
	return sim_world_new(seed, trace_new());
}

static void world_free(struct sim_world *w)
{
	struct trace *t = w->trace;
	sim_world_free(w);
	trace_free(t);
}

START_TEST(test_order_time_then_seq)
{
	struct sim_world *w = world_new(1);
	struct rec r = { .len = 0 };
	sim_at(w, 30, rec_fn, NULL, &r, 'c');
	sim_at(w, 10, rec_fn, NULL, &r, 'a');
	sim_at(w, 20, rec_fn, NULL, &r, 'b');
	sim_at(w, 10, rec_fn, NULL, &r, 'A');   /* same time: scheduling order */
	sim_run_until(w, 100);
	ck_assert_str_eq(r.log, "aAbc");
	ck_assert_int_eq(sim_now(w), 100);
	ck_assert_uint_eq(w->dispatched, 4);
	world_free(w);
}
END_TEST

START_TEST(test_clock_jumps_and_stops_at_limit)
{
	struct sim_world *w = world_new(1);
	struct rec r = { .len = 0 };
	sim_at(w, 5 * SIM_NS_PER_SEC, rec_fn, NULL, &r, 'x');
	sim_at(w, 50 * SIM_NS_PER_SEC, rec_fn, NULL, &r, 'y');
	sim_run_until(w, 10 * SIM_NS_PER_SEC);
	ck_assert_str_eq(r.log, "x");
	ck_assert_int_eq(sim_now(w), 10 * SIM_NS_PER_SEC);
	/* An event scheduled in the past runs now, not earlier. */
	sim_at(w, 0, rec_fn, NULL, &r, 'z');
	sim_run_until(w, 10 * SIM_NS_PER_SEC);
	ck_assert_str_eq(r.log, "xz");
	world_free(w);
}
END_TEST

START_TEST(test_cancel)
{
	struct sim_world *w = world_new(1);
	struct rec r = { .len = 0 };
	struct sim_event *evs[50];
	for (int i = 0; i < 50; i++)
		evs[i] = sim_at(w, 100 - i, rec_fn, NULL, &r, 'a' + (i % 26));
	for (int i = 0; i < 50; i += 2)
		sim_cancel(w, evs[i]);
	sim_run_until(w, 1000);
	ck_assert_uint_eq(r.len, 25);
	/* Remaining ones ran in time order: i = 49, 47, ..., 1. */
	ck_assert_int_eq(r.log[0], 'a' + (49 % 26));
	ck_assert_int_eq(r.log[24], 'a' + 1);
	world_free(w);
}
END_TEST

static void count_turn(struct sim_node *n)
{
	struct rec *r = n->owner;
	r->turn_ends++;
}

START_TEST(test_batches_and_turn_end)
{
	struct sim_world *w = world_new(1);
	struct rec r = { .len = 0 };
	struct sim_node *n = sim_node_add(w, "n1", SIM_ROLE_SERVER);
	n->owner = &r;
	n->turn_end = count_turn;
	sim_at(w, 10, rec_fn, n, &r, 'a');
	sim_at(w, 10, rec_fn, n, &r, 'b');
	sim_at(w, 10, rec_fn, NULL, &r, 'w');
	sim_at(w, 10, rec_fn, n, &r, 'c');
	sim_run_until(w, 100);
	ck_assert_str_eq(r.log, "abwc");
	/* a and b form one batch; the world event splits c off. */
	ck_assert_int_eq(r.turn_ends, 2);
	world_free(w);
}
END_TEST

START_TEST(test_pause_defers_and_gen_drops)
{
	struct sim_world *w = world_new(1);
	struct rec r = { .len = 0 };
	struct sim_node *n = sim_node_add(w, "n1", SIM_ROLE_SERVER);
	sim_at(w, 10, rec_fn, n, &r, 'a');
	sim_at(w, 20, rec_fn, n, &r, 'b');
	sim_node_pause(w, n);
	sim_run_until(w, 50);
	ck_assert_uint_eq(r.len, 0);
	ck_assert_uint_eq(n->ndeferred, 2);
	ck_assert_uint_eq(sim_node_resume(w, n), 2);
	sim_run_until(w, 60);
	ck_assert_str_eq(r.log, "ab");
	sim_at(w, 70, rec_fn, n, &r, 'c');
	sim_node_new_gen(w, n);
	sim_run_until(w, 100);
	ck_assert_str_eq(r.log, "ab");   /* c belonged to the old generation */
	world_free(w);
}
END_TEST

START_TEST(test_wall_clock_drift_and_step)
{
	struct sim_world *w = world_new(1);
	struct sim_node *n = sim_node_add(w, "n1", SIM_ROLE_SERVER);
	ck_assert_int_eq(sim_node_wall(w, n), SIM_EPOCH_NS);
	sim_node_set_clock(w, n, 5 * SIM_NS_PER_SEC, 1000);   /* +5 s, 1000 ppm */
	sim_run_until(w, 10 * SIM_NS_PER_SEC);
	ck_assert_int_eq(sim_node_wall(w, n),
			 SIM_EPOCH_NS + 15 * SIM_NS_PER_SEC + 10000000);
	int64_t m0 = sim_node_mono(w, n);
	sim_run_until(w, 11 * SIM_NS_PER_SEC);
	ck_assert_int_eq(sim_node_mono(w, n) - m0, SIM_NS_PER_SEC);
	world_free(w);
}
END_TEST

START_TEST(test_streams_independent_and_seeded)
{
	struct sim_rng a, b, c;
	sim_rng_init(&a, 7, "net");
	sim_rng_init(&b, 7, "net");
	sim_rng_init(&c, 7, "disk");
	uint64_t x = sim_rng_next(&a);
	ck_assert_uint_eq(x, sim_rng_next(&b));
	ck_assert_uint_ne(x, sim_rng_next(&c));
	sim_rng_init(&b, 8, "net");
	ck_assert_uint_ne(sim_rng_next(&a), sim_rng_next(&b));
	int hits = 0;
	for (int i = 0; i < 10000; i++)
		hits += sim_rng_chance(&a, 250000);
	ck_assert_int_gt(hits, 2200);
	ck_assert_int_lt(hits, 2800);
	for (int i = 0; i < 1000; i++) {
		int64_t v = sim_rng_range(&a, -3, 3);
		ck_assert_int_ge(v, -3);
		ck_assert_int_le(v, 3);
	}
}
END_TEST

static void stop_fn(struct sim_world *w, struct sim_event *ev)
{
	(void)ev;
	w->stop = true;
}

START_TEST(test_stop)
{
	struct sim_world *w = world_new(1);
	struct rec r = { .len = 0 };
	sim_at(w, 10, stop_fn, NULL, NULL, 0);
	sim_at(w, 20, rec_fn, NULL, &r, 'a');
	sim_run_until(w, 100);
	ck_assert_uint_eq(r.len, 0);
	ck_assert_int_eq(sim_now(w), 10);
	world_free(w);
}
END_TEST

static Suite *world_suite(void)
{
	Suite *s = suite_create("sim_world");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_order_time_then_seq);
	tcase_add_test(tc, test_clock_jumps_and_stops_at_limit);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_batches_and_turn_end);
	tcase_add_test(tc, test_pause_defers_and_gen_drops);
	tcase_add_test(tc, test_wall_clock_drift_and_step);
	tcase_add_test(tc, test_streams_independent_and_seeded);
	tcase_add_test(tc, test_stop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(world_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
