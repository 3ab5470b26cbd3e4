/*
 * reload.c - applying new options to a running server (SIGHUP, or the
 * system account's RELOAD request), as nats-server 2.9.10's
 * reloadAuthorization does for accounts, users and permissions.
 *
 * Order: check the new options, switch s->opts, rebuild accounts (their
 * objects survive, so sublists and pointers between accounts stay valid),
 * then walk the connections: a client whose user vanished or moved to
 * another account is closed; one whose credentials no longer pass gets an
 * Authorization Violation; the rest get the new permissions and lose the
 * subscriptions those no longer allow.  Finally the system account's
 * subscriptions are renewed (the set of accounts may have changed).
 *
 * Listeners, ports and other start-up settings are not re-applied.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/assert.h"
#include "../js/jetstream.h"
#include "server_int.h"
#include "subject.h"

static bool opts_has_account(const struct opts *o, const char *name)
{
	for (size_t i = 0; i < o->n_accounts; i++)
		if (strcmp(o->accounts[i].name, name) == 0)
			return true;
	return false;
}

/* What accounts_configure would refuse, found before anything changes. */
static int reload_check(const struct opts *o, struct buf *err)
{
	if (o->system_account != NULL && !opts_has_account(o, o->system_account)) {
		buf_appendf(err, "system account \"%s\" not defined", o->system_account);
		return -1;
	}
	for (size_t i = 0; i < o->n_users; i++) {
		const char *acc = o->users[i].account;
		if (acc != NULL && !opts_has_account(o, acc)) {
			buf_appendf(err, "user refers to unknown account \"%s\"", acc);
			return -1;
		}
	}
	return 0;
}

/* The user this connection authenticated as, looked up in the new
 * options: by nkey, by name, or the no_auth_user it was given. */
static const struct opts_user *reload_find_user(const struct opts *o,
						const struct conn *c, bool *had_user)
{
	const char *nkey = c->creds.nkey, *name = c->creds.user;
	*had_user = true;
	if (nkey != NULL && nkey[0] != '\0') {
		for (size_t i = 0; i < o->n_users; i++)
			if (o->users[i].nkey != NULL && strcmp(o->users[i].nkey, nkey) == 0)
				return &o->users[i];
		return NULL;
	}
	if (name == NULL || name[0] == '\0')
		name = c->user != NULL ? c->user->user : NULL;
	if (name == NULL || name[0] == '\0') {
		*had_user = false;
		return NULL;
	}
	for (size_t i = 0; i < o->n_users; i++)
		if (o->users[i].user != NULL && strcmp(o->users[i].user, name) == 0)
			return &o->users[i];
	return NULL;
}

/* Subscriptions the new permissions no longer allow are removed and
 * reported, as the reference's processSubsOnConfigReload. */
static void reload_check_subs(struct conn *c)
{
	struct server *s = c->srv;
	perms_reset_deliver_filter(c->perms);
	size_t pos = 0;
	struct hmap_entry *ent;
	while ((ent = hmap_next(&c->subs, &pos)) != NULL) {
		struct sub *sub = ent->value;
		if (perms_sub_allowed(c->perms, sub->subject, sub->subject_len,
				      sub->queue, sub->queue_len))
			continue;
		struct buf b;
		buf_init(&b, &s->mem);
		buf_appendf(&b, "Permissions Violation for Subscription to \"%s\" (sid \"%s\")",
			    sub->subject, sub->sid);
		LOGI(&s->log, "Removed sub \"%s\" (sid \"%s\") for \"%s\" - not authorized",
		     sub->subject, sub->sid, conn_auth_user(c));
		conn_unsubscribe(c, sub);
		conn_send_err(c, b.oom ? "Permissions Violation" : b.data);
		buf_free(&b);
	}
}

static void reload_conn(struct server *s, struct conn *c)
{
	bool had_user;
	const struct opts_user *u = reload_find_user(s->opts, c, &had_user);
	if (had_user) {
		const char *want = u != NULL && u->account != NULL ? u->account : "$G";
		if (u == NULL || strcmp(want, c->acc->name) != 0 || c->acc->removed) {
			conn_close(c, CLOSE_CLIENT);
			return;
		}
	}
	struct auth_request req = { c->creds.user, c->creds.pass, c->creds.token,
				    c->creds.nkey, c->creds.sig, NULL };
	if (auth_check_client(s, c, &req) != AUTH_OK) {
		LOGE(&s->log, "%s:%d - cid:%llu - authentication error after reload",
		     c->ip, c->port, (unsigned long long)c->cid);
		events_auth_error(s, c);
		conn_send_err(c, "Authorization Violation");
		conn_close(c, CLOSE_AUTH_VIOLATION);
		return;
	}
	reload_check_subs(c);
}

int server_reload(struct server *s, const struct opts *o, struct buf *err)
{
	if (reload_check(o, err) != 0)
		return -1;
	const struct opts *old = s->opts;
	s->opts = o;
	s->auth_required = auth_is_required(o);
	s->nkeys_in_use = auth_nkeys_in_use(o);
	s->log.debug = o->debug;
	s->log.trace = o->trace;
	s->log.logtime = o->logtime;
	if (accounts_configure(s, err) != 0) {
		/* Put the old options back; their accounts rebuild as before. */
		s->opts = old;
		s->auth_required = auth_is_required(old);
		s->nkeys_in_use = auth_nkeys_in_use(old);
		struct buf ignore;
		buf_init(&ignore, &s->mem);
		accounts_configure(s, &ignore);
		buf_free(&ignore);
		return -1;
	}
	/* Connections are visited in order; closing one moves it to the dead
	 * list, so the next one is taken before. */
	for (struct link *l = s->conns.next; l != &s->conns;) {
		struct conn *c = CONTAINER_OF(l, struct conn, node);
		l = l->next;
		if (c->connected)
			reload_conn(s, c);
	}
	if (jetstream_reload(s) != 0) {
		buf_append_str(err, "out of memory enabling JetStream in accounts");
		return -1;
	}
	if (events_start(s) != 0) {
		buf_append_str(err, "out of memory restarting system services");
		return -1;
	}
	s->config_load_wall_ns = env_now_wall_ns(s->env);
	LOGI(&s->log, "Reloaded server configuration");
	return 0;
}
