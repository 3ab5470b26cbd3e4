#!/usr/bin/env bash
# The env-seam lint: fails when server code outside server/env and
# server/main.c reaches the OS directly or keeps mutable global state.
#
# It reads the compiled objects of the server library, so formatting,
# macros or indirection cannot hide a call:
#   * an undefined symbol from the forbidden list (time, sockets, files,
#     randomness, environment, sleeping, threads, printing) is an OS call;
#   * a symbol in a data or bss section (nm types B b D d C) is a mutable
#     global or a function-local static; constant tables live in rodata.
# A grep over the sources backs it up for calls the compiler inlined.
#
# usage: ci/lint.sh LIBRARY.a [SOURCE_ROOT [STAMP]]  (STAMP is touched on success)
set -euo pipefail
lib=${1:?usage: ci/lint.sh LIBRARY.a [SOURCE_ROOT [STAMP]]}
root=${2:-$(cd "$(dirname "$0")/.." && pwd)}
stamp=${3:-}

forbidden='^(time|clock_gettime|gettimeofday|rand|random|srand|srandom|rand_r|getrandom|getentropy|socket|accept|accept4|connect|bind|listen|send|sendmsg|sendto|recv|recvmsg|recvfrom|read|write|readv|writev|pread|pwrite|open|openat|close|fopen|fdopen|freopen|fread|fwrite|fclose|stat|fstat|lstat|unlink|rename|mkdir|rmdir|opendir|readdir|epoll_create|epoll_create1|epoll_ctl|epoll_wait|poll|select|getenv|secure_getenv|setenv|sleep|usleep|nanosleep|pthread_[a-z_]+|printf|fprintf|vprintf|vfprintf|puts|fputs|putchar|perror|syslog|fork|exec[a-z]*|system|signal|sigaction|kill|exit|_exit|abort|localtime|localtime_r|mktime)$'

# Objects allowed to break the rules, with the reason:
#   env_common  - part of the env seam itself (pure helpers);
#   assert      - prints the broken invariant and aborts: the process can no
#                 longer trust its state, the env included.
allowed='^(.*env_common\.c\.o|.*assert\.c\.o)$'

status=0
current=''
# nm's System V format names each symbol's section, which tells a constant
# table of pointers (.data.rel.ro, read-only after relocation) from real
# mutable data (.data, .bss, common).
while IFS= read -r line; do
	case "$line" in
	'Symbols from '*)
		current=${line#*[}; current=${current%]:}; continue ;;
	*'|'*) ;;
	*) continue ;;
	esac
	if [[ "$current" =~ $allowed ]]; then continue; fi
	IFS='|' read -r sym _ type _ _ _ section <<<"$line"
	sym=${sym// /}; type=${type// /}; section=${section// /}
	if [ "$type" = U ]; then
		if [[ "$sym" =~ $forbidden ]]; then
			echo "lint: $current calls the OS directly: $sym (use struct env)"
			status=1
		fi
		continue
	fi
	case "$section" in
	.data.rel.ro*) ;;
	.data|.data.*|.bss|.bss.*|\*COM\*|COMMON|.tbss*|.tdata*)
		echo "lint: $current defines mutable global state: $sym in $section (hang it off struct server)"
		status=1 ;;
	esac
done < <(nm -f sysv "$lib" 2>/dev/null)

# Source check for what the compiler may inline or expand as builtins.
if hits=$(grep -rnE '\b(clock_gettime|gettimeofday|getrandom|srand|epoll_[a-z]+|getenv|usleep|nanosleep|pthread_[a-z_]+)\s*\(' \
	--include='*.c' --include='*.h' "$root/server" |
	grep -vE "^$root/server/(env/|main\.c)"); then
	echo "lint: OS call in server sources:"
	echo "$hits"
	status=1
fi

if [ "$status" -eq 0 ]; then
	echo "lint: ok ($(nm "$lib" | grep -c ' T ') functions checked)"
	[ -z "$stamp" ] || touch "$stamp"
fi
exit "$status"
