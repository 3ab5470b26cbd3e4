/*
 * nkey.h - NATS nkeys: the public key encoding (base32 of a prefix byte,
 * a 32-byte ed25519 key and a CRC16) and verification of a client's
 * signature over the server's nonce.  The signature check is libsodium's
 * ed25519; nothing here keeps state.
 */
#ifndef CORE_NKEY_H
#define CORE_NKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NKEY_PUBLIC_LEN 56
#define NKEY_NONCE_BYTES 11   /* 15 characters of base64 */

/* prefix: 'U' user, 'A' account, 'O' operator, 'N' server.  False if the
 * string is not a well-formed public key of that kind. */
bool nkey_decode_public(const char *nkey, char prefix, uint8_t key[32]);
/* Does sig (base64, URL alphabet without padding or standard alphabet with
 * padding, as the reference accepts) sign nonce for the public user nkey? */
bool nkey_verify(const char *nkey, const char *nonce, size_t nonce_len,
		 const char *sig);
/* Base64 (URL alphabet, no padding) of len bytes into out, which needs
 * 4 * ceil(len / 3) + 1 bytes; returns the length written. */
size_t nkey_base64url(const uint8_t *data, size_t len, char *out);

#endif
