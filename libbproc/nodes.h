/*
 * nodes.h: the node table as the library reads it. Internal.
 */
#ifndef BPROC_NODES_H
#define BPROC_NODES_H

#include "bproc.h"
#include "json.h"

/* bpi_nodes asks for the node table: its length, with the rows in *list
 * (malloc'd; NULL when empty), or -1. */
BPI_HIDDEN int bpi_nodes(struct bproc_node_info_t **list);

/* bpi_lookup fills info with node's row: 0, or -1 with BE_INVALIDNODE
 * when the master has no such node. */
BPI_HIDDEN int bpi_lookup(int node, struct bproc_node_info_t *info);

/* bpi_parse_nodes reads the "nodes" of a reply (t: the reply object). */
BPI_HIDDEN int bpi_parse_nodes(const struct bpi_json *j, int t, struct bproc_node_info_t **list);

#endif
