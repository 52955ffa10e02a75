/* The node state a board keeps in static RAM, counted by size/report.sh. The
 * tile buffer is left out: its size is a Kconfig choice. */
#include "mqc/node.h"

mqc_node_t mqc_size_probe_node;
