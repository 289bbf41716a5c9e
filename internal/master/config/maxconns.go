package config

import "strconv"

// maxconns N: how many connections to the master's local socket one user
// other than root may hold at once (tools, programs, and a ghost per live
// remote process). 0 or no line: the master's default, a sixteenth of its
// descriptor limit.
func addMaxConns(kw map[string]keyword) {
	kw["maxconns"] = keyword{"maxconns N", 1, 1, true, parseMaxConns}
}

func parseMaxConns(p *parser, args []string) {
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 1<<30 {
		p.errorf("%q is not a number of connections from 1 to %d", args[0], 1<<30)
		return
	}
	p.cfg.MaxConns = n
}
