package bpstat

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// prependNodes reads ps output and puts a NODE column in front of every
// line: the node of a remote process (found by its ghost's PID), blank for
// a process of this machine. The PID column is found from the header line,
// so any ps format that has one works (ps aux, ps -ef, ps -o pid,args).
func prependNodes(r io.Reader, w io.Writer, procs []localapi.Proc) error {
	node := make(map[int]int, len(procs))
	for _, p := range procs {
		node[p.PID] = p.Node
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	col := -1
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			for i, f := range strings.Fields(line) {
				if f == "PID" {
					col = i
					break
				}
			}
			if col < 0 {
				return fmt.Errorf("-P: the first line of stdin is not a ps header with a PID column: %q", line)
			}
			fmt.Fprintf(w, "%-5s %s\n", "NODE", line)
			continue
		}
		f := strings.Fields(line)
		label := ""
		if col < len(f) {
			if pid, err := strconv.Atoi(f[col]); err == nil {
				if n, ok := node[pid]; ok {
					label = strconv.Itoa(n)
				}
			}
		}
		fmt.Fprintf(w, "%-5s %s\n", label, line)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("-P: read ps output: %w", err)
	}
	return nil
}
