/*
 * auth.c - client authentication: token, single user, the users of the
 * authorization block and of accounts, no_auth_user; plain or bcrypt
 * passwords (bcrypt through libcrypt's crypt_rn, a pure computation).
 *
 * A successful check binds the connection to the user's account.  nkeys and
 * JWTs are not accepted yet (they fail like a wrong password).
 */
#include <crypt.h>
#include <string.h>

#include "../lib/assert.h"
#include "server_int.h"

bool auth_is_required(const struct opts *o)
{
	return o->username != NULL || o->authorization_token != NULL ||
	       o->n_users > 0;
}

static bool is_bcrypt(const char *s)
{
	return strncmp(s, "$2", 2) == 0;
}

/* Constant-time for equal lengths, so response timing says little. */
static bool secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static bool password_match(struct server *s, const char *stored,
			   const char *given)
{
	if (stored == NULL)
		return given == NULL || given[0] == '\0';
	if (given == NULL)
		given = "";
	if (!is_bcrypt(stored))
		return secret_equal(stored, given);
	struct crypt_data *cd = mem_calloc(&s->mem, 1, sizeof(*cd));
	if (cd == NULL)
		return false;
	const char *h = crypt_rn(given, stored, cd, (int)sizeof(*cd));
	bool ok = h != NULL && h[0] != '*' && secret_equal(h, stored);
	mem_free(&s->mem, cd);
	return ok;
}

static const struct opts_user *find_user(const struct opts *o, const char *name)
{
	for (size_t i = 0; i < o->n_users; i++)
		if (o->users[i].user != NULL && strcmp(o->users[i].user, name) == 0)
			return &o->users[i];
	return NULL;
}

static bool bind_user(struct server *s, struct conn *c,
		      const struct opts_user *u)
{
	struct account *acc = s->global_acc;
	if (u != NULL && u->account != NULL) {
		acc = server_lookup_account(s, u->account);
		if (acc == NULL)
			return false;
	}
	if (acc != c->acc) {
		c->acc->nconns--;
		acc->nconns++;
		c->acc = acc;
	}
	c->user = u;
	return true;
}

static bool empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

bool auth_check_client(struct server *s, struct conn *c,
		       const struct auth_request *req)
{
	const struct opts *o = s->opts;
	if (!s->auth_required)
		return bind_user(s, c, NULL);
	if (!empty(req->nkey) || !empty(req->jwt))
		return false;
	if (o->authorization_token != NULL && !empty(req->token))
		return password_match(s, o->authorization_token, req->token) &&
		       bind_user(s, c, NULL);
	if (empty(req->user) && empty(req->token) && o->no_auth_user != NULL) {
		const struct opts_user *u = find_user(o, o->no_auth_user);
		return u != NULL && bind_user(s, c, u);
	}
	if (empty(req->user))
		return false;
	if (o->username != NULL && strcmp(o->username, req->user) == 0)
		return password_match(s, o->password, req->pass) &&
		       bind_user(s, c, NULL);
	const struct opts_user *u = find_user(o, req->user);
	if (u == NULL || u->nkey != NULL)
		return false;
	return password_match(s, u->password, req->pass) && bind_user(s, c, u);
}
