/*
 * natsbench.c - the project's NATS load tool: command line, dispatch to a
 * workload, and the report (human lines, then one JSON line that scripts
 * read).
 *
 * Exit status: 0 when the workload ran (also when it was capped by
 * --duration-max or is "n/a" because the server lacks JetStream), 1 when
 * the tool or the server broke (connection refused, closed, protocol
 * error, failed setup), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_proc.h"
#include "bench_work.h"

struct workload {
	const char *name;
	int (*run)(const struct bopts *o, struct bresult *r);
	int pubs, subs;               /* defaults */
	const char *what;
};

static const struct workload workloads[] = {
	{ "pub", work_core, 1, 0, "publish only, no subscribers" },
	{ "pubsub", work_core, 1, 1, "publishers to plain subscribers" },
	{ "fanout", work_core, 1, 4, "one publisher, every subscriber gets all" },
	{ "fanin", work_core, 4, 1, "many publishers, one subscriber" },
	{ "queue", work_core, 1, 4, "one queue group: each message to one member" },
	{ "reqrep", work_reqrep, 1, 1, "request/reply, one outstanding per requester" },
	{ "js-pub-sync", work_js, 1, 0, "JetStream publish, wait for each ack" },
	{ "js-pub-async", work_js, 1, 0, "JetStream publish, --window acks outstanding" },
	{ "js-pull", work_js, 0, 1, "JetStream pull consumer, explicit acks" },
	{ "js-push", work_js, 0, 1, "JetStream push consumer, ack none" },
	{ "idle", work_idle, 0, 0, "--conns idle connections, server memory" },
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: natsbench WORKLOAD [options]\n"
"       natsbench free-port        print a free TCP port on 127.0.0.1\n\n"
"workloads:\n");
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		fprintf(f, "  %-14s %s\n", workloads[i].name, workloads[i].what);
	fprintf(f,
"\noptions:\n"
"  -s, --server HOST:PORT   server address (127.0.0.1:4222)\n"
"  -n, --count N            messages per publisher; js-pull/js-push: in the\n"
"                           stream (100000)\n"
"  -z, --size BYTES         payload size (128)\n"
"  -p, --pubs N             publishers or requesters\n"
"  -c, --subs N             subscribers, responders or consumers\n"
"  -t, --threads N          worker threads of the timed phase (1)\n"
"  -d, --duration-max SEC   cap on the timed phase (60)\n"
"      --inflight N         core: messages in flight at most (auto)\n"
"      --window N           js-pub-async: acks outstanding at most (1000)\n"
"      --batch N            js-pull: messages per pull request (500)\n"
"      --storage file|memory  JetStream stream storage (file)\n"
"      --conns N            idle: connections to open (10000)\n"
"      --hold SEC           idle: settle time before measuring (1)\n"
"      --server-pid PID     report the server's CPU time and memory\n"
"      --label TEXT         the \"server\" field of the JSON line\n"
"  -q, --quiet              print only the JSON line\n");
}

struct cli {
	struct bopts o;
	const struct workload *w;
	const char *label;
	bool quiet;
	char host[256];               /* o->host points here after -s */
};

static int parse_server(struct cli *cl, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	if (colon == NULL || (size_t)(colon - arg) >= sizeof(cl->host))
		return -1;
	memcpy(cl->host, arg, (size_t)(colon - arg));
	cl->host[colon - arg] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -1;
	cl->o.host = cl->host[0] ? cl->host : "127.0.0.1";
	cl->o.port = (int)port;
	return 0;
}

static int parse_u64(const char *arg, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);
	if (*end != '\0' || arg[0] == '-' || arg[0] == '\0')
		return -1;
	*out = v;
	return 0;
}

static const struct workload *find_workload(const char *name)
{
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (strcmp(workloads[i].name, name) == 0)
			return &workloads[i];
	return NULL;
}

enum {
	OPT_INFLIGHT = 256, OPT_WINDOW, OPT_BATCH, OPT_STORAGE, OPT_CONNS,
	OPT_HOLD, OPT_PID, OPT_LABEL,
};

static const struct option long_opts[] = {
	{ "server", required_argument, NULL, 's' },
	{ "count", required_argument, NULL, 'n' },
	{ "size", required_argument, NULL, 'z' },
	{ "pubs", required_argument, NULL, 'p' },
	{ "subs", required_argument, NULL, 'c' },
	{ "threads", required_argument, NULL, 't' },
	{ "duration-max", required_argument, NULL, 'd' },
	{ "inflight", required_argument, NULL, OPT_INFLIGHT },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "storage", required_argument, NULL, OPT_STORAGE },
	{ "conns", required_argument, NULL, OPT_CONNS },
	{ "hold", required_argument, NULL, OPT_HOLD },
	{ "server-pid", required_argument, NULL, OPT_PID },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Applies one option; -1 when its argument is bad. */
static int cli_apply(struct cli *cl, int opt, const char *arg)
{
	struct bopts *o = &cl->o;
	uint64_t v = 0;
	bool number = opt != 's' && opt != 'd' && opt != OPT_STORAGE &&
		      opt != OPT_HOLD && opt != OPT_LABEL && opt != 'q';
	if (number && parse_u64(arg, &v) < 0)
		return -1;
	switch (opt) {
	case 's': return parse_server(cl, arg);
	case 'n': o->count = v; return v > 0 ? 0 : -1;
	case 'z': o->size = (size_t)v; return v <= (64u << 20) ? 0 : -1;
	case 'p': o->pubs = (int)v; return v > 0 && v <= 10000 ? 0 : -1;
	case 'c': o->subs = (int)v; return v > 0 && v <= 10000 ? 0 : -1;
	case 't': o->threads = (int)v; return v > 0 && v <= 256 ? 0 : -1;
	case OPT_INFLIGHT: o->inflight = v; return 0;
	case OPT_WINDOW: o->window = v; return v > 0 && v <= 1000000 ? 0 : -1;
	case OPT_BATCH: o->batch = v; return v > 0 && v <= 100000 ? 0 : -1;
	case OPT_CONNS: o->conns = (int)v; return v > 0 && v <= 1000000 ? 0 : -1;
	case OPT_PID: o->server_pid = (int)v; return 0;
	case OPT_LABEL: cl->label = arg; return 0;
	case 'q': cl->quiet = true; return 0;
	case OPT_STORAGE:
		o->storage = arg;
		return strcmp(arg, "file") == 0 || strcmp(arg, "memory") == 0 ? 0 : -1;
	case 'd':
	case OPT_HOLD: {
		char *end;
		double d = strtod(arg, &end);
		if (*end != '\0' || d < 0 || d > 86400)
			return -1;
		*(opt == 'd' ? &o->duration_max_s : &o->hold_s) = d;
		return 0;
	}
	default:
		return -1;
	}
}

static int cli_parse(struct cli *cl, int argc, char **argv)
{
	memset(cl, 0, sizeof(*cl));
	struct bopts *o = &cl->o;
	o->host = "127.0.0.1";
	o->port = 4222;
	o->count = 100000;
	o->size = 128;
	o->threads = 1;
	o->duration_max_s = 60;
	o->window = 1000;
	o->batch = 500;
	o->storage = "file";
	o->conns = 10000;
	o->hold_s = 1;
	cl->label = "";
	cl->w = find_workload(argv[1]);
	if (cl->w == NULL) {
		fprintf(stderr, "natsbench: unknown workload '%s'\n", argv[1]);
		return -1;
	}
	o->workload = cl->w->name;
	optind = 2;
	int opt;
	while ((opt = getopt_long(argc, argv, "s:n:z:p:c:t:d:qh", long_opts, NULL)) != -1) {
		if (opt == 'h' || opt == '?' || cli_apply(cl, opt, optarg) < 0) {
			if (opt != 'h' && opt != '?')
				fprintf(stderr, "natsbench: bad value '%s'\n", optarg);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "natsbench: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	/* Unset counts take the workload's defaults (0: not used). */
	if (o->pubs == 0)
		o->pubs = cl->w->pubs;
	if (o->subs == 0)
		o->subs = cl->w->subs;
	return 0;
}

/* ------------------------------------------------------------- report */

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

struct figures {
	double msgs_per_s;            /* the headline rate */
	double mb_per_s;              /* payload megabytes (10^6) per second */
	double pub_msgs_per_s;
	double server_cpu_s;          /* -1 when not known */
	double tool_cpu_s;
	long server_rss_kb;
	long server_hwm_kb;
};

static double per_s(double n, double seconds)
{
	return seconds > 0 ? n / seconds : 0;
}

static void report_latency_json(FILE *f, const struct hist *h)
{
	if (h->total == 0)
		return;
	fprintf(f, ",\"lat_count\":%llu,\"p50_us\":%.1f,\"p90_us\":%.1f,"
		"\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f",
		(unsigned long long)h->total,
		(double)hist_percentile(h, 50) / 1e3, (double)hist_percentile(h, 90) / 1e3,
		(double)hist_percentile(h, 99) / 1e3, (double)hist_percentile(h, 99.9) / 1e3,
		(double)h->max / 1e3, hist_mean(h) / 1e3);
}

static void report_json(const struct cli *cl, const struct bresult *r,
			const struct figures *fg)
{
	const struct bopts *o = &cl->o;
	FILE *f = stdout;
	fprintf(f, "{\"tool\":\"natsbench\",\"workload\":\"%s\",\"server\":", o->workload);
	json_string(f, cl->label);
	fprintf(f, ",\"status\":\"%s\",\"error\":", r->status);
	json_string(f, r->error);
	fprintf(f, ",\"size\":%zu,\"count\":%llu,\"pubs\":%d,\"subs\":%d,\"threads\":%d",
		o->size, (unsigned long long)o->count, o->pubs, o->subs, o->threads);
	fprintf(f, ",\"elapsed_s\":%.6f,\"msgs\":%llu,\"msgs_per_s\":%.1f,"
		"\"mb_per_s\":%.3f,\"published\":%llu,\"pub_msgs_per_s\":%.1f,\"lost\":%llu",
		r->elapsed_s, (unsigned long long)r->msgs, fg->msgs_per_s, fg->mb_per_s,
		(unsigned long long)r->published, fg->pub_msgs_per_s,
		(unsigned long long)r->lost);
	report_latency_json(f, &r->lat);
	if (strcmp(o->workload, "idle") == 0)
		fprintf(f, ",\"conns\":%d,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld",
			r->conns_open, r->rss_before_kb, r->rss_after_kb);
	fprintf(f, ",\"tool_cpu_s\":%.3f", fg->tool_cpu_s);
	if (o->server_pid)
		fprintf(f, ",\"server_pid\":%d,\"server_cpu_s\":%.3f,"
			"\"server_rss_kb\":%ld,\"server_hwm_kb\":%ld", o->server_pid,
			fg->server_cpu_s, fg->server_rss_kb, fg->server_hwm_kb);
	fprintf(f, "}\n");
}

static void report_latency_human(FILE *f, const struct hist *h)
{
	if (h->total == 0)
		return;
	fprintf(f, "  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
		(double)hist_percentile(h, 50) / 1e3, (double)hist_percentile(h, 90) / 1e3,
		(double)hist_percentile(h, 99) / 1e3,
		(double)hist_percentile(h, 99.9) / 1e3, (double)h->max / 1e3);
}

static void report_human(const struct cli *cl, const struct bresult *r,
			 const struct figures *fg)
{
	const struct bopts *o = &cl->o;
	FILE *f = stdout;
	fprintf(f, "natsbench %s against %s:%d (%d pubs, %d subs, %llu msgs x %zu B)\n",
		o->workload, o->host, o->port, o->pubs, o->subs,
		(unsigned long long)o->count, o->size);
	if (strcmp(r->status, "ok") != 0)
		fprintf(f, "  status %s%s%s\n", r->status, r->error[0] ? ": " : "",
			r->error);
	if (strcmp(r->status, "n/a") == 0)
		return;
	if (strcmp(o->workload, "idle") == 0) {
		fprintf(f, "  %d connections in %.2f s; server RSS %ld kB -> %ld kB\n",
			r->conns_open, r->elapsed_s, r->rss_before_kb, r->rss_after_kb);
		return;
	}
	fprintf(f, "  %llu msgs in %.3f s: %.0f msgs/s, %.1f MB/s",
		(unsigned long long)r->msgs, r->elapsed_s, fg->msgs_per_s, fg->mb_per_s);
	if (r->lost)
		fprintf(f, ", %llu lost", (unsigned long long)r->lost);
	fprintf(f, "\n");
	if (r->published > 0 && r->published != r->msgs)
		fprintf(f, "  published %llu in %.3f s: %.0f msgs/s\n",
			(unsigned long long)r->published, r->pub_elapsed_s,
			fg->pub_msgs_per_s);
	report_latency_human(f, &r->lat);
	fprintf(f, "  tool cpu %.2f s", fg->tool_cpu_s);
	if (o->server_pid)
		fprintf(f, ", server cpu %.2f s, server peak RSS %ld kB", fg->server_cpu_s,
			fg->server_hwm_kb);
	fprintf(f, "\n");
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("natsbench: free-port");
		return 1;
	}
	printf("%d\n", ntohs(a.sin_port));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "free-port") == 0)
		return free_port();
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	struct cli cl;
	if (cli_parse(&cl, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	struct bresult *r = malloc(sizeof(*r));
	if (r == NULL)
		return 1;
	work_result_init(r);
	int pid = cl.o.server_pid;
	double server_cpu0 = pid ? proc_cpu_s(pid) : -1;
	double tool_cpu0 = proc_self_cpu_s();
	int rc = cl.w->run(&cl.o, r);
	struct figures fg = { 0 };
	fg.msgs_per_s = per_s((double)r->msgs, r->elapsed_s);
	fg.mb_per_s = per_s((double)r->msgs * (double)cl.o.size / 1e6, r->elapsed_s);
	fg.pub_msgs_per_s = per_s((double)r->published, r->pub_elapsed_s);
	fg.tool_cpu_s = proc_self_cpu_s() - tool_cpu0;
	if (pid) {
		fg.server_cpu_s = proc_cpu_s(pid) - server_cpu0;
		fg.server_rss_kb = proc_status_kb(pid, "VmRSS");
		fg.server_hwm_kb = proc_status_kb(pid, "VmHWM");
	}
	if (!cl.quiet)
		report_human(&cl, r, &fg);
	report_json(&cl, r, &fg);
	free(r);
	return rc < 0 ? 1 : 0;
}
