/*
 * disk.h - a server's virtual disk: files in memory with a written layer
 * and a synced layer.
 *
 * Writes change the written layer and are remembered as pending operations
 * until the file is synced; sync makes the written layer durable.  A crash
 * keeps, for each file, the synced layer plus (when torn writes are on) a
 * random prefix of the pending operations, the last of them possibly cut
 * short; a file never synced since it was created disappears.  Directory
 * operations (create, rename, remove) are durable when they return.
 *
 * Faults, each drawn from the disk stream: failed reads and writes (EIO),
 * short reads and writes, failed syncs, a capacity (ENOSPC beyond it), and
 * bit flips injected into stored bytes.  Paths are absolute after
 * normalisation (relative ones are taken from "/").
 */
#ifndef SIM_DISK_H
#define SIM_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

struct sim_file;

struct sim_disk_faults {
	uint32_t read_error_ppm;
	uint32_t write_error_ppm;
	uint32_t short_read_ppm;
	uint32_t short_write_ppm;
	uint32_t sync_error_ppm;
	uint64_t capacity_bytes;     /* 0 = unlimited */
	bool torn_writes;            /* a crash may keep part of pending writes */
};

struct sim_disk {
	struct sim_file **files;     /* linked into the tree */
	uint32_t nfiles;
	char **dirs;                 /* directory paths, "/" implicit */
	uint32_t ndirs;
	uint64_t used_bytes;         /* written layer of every live file */
	struct sim_disk_faults faults;
	struct sim_rng *rng;         /* borrowed: the world's disk stream */
};

struct sim_disk *sim_disk_new(struct sim_rng *rng);
void sim_disk_free(struct sim_disk *d);

/* Normalises path into out ("/a/b"); -1 when too long. */
int sim_disk_path(const char *path, char *out, size_t cap);

/* Returns a file (reference counted) or a negative env_err. */
int sim_disk_open(struct sim_disk *d, const char *path, unsigned flags,
		  struct sim_file **out);
void sim_disk_close(struct sim_disk *d, struct sim_file *f);
long sim_disk_pread(struct sim_disk *d, struct sim_file *f, void *buf,
		    size_t len, uint64_t off);
long sim_disk_pwrite(struct sim_disk *d, struct sim_file *f, const void *buf,
		     size_t len, uint64_t off);
int sim_disk_sync(struct sim_disk *d, struct sim_file *f);
int sim_disk_truncate(struct sim_disk *d, struct sim_file *f, uint64_t size);
int64_t sim_disk_size(const struct sim_file *f);
int sim_disk_rename(struct sim_disk *d, const char *from, const char *to);
int sim_disk_remove(struct sim_disk *d, const char *path);
int sim_disk_mkdir(struct sim_disk *d, const char *path);
/* Calls cb for each entry of the directory in name order. */
int sim_disk_list(struct sim_disk *d, const char *path,
		  void (*cb)(void *arg, const char *name), void *arg);

/* Applies a crash.  lost (may be NULL) is called for each file that lost
 * data, with the bytes lost; returns the number of such files. */
uint32_t sim_disk_crash(struct sim_disk *d,
			void (*lost)(void *arg, const char *path,
				     uint64_t bytes),
			void *arg);
/* Removes every file and directory; returns the number of files. */
uint32_t sim_disk_wipe(struct sim_disk *d);
/* Flips one random bit of path (NULL = a random non-empty file) in both
 * layers.  Writes "path@offset^bit" into what; -1 when no file fits. */
int sim_disk_bitflip(struct sim_disk *d, const char *path, char *what,
		     size_t cap);

/* Reads the written layer of a file (tests, tools); -1 if absent. */
long sim_disk_peek(struct sim_disk *d, const char *path, void *buf,
		   size_t cap);

#endif
