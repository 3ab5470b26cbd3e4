/*
 * bench_proc.h - what /proc says about another process (the server under
 * test): resident memory and CPU time.  Linux only, like the tool.
 */
#ifndef BENCH_PROC_H
#define BENCH_PROC_H

/* A "kB" field of /proc/<pid>/status (e.g. "VmRSS", "VmHWM"); -1 when
 * unreadable. */
long proc_status_kb(int pid, const char *field);
/* User plus system CPU seconds used so far; -1 when unreadable. */
double proc_cpu_s(int pid);
/* This process's own user plus system CPU seconds, all threads. */
double proc_self_cpu_s(void);

#endif
