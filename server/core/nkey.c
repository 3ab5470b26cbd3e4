/*
 * nkey.c - nkey decoding and nonce signature checks (see nkey.h).
 *
 * The ed25519 verification is libsodium's crypto_sign_verify_detached,
 * a pure computation: it needs no sodium_init (which only selects faster
 * implementations of other primitives) and reaches no OS service, so it is
 * safe on the server side of the env seam.
 */
#include "nkey.h"

#include <sodium.h>
#include <string.h>

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* CRC-16/XMODEM, as the nkeys format uses. */
static uint16_t crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021)
					   : (uint16_t)(crc << 1);
	}
	return crc;
}

bool nkey_decode_public(const char *nkey, char prefix, uint8_t key[32])
{
	uint8_t raw[35];
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	if (nkey == NULL || strlen(nkey) != NKEY_PUBLIC_LEN || nkey[0] != prefix)
		return false;
	for (size_t i = 0; i < NKEY_PUBLIC_LEN; i++) {
		const char *c = strchr(b32, nkey[i]);
		if (c == NULL || nkey[i] == '\0')
			return false;
		acc = (acc << 5) | (uint32_t)(c - b32);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (n == sizeof(raw))
				return false;
			raw[n++] = (uint8_t)(acc >> bits);
		}
	}
	const char *pc = strchr(b32, prefix);
	if (n != sizeof(raw) || pc == NULL || raw[0] != (uint8_t)((pc - b32) << 3))
		return false;
	uint16_t want = (uint16_t)(raw[33] | (raw[34] << 8));
	if (crc16(raw, 33) != want)
		return false;
	memcpy(key, raw + 1, 32);
	return true;
}

static int b64_value(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decodes text (padding only for the standard alphabet); false on any
 * character outside the alphabet or when out would overflow. */
static bool b64_decode(const char *text, bool url, uint8_t *out, size_t cap,
		       size_t *len)
{
	size_t n = strlen(text);
	if (!url) {
		if (n % 4 != 0)
			return false;
		while (n > 0 && text[n - 1] == '=')
			n--;
	}
	uint32_t acc = 0;
	int bits = 0;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value(text[i], url);
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (*len == cap)
				return false;
			out[(*len)++] = (uint8_t)(acc >> bits);
		}
	}
	return true;
}

bool nkey_verify(const char *nkey, const char *nonce, size_t nonce_len,
		 const char *sig)
{
	uint8_t key[32], raw[crypto_sign_BYTES + 3];
	size_t len;
	if (sig == NULL || !nkey_decode_public(nkey, 'U', key))
		return false;
	if (!b64_decode(sig, true, raw, sizeof(raw), &len) &&
	    !b64_decode(sig, false, raw, sizeof(raw), &len))
		return false;
	if (len != crypto_sign_BYTES)
		return false;
	return crypto_sign_verify_detached(raw, (const unsigned char *)nonce,
					   nonce_len, key) == 0;
}

size_t nkey_base64url(const uint8_t *data, size_t len, char *out)
{
	static const char url[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | data[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[n++] = url[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[n++] = url[(acc << (6 - bits)) & 63];
	out[n] = '\0';
	return n;
}
