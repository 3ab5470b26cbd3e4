/*
 * test_conf.c - the configuration file grammar (server/core/conf.c).
 *
 * Files and environment variables come from an in-memory conf_io, so every
 * include and $NAME case is deterministic.  Expected values were checked
 * against nats-server 2.9.10 (`nats-server -t`) where the grammar is subtle.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "env/env.h"
#include "lib/prng.h"

/* ---- an in-memory world ---- */

struct fake_file {
	const char *path;
	const char *text;
};

struct fake_env {
	const char *name;
	const char *value;
};

struct fake_world {
	const struct fake_file *files;
	size_t nfiles;
	const struct fake_env *env;
	size_t nenv;
	int reads;
};

static int fake_read(void *arg, struct mem *mem, const char *path, char **data, size_t *len)
{
	struct fake_world *w = arg;
	for (size_t i = 0; i < w->nfiles; i++) {
		if (strcmp(w->files[i].path, path) != 0)
			continue;
		size_t n = strlen(w->files[i].text);
		*data = mem_alloc(mem, n + 1);
		if (*data == NULL)
			return ENV_ENOMEM;
		memcpy(*data, w->files[i].text, n + 1);
		*len = n;
		w->reads++;
		return 0;
	}
	return ENV_ENOENT;
}

static const char *fake_env(void *arg, const char *name)
{
	struct fake_world *w = arg;
	for (size_t i = 0; i < w->nenv; i++) {
		if (strcmp(w->env[i].name, name) == 0)
			return w->env[i].value;
	}
	return NULL;
}

static struct mem g_mem;
static struct buf g_err;
static struct conf_doc g_doc;
static struct fake_world g_world;
static struct conf_io g_io;

static void setup(void)
{
	mem_init(&g_mem);
	buf_init(&g_err, &g_mem);
	memset(&g_doc, 0, sizeof(g_doc));
	memset(&g_world, 0, sizeof(g_world));
	g_io.read_file = fake_read;
	g_io.get_env = fake_env;
	g_io.arg = &g_world;
}

static void teardown(void)
{
	conf_doc_free(&g_doc);
	buf_free(&g_err);
	ck_assert_uint_eq(g_mem.live_bytes, 0);
}

/* Parses text named "t.conf"; returns the root or NULL (message in g_err). */
static const struct conf_node *parse(const char *text)
{
	conf_doc_free(&g_doc);
	buf_reset(&g_err);
	if (conf_parse_text(&g_doc, &g_mem, &g_io, "t.conf", text, strlen(text), &g_err) < 0)
		return NULL;
	return g_doc.root;
}

static const struct conf_node *parse_ok(const char *text)
{
	const struct conf_node *root = parse(text);
	ck_assert_msg(root != NULL, "parse failed: %s\n---\n%s", g_err.data, text);
	ck_assert_int_eq(root->type, CONF_MAP);
	return root;
}

/* Expects a parse error whose message contains want. */
static void parse_err(const char *text, const char *want)
{
	const struct conf_node *root = parse(text);
	ck_assert_msg(root == NULL, "parse succeeded, expected error \"%s\"\n---\n%s", want,
		      text);
	ck_assert_msg(g_err.data != NULL && strstr(g_err.data, want) != NULL,
		      "error \"%s\" does not contain \"%s\"", g_err.data, want);
}

static const struct conf_node *get(const struct conf_node *map, const char *key)
{
	const struct conf_node *n = conf_map_get(map, key);
	ck_assert_msg(n != NULL, "missing key %s", key);
	return n;
}

static int64_t get_int(const struct conf_node *map, const char *key)
{
	const struct conf_node *n = get(map, key);
	ck_assert_msg(n->type == CONF_INT, "%s is not an integer (type %d)", key, n->type);
	return n->u.i;
}

static const char *get_str(const struct conf_node *map, const char *key)
{
	const struct conf_node *n = get(map, key);
	ck_assert_msg(n->type == CONF_STRING, "%s is not a string (type %d)", key, n->type);
	ck_assert_uint_eq(strlen(n->u.str.s), n->u.str.len);
	return n->u.str.s;
}

static bool get_bool(const struct conf_node *map, const char *key)
{
	const struct conf_node *n = get(map, key);
	ck_assert_msg(n->type == CONF_BOOL, "%s is not a boolean", key);
	return n->u.b;
}

/* ---- key/value syntax ---- */

START_TEST(test_separators)
{
	const struct conf_node *r = parse_ok("a = 1\nb: 2\nc 3\nd=4\ne:5\n\"f\"\t6\n");
	ck_assert_int_eq(get_int(r, "a"), 1);
	ck_assert_int_eq(get_int(r, "b"), 2);
	ck_assert_int_eq(get_int(r, "c"), 3);
	ck_assert_int_eq(get_int(r, "d"), 4);
	ck_assert_int_eq(get_int(r, "e"), 5);
	ck_assert_int_eq(get_int(r, "f"), 6);
	ck_assert_uint_eq(r->u.map.n, 6);
}
END_TEST

START_TEST(test_blocks_without_separator)
{
	const struct conf_node *r = parse_ok("a { x = 1 }\nb: { x = 2 }\nc = { x = 3 }\n"
					     "d {\n  x = 4\n}\n");
	ck_assert_int_eq(get_int(get(r, "a"), "x"), 1);
	ck_assert_int_eq(get_int(get(r, "b"), "x"), 2);
	ck_assert_int_eq(get_int(get(r, "c"), "x"), 3);
	ck_assert_int_eq(get_int(get(r, "d"), "x"), 4);
}
END_TEST

START_TEST(test_quoted_keys)
{
	const struct conf_node *r = parse_ok("\"quoted key\": 5\n'single q' = 6\n"
					     "m { \"a b\": 7, 'c:d' = 8 }\n\"include\" = 9\n");
	ck_assert_int_eq(get_int(r, "quoted key"), 5);
	ck_assert_int_eq(get_int(r, "single q"), 6);
	ck_assert_int_eq(get_int(get(r, "m"), "a b"), 7);
	ck_assert_int_eq(get_int(get(r, "m"), "c:d"), 8);
	ck_assert_int_eq(get_int(r, "include"), 9);
}
END_TEST

START_TEST(test_terminators)
{
	const struct conf_node *r = parse_ok("listen = 127.0.0.1:4222; port: 4333\n"
					     "a = 1, b = 2\nm { x = 1; y = 2, z = 3 }\n");
	ck_assert_str_eq(get_str(r, "listen"), "127.0.0.1:4222");
	ck_assert_int_eq(get_int(r, "port"), 4333);
	ck_assert_int_eq(get_int(r, "a"), 1);
	ck_assert_int_eq(get_int(r, "b"), 2);
	ck_assert_int_eq(get_int(get(r, "m"), "z"), 3);
	parse_err("a = 1 b = 2\n", "after the value of \"a\"");
	parse_err("m { a = 1 b = 2 }\n", "t.conf:1:11:");
}
END_TEST

START_TEST(test_top_level_braces)
{
	const struct conf_node *r = parse_ok("{\n  port: 4222\n  name: x\n}\n");
	ck_assert_int_eq(get_int(r, "port"), 4222);
	ck_assert_str_eq(get_str(r, "name"), "x");
	r = parse_ok("{ port = 1 }");
	ck_assert_int_eq(get_int(r, "port"), 1);
	ck_assert_uint_eq(r->u.map.n, 1);
}
END_TEST

START_TEST(test_comments)
{
	const struct conf_node *r = parse_ok("# top\n// also\na = 1 # trailing\n"
					     "b = 2 // trailing\n"
					     "m {\n # inside\n c = 3 // x\n}\n"
					     "s = foo#bar\nt = x//y\n");
	ck_assert_int_eq(get_int(r, "a"), 1);
	ck_assert_int_eq(get_int(r, "b"), 2);
	ck_assert_int_eq(get_int(get(r, "m"), "c"), 3);
	/* A # or // glued to a bare word is part of it, as in the reference. */
	ck_assert_str_eq(get_str(r, "s"), "foo#bar");
	ck_assert_str_eq(get_str(r, "t"), "x//y");
	ck_assert_uint_eq(r->u.map.n, 5);
}
END_TEST

START_TEST(test_duplicate_keys)
{
	const struct conf_node *r = parse_ok("port = 1\nPort = 2\nport = 3\nother = 4\n");
	ck_assert_uint_eq(r->u.map.n, 4);   /* all kept, in file order */
	ck_assert_int_eq(get_int(r, "port"), 3);
	ck_assert_int_eq(get_int(r, "PORT"), 3);   /* lookup ignores case */
	ck_assert_ptr_eq(conf_map_get(r, "missing"), NULL);
	ck_assert_ptr_eq(conf_map_get(NULL, "x"), NULL);
	ck_assert_ptr_eq(conf_map_get(get(r, "other"), "x"), NULL);
	ck_assert_str_eq(r->u.map.kv[1].key, "Port");
}
END_TEST

/* ---- values ---- */

START_TEST(test_arrays)
{
	const struct conf_node *r = parse_ok(
		"a = [1, \"two\", three, 4.5]\n"
		"b = [\n  1, # one\n  2 // two\n  3\n  'x'\n]\n"
		"c = [ {u: a}, {u: b} ]\n"
		"d = [\n {u: a}\n {u: b}\n]\n"
		"e = []\nf = [[1, [2]], []]\ng = [1, 2,]\nh = [1, 2]\n");
	const struct conf_node *a = get(r, "a");
	ck_assert_int_eq(a->type, CONF_ARRAY);
	ck_assert_uint_eq(a->u.arr.n, 4);
	ck_assert_int_eq(a->u.arr.items[0]->u.i, 1);
	ck_assert_str_eq(a->u.arr.items[1]->u.str.s, "two");
	ck_assert_str_eq(a->u.arr.items[2]->u.str.s, "three");
	ck_assert(a->u.arr.items[3]->type == CONF_FLOAT && a->u.arr.items[3]->u.f == 4.5);
	ck_assert_uint_eq(get(r, "b")->u.arr.n, 4);
	ck_assert_str_eq(get(r, "b")->u.arr.items[3]->u.str.s, "x");
	ck_assert_str_eq(get_str(get(r, "c")->u.arr.items[1], "u"), "b");
	ck_assert_uint_eq(get(r, "d")->u.arr.n, 2);
	ck_assert_uint_eq(get(r, "e")->u.arr.n, 0);
	ck_assert_uint_eq(get(r, "f")->u.arr.items[0]->u.arr.items[1]->u.arr.n, 1);
	ck_assert_uint_eq(get(r, "g")->u.arr.n, 2);
	/* The reference rejects [1, 2] (no space before ']'); we accept it. */
	ck_assert_int_eq(get(r, "h")->u.arr.items[1]->type, CONF_INT);
	parse_err("a = [1,,2]\n", "unexpected array value terminator");
	parse_err("a = [,1]\n", "unexpected array value terminator");
	parse_err("a = [{u: a} {u: b}]\n", "array value terminator");
	parse_err("a = [1 2]\n", "array value terminator");
	parse_err("a = [1, 2\n", "t.conf:1:5: array is not closed");
}
END_TEST

START_TEST(test_maps)
{
	const struct conf_node *r = parse_ok("m = { a: 1, b: { c: [x, y] } }\n"
					     "n {\n  a =\n  1\n}\nempty {}\n");
	ck_assert_str_eq(get(get(get(r, "m"), "b"), "c")->u.arr.items[1]->u.str.s, "y");
	/* Inside maps a value may follow on the next line. */
	ck_assert_int_eq(get_int(get(r, "n"), "a"), 1);
	ck_assert_uint_eq(get(r, "empty")->u.map.n, 0);
	parse_err("m { a = 1\n", "t.conf:1:3: map is not closed");
	parse_err("m { a }\n", "expected a value after key \"a\"");
	parse_err("m { = 1 }\n", "unexpected key separator");
	parse_err("m { a = 1 ] }\n", "after the value of \"a\", but got ']'");
}
END_TEST

START_TEST(test_raw_blocks)
{
	const struct conf_node *r = parse_ok("b (\nraw { text } here\n  more )\n)\nafter = 1\n");
	const struct conf_node *b = get(r, "b");
	ck_assert_int_eq(b->type, CONF_STRING);
	ck_assert_str_eq(b->u.str.s, "\nraw { text } here\n  more )\n");
	ck_assert_int_eq(get_int(r, "after"), 1);
	r = parse_ok("b = (\nx\n)");
	ck_assert_str_eq(get_str(r, "b"), "\nx\n");
	parse_err("b (\nnever closed )\n", "unterminated block");
}
END_TEST

START_TEST(test_double_quoted_strings)
{
	const struct conf_node *r = parse_ok(
		"a = \"tab\\there\"\nb = \"nl\\n\\r\"\nc = \"q\\\"q\"\nd = \"back\\\\slash\"\n"
		"e = \"\\x41\\x62\"\nf = \"caf\\u00e9\"\ng = \"\"\nh = \"two\nlines\"\n"
		"i = \"true\"\nj = \"4222\"\nk = \"a # not a comment\"\n");
	ck_assert_str_eq(get_str(r, "a"), "tab\there");
	ck_assert_str_eq(get_str(r, "b"), "nl\n\r");
	ck_assert_str_eq(get_str(r, "c"), "q\"q");
	ck_assert_str_eq(get_str(r, "d"), "back\\slash");
	ck_assert_str_eq(get_str(r, "e"), "Ab");
	ck_assert_str_eq(get_str(r, "f"), "caf\xc3\xa9");
	ck_assert_str_eq(get_str(r, "g"), "");
	ck_assert_str_eq(get_str(r, "h"), "two\nlines");
	ck_assert_str_eq(get_str(r, "i"), "true");   /* quotes keep it a string */
	ck_assert_str_eq(get_str(r, "j"), "4222");
	ck_assert_str_eq(get_str(r, "k"), "a # not a comment");
	ck_assert(get(r, "a")->quoted);
	parse_err("a = \"bad \\q escape\"\n", "invalid escape character 'q'");
	parse_err("a = \"\\x4\"\n", "two hexadecimal digits");
	parse_err("a = \"\\u12\"\n", "four hexadecimal digits");
	parse_err("a = \"never closed\n", "t.conf:1:5: unterminated quoted string");
	parse_err("a = \"\"\"x\"\"\"\n", "after the value of \"a\"");
}
END_TEST

START_TEST(test_single_quoted_strings)
{
	const struct conf_node *r = parse_ok("a = 'raw \\n $HOME'\nb = ''\n");
	ck_assert_str_eq(get_str(r, "a"), "raw \\n $HOME");
	ck_assert_str_eq(get_str(r, "b"), "");
	ck_assert(get(r, "a")->quoted);
	parse_err("a = 'open\n", "unterminated quoted string");
}
END_TEST

START_TEST(test_bare_strings)
{
	const struct conf_node *r = parse_ok(
		"a = hello\nb = 127.0.0.1:4222\nc = nats://u:p@host:4222\nd = localhost:4222\n"
		"e = a=b\nf = abc'\ng = esc\\tx\nh = 4222abc\ni = 10mins\nj = 1.2.3.4\n"
		"k = deliver.acc.hub.import_mirror.>\n");
	ck_assert_str_eq(get_str(r, "a"), "hello");
	ck_assert(!get(r, "a")->quoted);
	ck_assert_str_eq(get_str(r, "b"), "127.0.0.1:4222");
	ck_assert_str_eq(get_str(r, "c"), "nats://u:p@host:4222");
	ck_assert_str_eq(get_str(r, "d"), "localhost:4222");
	ck_assert_str_eq(get_str(r, "e"), "a=b");
	ck_assert_str_eq(get_str(r, "f"), "abc");   /* a quote ends a bare word */
	ck_assert_str_eq(get_str(r, "g"), "esc\tx");
	ck_assert_str_eq(get_str(r, "h"), "4222abc");
	ck_assert_str_eq(get_str(r, "i"), "10mins");
	ck_assert_str_eq(get_str(r, "j"), "1.2.3.4");
	ck_assert_str_eq(get_str(r, "k"), "deliver.acc.hub.import_mirror.>");
}
END_TEST

START_TEST(test_integers_and_suffixes)
{
	static const struct { const char *text; int64_t value; } cases[] = {
		{ "0", 0 }, { "4222", 4222 }, { "-1", -1 },
		{ "1k", 1000 }, { "1K", 1000 }, { "1kb", 1024 }, { "1KB", 1024 },
		{ "1ki", 1024 }, { "1kib", 1024 }, { "1m", 1000000 }, { "1mb", 1048576 },
		{ "1MiB", 1048576 }, { "1g", 1000000000 }, { "1GB", 1073741824 },
		{ "2t", 2000000000000LL }, { "1tb", 1LL << 40 }, { "1p", 1000000000000000LL },
		{ "1pb", 1LL << 50 }, { "1e", 1000000000000000000LL }, { "1eb", 1LL << 60 },
		{ "-2k", -2000 }, { "9223372036854775807", INT64_MAX },
		{ "-9223372036854775808", INT64_MIN },
	};
	char text[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "v = %s\n", cases[i].text);
		const struct conf_node *r = parse_ok(text);
		ck_assert_msg(get_int(r, "v") == cases[i].value, "%s gave %lld", cases[i].text,
			      (long long)get_int(r, "v"));
		ck_assert_str_eq(get(r, "v")->raw, cases[i].text);
		bool digits = strspn(cases[i].text, "-0123456789") == strlen(cases[i].text);
		ck_assert(get(r, "v")->has_suffix == !digits);
	}
	parse_err("v = 9223372036854775808\n", "out of the range");
	parse_err("v = 10eb\n", "out of the range");
	parse_err("v = 1kbb\n", "invalid size suffix");
	parse_err("v = 123-45\n", "Zulu form");
	parse_err("v = -x\n", "expected a digit after '-'");
	parse_err("v = 1k5\n", "after the value of \"v\"");
}
END_TEST

START_TEST(test_duration_gotcha)
{
	/* Unquoted 2m is two million, not two minutes; 30s and friends are
	 * strings because they are not numbers. */
	const struct conf_node *r = parse_ok("a = 2m\nb = \"2m\"\nc = 30s\nd = 1h30m\n"
					     "e = 500ms\n");
	ck_assert_int_eq(get_int(r, "a"), 2000000);
	ck_assert(get(r, "a")->has_suffix);
	ck_assert_str_eq(get_str(r, "b"), "2m");
	ck_assert_str_eq(get_str(r, "c"), "30s");
	ck_assert_str_eq(get_str(r, "d"), "1h30m");
	ck_assert_str_eq(get_str(r, "e"), "500ms");
}
END_TEST

START_TEST(test_floats_bools_dates)
{
	const struct conf_node *r = parse_ok(
		"f = 10.5\ng = -0.25\nt1 = true\nt2 = YES\nt3 = On\nf1 = false\nf2 = no\n"
		"f3 = OFF\nd = 2023-01-31T23:59:59Z\n");
	ck_assert(get(r, "f")->type == CONF_FLOAT && get(r, "f")->u.f == 10.5);
	ck_assert(get(r, "g")->u.f == -0.25);
	ck_assert_str_eq(get(r, "f")->raw, "10.5");
	ck_assert(get_bool(r, "t1") && get_bool(r, "t2") && get_bool(r, "t3"));
	ck_assert(!get_bool(r, "f1") && !get_bool(r, "f2") && !get_bool(r, "f3"));
	ck_assert_str_eq(get(r, "t2")->raw, "YES");
	ck_assert_int_eq(get(r, "d")->type, CONF_DATETIME);
	ck_assert_str_eq(get(r, "d")->u.str.s, "2023-01-31T23:59:59Z");
	parse_err("d = 2023-02-30T00:00:00Z\n", "Zulu formatted DateTime");
	parse_err("d = 2023-01-01\n", "ISO8601");
	parse_err("f = .5\n", "floats must start with a digit");
	parse_err("f = 1.x\n", "digit after the '.'");
}
END_TEST

/* ---- variables ---- */

START_TEST(test_variables_scoping)
{
	const struct conf_node *r = parse_ok(
		"VAR = \"top\"\nN = 4222\n"
		"a = $VAR\nport = $N\n"
		"m {\n  VAR = inner\n  x = $VAR\n  y = $N\n  sub { z = $VAR }\n}\n"
		"after = $VAR\nlist = [$N, $VAR]\n");
	ck_assert_str_eq(get_str(r, "a"), "top");
	ck_assert_int_eq(get_int(r, "port"), 4222);
	ck_assert_str_eq(get_str(get(r, "m"), "x"), "inner");
	ck_assert_int_eq(get_int(get(r, "m"), "y"), 4222);
	ck_assert_str_eq(get_str(get(get(r, "m"), "sub"), "z"), "inner");
	ck_assert_str_eq(get_str(r, "after"), "top");   /* inner scope is gone */
	ck_assert_int_eq(get(r, "list")->u.arr.items[0]->u.i, 4222);
	/* Definitions used as variables are marked; the others are not. */
	ck_assert(get(r, "VAR")->used_as_var);
	ck_assert(get(r, "N")->used_as_var);
	ck_assert(!get(r, "a")->used_as_var);
	/* Copies take the position of the reference. */
	ck_assert_int_eq(get(r, "port")->line, 4);
}
END_TEST

START_TEST(test_variables_copy_structures)
{
	const struct conf_node *r = parse_ok("T = { a: [1, {b: x}] }\nu = $T\nv = $T\n");
	const struct conf_node *u = get(r, "u"), *v = get(r, "v");
	ck_assert_int_eq(u->type, CONF_MAP);
	ck_assert_str_eq(get_str(get(u, "a")->u.arr.items[1], "b"), "x");
	ck_assert_int_eq(get(u, "a")->u.arr.items[0]->u.i, 1);
	/* Each reference is a separate copy (freed separately). */
	ck_assert_ptr_ne(get(u, "a"), get(v, "a"));
	ck_assert_ptr_ne(get(u, "a"), get(get(r, "T"), "a"));
}
END_TEST

START_TEST(test_variables_errors)
{
	parse_err("a = 1\nb = 2\nport = $NOPE\n",
		  "t.conf:3:1: variable reference for 'NOPE' on line 3 can not be found");
	/* Only earlier definitions count. */
	parse_err("a = $LATER\nLATER = 1\n", "variable reference for 'LATER'");
	/* A block's keys are not visible outside it. */
	parse_err("m { b = 1 }\nport = $b\n", "variable reference for 'b'");
	/* Case matters for variables. */
	parse_err("Var = 1\nx = $VAR\n", "variable reference for 'VAR'");
}
END_TEST

START_TEST(test_variables_environment)
{
	static const struct fake_env env[] = {
		{ "PORT", "4222" }, { "HOST", "example.com" }, { "LIST", "[1, 2]" },
		{ "SIZE", "1GB" }, { "EMPTY", "" }, { "BAD", "a b" }, { "SELF", "$SELF" },
		{ "VAR", "from-env" }, { "INDIRECT", "$PORT" },
	};
	g_world.env = env;
	g_world.nenv = sizeof(env) / sizeof(env[0]);
	const struct conf_node *r = parse_ok(
		"port = $PORT\nhost = $HOST\nlist = $LIST\nsize = $SIZE\ne = $EMPTY\n"
		"VAR = file\nv = $VAR\nq = \"$PORT\"\ni = $INDIRECT\n");
	ck_assert_int_eq(get_int(r, "port"), 4222);   /* parsed as a value */
	ck_assert_str_eq(get_str(r, "host"), "example.com");
	ck_assert_uint_eq(get(r, "list")->u.arr.n, 2);
	ck_assert_int_eq(get_int(r, "size"), 1073741824);
	ck_assert_str_eq(get_str(r, "e"), "");
	ck_assert_str_eq(get_str(r, "v"), "file");   /* the file wins */
	ck_assert_str_eq(get_str(r, "q"), "$PORT");  /* no expansion in quotes */
	ck_assert_int_eq(get_int(r, "i"), 4222);
	ck_assert_str_eq(get(r, "port")->file, "t.conf");
	ck_assert_int_eq(get(r, "port")->line, 1);
	parse_err("x = $BAD\n", "variable reference for 'BAD' on line 1 could not be parsed");
	parse_err("x = $SELF\n", "nests too deeply");
}
END_TEST

START_TEST(test_bcrypt_literal)
{
	const struct conf_node *r = parse_ok(
		"p = $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG\n");
	ck_assert_str_eq(get_str(r, "p"),
			 "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG");
	/* Like the reference, only the $2a$ prefix is special. */
	parse_err("p = $2b$11$abc\n", "variable reference for '2b$11$abc'");
}
END_TEST

/* ---- includes ---- */

START_TEST(test_include_basic)
{
	static const struct fake_file files[] = {
		{ "etc/main.conf",
		  "port: 4222\ninclude ./accounts.conf\nleafnodes {\n  include \"sub/leaf.conf\"\n"
		  "  extra = $LEAFVAR\n}\ninclude 'quoted.conf'\nafter = $FROM_INC\n" },
		{ "etc/accounts.conf",
		  "accounts { A { users = [ {user: a} ] } }\nFROM_INC = 7\n" },
		{ "etc/sub/leaf.conf", "port: 7422\nLEAFVAR = yes\ninclude ../deep.conf\n" },
		{ "etc/deep.conf", "deep = 1\n" },
		{ "etc/quoted.conf", "q = 1\n" },
	};
	g_world.files = files;
	g_world.nfiles = sizeof(files) / sizeof(files[0]);
	ck_assert_int_eq(conf_parse_file(&g_doc, &g_mem, &g_io, "etc/main.conf", &g_err), 0);
	const struct conf_node *r = g_doc.root;
	ck_assert_int_eq(get_int(r, "port"), 4222);
	const struct conf_node *acc = get(r, "accounts");
	ck_assert_str_eq(acc->file, "etc/accounts.conf");
	ck_assert_int_eq(acc->line, 1);
	const struct conf_node *leaf = get(r, "leafnodes");
	ck_assert_int_eq(get_int(leaf, "port"), 7422);
	ck_assert_str_eq(get(leaf, "port")->file, "etc/sub/leaf.conf");
	ck_assert(get_bool(leaf, "extra"));   /* included keys are variables too */
	ck_assert_int_eq(get_int(leaf, "deep"), 1);
	ck_assert_int_eq(get_int(r, "q"), 1);
	ck_assert_int_eq(get_int(r, "after"), 7);
	/* Included keys sit where the include was. */
	ck_assert_str_eq(r->u.map.kv[1].key, "accounts");
	ck_assert_uint_eq(g_doc.nfiles, 5);
	ck_assert_int_eq(g_world.reads, 5);
}
END_TEST

START_TEST(test_include_errors)
{
	static const struct fake_file files[] = {
		{ "a.conf", "x = 1\ninclude b.conf\n" },
		{ "b.conf", "y = 1\ninclude ./a.conf\n" },
		{ "self.conf", "include self.conf\n" },
		{ "bad.conf", "ok = 1\nbroken = [\n" },
		{ "scope.conf", "z = $OUTER\n" },
	};
	g_world.files = files;
	g_world.nfiles = sizeof(files) / sizeof(files[0]);
	parse_err("include a.conf\n", "b.conf:2:1: include cycle");
	parse_err("include self.conf\n", "self.conf:1:1: include cycle");
	parse_err("m {\n  include missing.conf\n}\n",
		  "t.conf:2:3: error parsing include file 'missing.conf'");
	parse_err("include bad.conf\n", "bad.conf:2:10: array is not closed");
	/* An included file does not see the includer's variables. */
	parse_err("OUTER = 1\ninclude scope.conf\n", "scope.conf:1:1: variable reference");
	parse_err("include\n", "expected an include path");
	parse_err("include [x]\n", "expected an include path");
	/* Without file access includes fail cleanly. */
	conf_doc_free(&g_doc);
	buf_reset(&g_err);
	ck_assert_int_eq(conf_parse_text(&g_doc, &g_mem, NULL, "t.conf", "include a.conf", 14,
					 &g_err), -1);
	ck_assert_ptr_ne(strstr(g_err.data, "no file access"), NULL);
}
END_TEST

START_TEST(test_include_fanout_bounded)
{
	/* Each file includes the next twice: 2^20 parses without a bound. */
	static char texts[21][64];
	static struct fake_file files[21];
	for (int i = 0; i < 21; i++) {
		snprintf(texts[i], sizeof(texts[i]), "include f%d.conf\ninclude f%d.conf\n",
			 i + 1, i + 1);
		files[i].text = texts[i];
		static char names[21][16];
		snprintf(names[i], sizeof(names[i]), "f%d.conf", i);
		files[i].path = names[i];
	}
	g_world.files = files;
	g_world.nfiles = 21;
	parse_err("include f0.conf\n", "include");
	ck_assert_int_le(g_world.reads, 300);
}
END_TEST

START_TEST(test_parse_file_missing)
{
	ck_assert_int_eq(conf_parse_file(&g_doc, &g_mem, &g_io, "nope.conf", &g_err), -1);
	ck_assert_str_eq(g_err.data, "nope.conf: error opening config file: no such file or "
			 "directory");
	ck_assert_ptr_eq(g_doc.root, NULL);
}
END_TEST

/* ---- errors and limits ---- */

START_TEST(test_error_positions)
{
	parse_err("a = 1\nb = 2\nport\n", "t.conf:3:1: expected a value after key \"port\"");
	parse_err("a = 1\nport =\n", "t.conf:2:1: expected a value after key \"port\"");
	parse_err("m {\n  x = \"\\q\"\n}\n", "t.conf:2:9: invalid escape");
	parse_err("x = 1\n: 2\n", "t.conf:2:1: unexpected key separator ':'");
	parse_err("a = 1\n\n   b = 1 2\n", "t.conf:3:10:");
	parse_err("a = ;\n", "expected a value after key \"a\"");
}
END_TEST

START_TEST(test_depth_limit)
{
	char text[512];
	size_t n = 0;
	n += (size_t)snprintf(text, sizeof(text), "a = ");
	for (int i = 0; i < 100; i++)
		text[n++] = '[';
	text[n] = '\0';
	parse_err(text, "nested too deeply");
	/* 60 levels are fine. */
	n = (size_t)snprintf(text, sizeof(text), "a = ");
	for (int i = 0; i < 60; i++)
		text[n++] = '[';
	for (int i = 0; i < 60; i++)
		text[n++] = ']';
	text[n] = '\0';
	parse_ok(text);
	/* A variable cannot be used to nest deeper than the limit. */
	n = (size_t)snprintf(text, sizeof(text), "V = ");
	for (int i = 0; i < 40; i++)
		text[n++] = '[';
	for (int i = 0; i < 40; i++)
		text[n++] = ']';
	n += (size_t)snprintf(text + n, sizeof(text) - n, "\nW = [[[[[[[[[[[[[[[[[[[[[[[[[[$V"
			      "]]]]]]]]]]]]]]]]]]]]]]]]]]\n");
	parse_err(text, "nests too deeply");
}
END_TEST

START_TEST(test_copy_blowup_bounded)
{
	/* Each line holds ten copies of the previous: 10^9 values unbounded. */
	char text[2048];
	size_t n = (size_t)snprintf(text, sizeof(text), "V0 = [1,2,3,4,5,6,7,8,9,10]\n");
	for (int i = 1; i < 10; i++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "V%d = [", i);
		for (int j = 0; j < 10; j++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "$V%d,", i - 1);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "]\n");
	}
	parse_err(text, "configuration too large");
}
END_TEST

START_TEST(test_nul_and_unicode_space)
{
	const char with_nul[] = "a = 1\nb = \0x\n";
	conf_doc_free(&g_doc);
	ck_assert_int_eq(conf_parse_text(&g_doc, &g_mem, &g_io, "t.conf", with_nul,
					 sizeof(with_nul) - 1, &g_err), -1);
	ck_assert_ptr_ne(strstr(g_err.data, "t.conf:2:5: NUL byte"), NULL);
	/* A no-break space separates a key from its value, as Go's IsSpace. */
	const struct conf_node *r = parse_ok("key\xc2\xa0value\n");
	ck_assert_str_eq(get_str(r, "key"), "value");
}
END_TEST

START_TEST(test_alloc_failures)
{
	static const char text[] =
		"a = 1\nb = [1, \"two\", {c: $a}]\nm { n { o = 2m } }\ns = \"esc\\t\"\n";
	for (uint64_t k = 1; k < 200; k++) {
		mem_init(&g_mem);
		g_mem.fail_at = k;
		struct buf err;
		buf_init(&err, &g_mem);
		struct conf_doc doc;
		int rc = conf_parse_text(&doc, &g_mem, &g_io, "t.conf", text, strlen(text), &err);
		if (rc == 0)
			conf_doc_free(&doc);
		buf_free(&err);
		ck_assert_uint_eq(g_mem.live_bytes, 0);
	}
	mem_init(&g_mem);
}
END_TEST

/* Random and mutated inputs: never crash, never leak, always an answer. */
START_TEST(test_garbage_never_crashes)
{
	static const char *const seeds[] = {
		"port: 4222\njetstream { store_dir=\"./s\"\n domain=hub }\n"
		"leafnodes { port: 7422 }\n"
		"include ./accounts.conf\n",
		"a = 1\nb = $a\nc { d = [1, 2, {e: \"x\\ty\\x41\"}], f: $b } # c\ng = (\nraw\n)\n"
		"h = 2023-01-01T00:00:00Z\ni = 1.5\nj = 127.0.0.1:4222\nk = 2m\nl = '$x'\n",
		"accounts { A: { users: [{user: a, password: a}], jetstream: enabled } }\n",
	};
	static const struct fake_file files[] = {
		{ "accounts.conf", "accounts { A { } }\ninclude accounts.conf\n" },
	};
	static const char alphabet[] = "{}[]()$\"'\\:=,;#/\n \t.-09kmMbBiIe";
	struct prng p;
	char text[1024];
	g_world.files = files;
	g_world.nfiles = 1;
	prng_seed(&p, 7);
	for (int it = 0; it < 20000; it++) {
		const char *s = seeds[prng_below(&p, 3)];
		size_t n = strlen(s);
		memcpy(text, s, n);
		for (int m = 0, muts = 1 + (int)prng_below(&p, 6); m < muts; m++) {
			size_t pos = prng_below(&p, n);
			char c = prng_below(&p, 4) ? alphabet[prng_below(&p, sizeof(alphabet) - 1)]
						   : (char)prng_below(&p, 256);
			if (prng_below(&p, 2) && n + 1 < sizeof(text)) {
				memmove(text + pos + 1, text + pos, n - pos);
				n++;
			}
			text[pos] = c;
		}
		if (prng_below(&p, 50) == 0) {   /* pure noise */
			n = prng_below(&p, sizeof(text));
			for (size_t i = 0; i < n; i++)
				text[i] = (char)prng_below(&p, 256);
		}
		struct conf_doc doc;
		buf_reset(&g_err);
		int rc = conf_parse_text(&doc, &g_mem, &g_io, "g.conf", text, n, &g_err);
		if (rc == 0)
			conf_doc_free(&doc);
		else
			ck_assert(g_err.len > 0 && (strncmp(g_err.data, "g.conf:", 7) == 0 ||
						    strstr(g_err.data, "accounts.conf") != NULL));
		/* Only the error buffer may still hold memory. */
		ck_assert_uint_eq(g_mem.live_bytes, g_err.data != NULL ? g_err.cap + 1 : 0);
	}
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("grammar");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_separators);
	tcase_add_test(tc, test_blocks_without_separator);
	tcase_add_test(tc, test_quoted_keys);
	tcase_add_test(tc, test_terminators);
	tcase_add_test(tc, test_top_level_braces);
	tcase_add_test(tc, test_comments);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_arrays);
	tcase_add_test(tc, test_maps);
	tcase_add_test(tc, test_raw_blocks);
	tcase_add_test(tc, test_double_quoted_strings);
	tcase_add_test(tc, test_single_quoted_strings);
	tcase_add_test(tc, test_bare_strings);
	tcase_add_test(tc, test_integers_and_suffixes);
	tcase_add_test(tc, test_duration_gotcha);
	tcase_add_test(tc, test_floats_bools_dates);
	tcase_add_test(tc, test_variables_scoping);
	tcase_add_test(tc, test_variables_copy_structures);
	tcase_add_test(tc, test_variables_errors);
	tcase_add_test(tc, test_variables_environment);
	tcase_add_test(tc, test_bcrypt_literal);
	tcase_add_test(tc, test_include_basic);
	tcase_add_test(tc, test_include_errors);
	tcase_add_test(tc, test_include_fanout_bounded);
	tcase_add_test(tc, test_parse_file_missing);
	tcase_add_test(tc, test_error_positions);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_copy_blowup_bounded);
	tcase_add_test(tc, test_nul_and_unicode_space);
	tcase_add_test(tc, test_alloc_failures);
	tcase_add_test(tc, test_garbage_never_crashes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
