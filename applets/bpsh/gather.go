package bpsh

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bproc/bproc/internal/shared/nodeset"
)

// flushGathered is --gather: nodes whose output (stdout and stderr alike)
// is the same share one block, headed by their node set, as clush -b
// does. Blocks come in the order of their first node.
func (r *runner) flushGathered() {
	type block struct {
		out, err string
		nodes    []int
		ranks    int
	}
	var order []*block
	byOutput := map[[2]string]*block{}
	for _, rk := range r.ranks {
		var out, errs string
		if rk.out != nil {
			out = rk.out.held.String()
		}
		if rk.err != nil {
			errs = rk.err.held.String()
		}
		k := [2]string{out, errs}
		b := byOutput[k]
		if b == nil {
			b = &block{out: out, err: errs}
			byOutput[k] = b
			order = append(order, b)
		}
		if len(b.nodes) == 0 || b.nodes[len(b.nodes)-1] != rk.node {
			b.nodes = append(b.nodes, rk.node)
		}
		b.ranks++
	}
	for _, b := range order {
		if b.out == "" && b.err == "" {
			continue
		}
		fmt.Fprintf(r.outW, "%s\n%s\n%s\n", strings.Repeat("-", 15), header(b.nodes, b.ranks), strings.Repeat("-", 15))
		r.outW.Write([]byte(b.out))
		r.errW.Write([]byte(b.err))
	}
}

// header is "n[0-3,5] (5)": the node set and the number of processes.
func header(nodes []int, ranks int) string {
	uniq := append([]int(nil), nodes...)
	sort.Ints(uniq)
	j := 0
	for i, n := range uniq {
		if i == 0 || n != uniq[j-1] {
			uniq[j] = n
			j++
		}
	}
	return fmt.Sprintf("%s (%d)", nodeset.FormatSet(uniq[:j]), ranks)
}

// summary is the closing line of --gather: which nodes failed, and how,
// folded the same way ("bpsh: failed: n[1-2] exit 1; n7 killed by SIGSEGV").
func (r *runner) summary() {
	byHow := map[string][]int{}
	var hows []string
	counts := map[string]int{}
	for _, rk := range r.ranks {
		code, how := rk.statusOf()
		if code == 0 {
			continue
		}
		if _, ok := byHow[how]; !ok {
			hows = append(hows, how)
		}
		if ns := byHow[how]; len(ns) == 0 || ns[len(ns)-1] != rk.node {
			byHow[how] = append(byHow[how], rk.node)
		}
		counts[how]++
	}
	if len(hows) == 0 {
		return
	}
	parts := make([]string, len(hows))
	for i, how := range hows {
		parts[i] = header(byHow[how], counts[how]) + " " + how
	}
	fmt.Fprintf(r.errW, "bpsh: failed: %s\n", strings.Join(parts, "; "))
}
