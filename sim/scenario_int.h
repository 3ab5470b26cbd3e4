/*
 * scenario_int.h - shared between the scenario loader's files
 * (scenario.c: the top level, network, servers and clients;
 * scenario_steps.c: conditions, timeline steps and expectations).
 */
#ifndef SIM_SCENARIO_INT_H
#define SIM_SCENARIO_INT_H

#include "scenario.h"
#include "ytree.h"

bool sc_parse_netset(struct yctx *x, const struct ynode *n,
		     struct sc_netset *ns);
bool sc_parse_kinds(struct yctx *x, const struct ynode *n, uint32_t *kinds);
bool sc_parse_timeline(struct yctx *x, struct scenario *s,
		       const struct ynode *n);
bool sc_parse_expects(struct yctx *x, struct scenario *s,
		      const struct ynode *n, struct sc_expect **out,
		      uint32_t *count);
void sc_cond_free(struct sc_cond *c);
void sc_step_free(struct sc_step *st);
void sc_expects_free(struct sc_expect *e, uint32_t n);
void sc_names_free(char **names, uint32_t n);

#endif
