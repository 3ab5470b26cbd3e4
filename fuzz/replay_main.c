/*
 * replay_main.c - runs a harness over saved inputs, without libFuzzer.
 *
 *   replay_<target> PATH...
 *
 * Each PATH is a file or a folder; a folder's files (not its sub-folders
 * and not names starting with '.') are run in name order, so a failure
 * names the same input on every machine.  Each input is copied into a
 * buffer of exactly its size, so a sanitizer build catches reads past it.
 * Exit status: 0 when every input ran, 1 when a path could not be read or
 * no input was found at all (a mistyped corpus path must not pass); a
 * broken property aborts inside the harness.
 *
 * This is how CI keeps every corpus entry and every past crash fixed with
 * the ordinary gcc build (meson suite fuzz-regress).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	unsigned char *data = malloc(cap);
	size_t n;
	while (data != NULL && (n = fread(data + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			unsigned char *bigger = realloc(data, cap * 2);
			if (bigger == NULL)
				free(data);
			data = bigger;
			cap *= 2;
		}
	}
	int failed = ferror(f);
	fclose(f);
	if (data == NULL || failed) {
		fprintf(stderr, "replay: %s: read failed\n", path);
		free(data);
		return -1;
	}
	/* Exactly len bytes, so an overread is caught. */
	unsigned char *exact = malloc(len > 0 ? len : 1);
	if (exact == NULL) {
		free(data);
		return -1;
	}
	memcpy(exact, data, len);
	free(data);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int replay_select(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* Returns the number of inputs run, or -1. */
static long replay_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, replay_select, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	long count = 0;
	int status = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (status == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) < 0)
				status = -1;
			else
				count++;
		}
		free(names[i]);
	}
	free(names);
	return status < 0 ? -1 : count;
}

int main(int argc, char **argv)
{
	long total = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) == 0 ? 1 : -1;
		if (n < 0)
			return 1;
		printf("replay: %ld inputs from %s\n", n, argv[i]);
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	printf("replay: %ld inputs, no failure\n", total);
	return 0;
}
