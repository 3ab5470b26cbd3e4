/*
 * timefmt.c - Go-compatible time and duration text (see timefmt.h).
 * Calendar arithmetic is Howard Hinnant's civil_from_days, so no time-zone
 * data or OS call is needed.
 */
#include "timefmt.h"

#include <stdio.h>
#include <string.h>

#define NS_PER_SEC 1000000000LL

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* ".123" for 123000000 ns: the fraction without trailing zeros, or "". */
static size_t frac_digits(int64_t ns, char *out)
{
	if (ns == 0) {
		out[0] = '\0';
		return 0;
	}
	char d[10];
	snprintf(d, sizeof(d), "%09lld", (long long)ns);
	size_t n = 9;
	while (n > 0 && d[n - 1] == '0')
		n--;
	out[0] = '.';
	memcpy(out + 1, d, n);
	out[n + 1] = '\0';
	return n + 1;
}

size_t timefmt_rfc3339(int64_t unix_ns, char *out)
{
	int64_t secs = unix_ns / NS_PER_SEC, ns = unix_ns % NS_PER_SEC;
	if (ns < 0) {
		ns += NS_PER_SEC;
		secs--;
	}
	int64_t days = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	char frac[12];
	frac_digits(ns, frac);
	int n = snprintf(out, TIMEFMT_MAX, "%04lld-%02d-%02dT%02d:%02d:%02d%sZ",
			 (long long)y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60),
			 (int)(rem % 60), frac);
	return n > 0 ? (size_t)n : 0;
}

/* Go's Duration.String. */
size_t timefmt_go_duration(int64_t ns, char *out)
{
	const char *sign = ns < 0 ? "-" : "";
	uint64_t u = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
	char frac[12];
	int n;
	if (u == 0) {
		n = snprintf(out, TIMEFMT_MAX, "0s");
	} else if (u < 1000) {
		n = snprintf(out, TIMEFMT_MAX, "%s%lluns", sign, (unsigned long long)u);
	} else if (u < 1000000) {
		frac_digits((int64_t)(u % 1000) * 1000000, frac);
		n = snprintf(out, TIMEFMT_MAX, "%s%llu%s\xc2\xb5s", sign,
			     (unsigned long long)(u / 1000), frac);
	} else if (u < (uint64_t)NS_PER_SEC) {
		frac_digits((int64_t)(u % 1000000) * 1000, frac);
		n = snprintf(out, TIMEFMT_MAX, "%s%llu%sms", sign,
			     (unsigned long long)(u / 1000000), frac);
	} else {
		uint64_t s = u / NS_PER_SEC, h = s / 3600, mi = s / 60 % 60;
		frac_digits((int64_t)(u % NS_PER_SEC), frac);
		if (h > 0)
			n = snprintf(out, TIMEFMT_MAX, "%s%lluh%llum%llu%ss", sign,
				     (unsigned long long)h, (unsigned long long)mi,
				     (unsigned long long)(s % 60), frac);
		else if (mi > 0)
			n = snprintf(out, TIMEFMT_MAX, "%s%llum%llu%ss", sign,
				     (unsigned long long)mi,
				     (unsigned long long)(s % 60), frac);
		else
			n = snprintf(out, TIMEFMT_MAX, "%s%llu%ss", sign,
				     (unsigned long long)s, frac);
	}
	return n > 0 ? (size_t)n : 0;
}

/* The reference's monitoring uptime: whole seconds, with days and years. */
size_t timefmt_uptime(int64_t ns, char *out)
{
	long long s = ns > 0 ? ns / NS_PER_SEC : 0, mi = s / 60, h = mi / 60;
	long long d = h / 24, y = d / 365;
	int n;
	if (y > 0)
		n = snprintf(out, TIMEFMT_MAX, "%lldy%lldd%lldh%lldm%llds", y, d % 365,
			     h % 24, mi % 60, s % 60);
	else if (d > 0)
		n = snprintf(out, TIMEFMT_MAX, "%lldd%lldh%lldm%llds", d, h % 24, mi % 60,
			     s % 60);
	else if (h > 0)
		n = snprintf(out, TIMEFMT_MAX, "%lldh%lldm%llds", h, mi % 60, s % 60);
	else if (mi > 0)
		n = snprintf(out, TIMEFMT_MAX, "%lldm%llds", mi, s % 60);
	else
		n = snprintf(out, TIMEFMT_MAX, "%llds", s);
	return n > 0 ? (size_t)n : 0;
}
