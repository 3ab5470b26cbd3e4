/*
 * auth.c - client authentication: token, single user, the users of the
 * authorization block and of accounts, nkey users (ed25519 signature over
 * the nonce sent in INFO), no_auth_user, allowed connection types; plain
 * or bcrypt passwords (bcrypt through libcrypt's crypt_rn, a pure
 * computation).  The order of the checks follows nats-server 2.9.10's
 * processClientOrLeafAuthentication.
 *
 * A successful check binds the connection to the user's account (with its
 * limits) and gives it the user's permissions.  JWTs (operator mode) are not
 * accepted.
 */
#include <crypt.h>
#include <string.h>

#include "../lib/assert.h"
#include "nkey.h"
#include "server_int.h"

bool auth_is_required(const struct opts *o)
{
	return o->username != NULL || o->authorization_token != NULL ||
	       o->n_users > 0;
}

bool auth_nkeys_in_use(const struct opts *o)
{
	for (size_t i = 0; i < o->n_users; i++)
		if (o->users[i].nkey != NULL)
			return true;
	return false;
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

static const struct opts_user *find_nkey(const struct opts *o, const char *nkey)
{
	for (size_t i = 0; i < o->n_users; i++)
		if (o->users[i].nkey != NULL && strcmp(o->users[i].nkey, nkey) == 0)
			return &o->users[i];
	return NULL;
}

static bool has_named_users(const struct opts *o)
{
	for (size_t i = 0; i < o->n_users; i++)
		if (o->users[i].user != NULL)
			return true;
	return false;
}

/* A user restricted to some connection types must allow plain clients. */
static bool conn_type_allowed(const struct opts_user *u)
{
	if (u->n_allowed_connection_types == 0)
		return true;
	for (size_t i = 0; i < u->n_allowed_connection_types; i++)
		if (strcmp(u->allowed_connection_types[i], "STANDARD") == 0)
			return true;
	return false;
}

static bool empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

bool auth_bind_account(struct server *s, struct conn *c, struct account *acc)
{
	const struct opts *o = s->opts;
	if (acc != c->acc) {
		if (acc->max_conns >= 0 && acc->nconns >= (uint64_t)acc->max_conns)
			return false;
		c->acc->nconns--;
		acc->nconns++;
		acc->total_conns++;
		c->acc = acc;
	}
	/* The smaller of the server's and the account's limits, as the
	 * reference's applyAccountLimits. */
	c->max_payload = o->max_payload;
	if (acc->max_payload >= 0 && acc->max_payload < c->max_payload)
		c->max_payload = acc->max_payload;
	c->parser.max_payload = c->max_payload;
	c->max_subs = o->max_subscriptions > 0 ? o->max_subscriptions : -1;
	if (acc->max_subs >= 0 && (c->max_subs < 0 || acc->max_subs < c->max_subs))
		c->max_subs = acc->max_subs;
	return true;
}

/* Binds c to u (NULL: the global account, no permissions). */
static enum auth_result bind_user(struct server *s, struct conn *c,
				  const struct opts_user *u)
{
	struct account *acc = s->global_acc;
	if (u != NULL && u->account != NULL) {
		acc = account_lookup(s, u->account);
		if (acc == NULL)
			return AUTH_FAILED;
	}
	if (!auth_bind_account(s, c, acc))
		return AUTH_ACCOUNT_FULL;
	bool oom = false;
	struct perms *p = u != NULL ? perms_new(&s->mem, prng_next(&s->prng),
					       &u->perms, &oom) : NULL;
	if (oom)
		return AUTH_FAILED;
	perms_free(c->perms);
	c->perms = p;
	c->user = u;
	return AUTH_OK;
}

static enum auth_result check_nkey(struct server *s, struct conn *c,
				   const struct auth_request *req)
{
	const struct opts_user *u = find_nkey(s->opts, req->nkey);
	if (u == NULL || !conn_type_allowed(u) || empty(req->sig) ||
	    !nkey_verify(req->nkey, c->nonce, strlen(c->nonce), req->sig))
		return AUTH_FAILED;
	return bind_user(s, c, u);
}

static enum auth_result check_users(struct server *s, struct conn *c,
				    const struct auth_request *req)
{
	const struct opts *o = s->opts;
	if (o->no_auth_user != NULL && empty(req->user) && empty(req->pass) &&
	    empty(req->token)) {
		const struct opts_user *u = find_user(o, o->no_auth_user);
		if (u != NULL)
			return conn_type_allowed(u) ? bind_user(s, c, u) : AUTH_FAILED;
	}
	if (empty(req->user))
		return AUTH_FAILED;
	const struct opts_user *u = find_user(o, req->user);
	if (u == NULL || !conn_type_allowed(u) ||
	    !password_match(s, u->password, req->pass))
		return AUTH_FAILED;
	return bind_user(s, c, u);
}

enum auth_result auth_check_client(struct server *s, struct conn *c,
				   const struct auth_request *req)
{
	const struct opts *o = s->opts;
	if (!s->auth_required)
		return bind_user(s, c, NULL);
	if (!empty(req->jwt))
		return AUTH_FAILED;
	if (s->nkeys_in_use && !empty(req->nkey))
		return check_nkey(s, c, req);
	if (has_named_users(o))
		return check_users(s, c, req);
	if (o->authorization_token != NULL)
		return password_match(s, o->authorization_token, req->token)
			       ? bind_user(s, c, NULL) : AUTH_FAILED;
	if (o->username != NULL && !empty(req->user) &&
	    strcmp(o->username, req->user) == 0)
		return password_match(s, o->password, req->pass)
			       ? bind_user(s, c, NULL) : AUTH_FAILED;
	return AUTH_FAILED;
}
