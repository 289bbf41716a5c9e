package pmi

import (
	"fmt"
	"strings"
)

// processMapping is PMI_process_mapping, which MPICH reads to learn which
// ranks share a node (and so shared memory): "(vector,(S,N,K),...)" says
// N nodes from node id S hold K consecutive ranks each. Node ids number
// the job's distinct nodes in the order they first hold a rank.
func processMapping(nodes []int) string {
	ids := map[int]int{}
	type triple struct{ start, count, size int }
	var out []triple
	for i := 0; i < len(nodes); {
		j := i
		for j < len(nodes) && nodes[j] == nodes[i] {
			j++
		}
		id, ok := ids[nodes[i]]
		if !ok {
			id = len(ids)
			ids[nodes[i]] = id
		}
		size := j - i
		if n := len(out); n > 0 && out[n-1].size == size && out[n-1].start+out[n-1].count == id {
			out[n-1].count++
		} else {
			out = append(out, triple{id, 1, size})
		}
		i = j
	}
	var b strings.Builder
	b.WriteString("(vector")
	for _, t := range out {
		fmt.Fprintf(&b, ",(%d,%d,%d)", t.start, t.count, t.size)
	}
	b.WriteString(")")
	return b.String()
}
