/*
 * env_common.c - implementation-independent helpers of the env seam.
 * Pure functions only; linked into the server library.
 */
#include "env.h"

const char *env_strerror(int err)
{
	switch (err) {
	case ENV_OK: return "ok";
	case ENV_EAGAIN: return "would block";
	case ENV_ECLOSED: return "connection closed";
	case ENV_EADDRINUSE: return "address already in use";
	case ENV_ENOENT: return "no such file or directory";
	case ENV_EIO: return "input/output error";
	case ENV_ENOSPC: return "no space left on device";
	case ENV_EINVAL: return "invalid argument";
	case ENV_EREFUSED: return "connection refused";
	case ENV_ENOMEM: return "out of memory";
	case ENV_EEXIST: return "file exists";
	default: return "error";
	}
}
