// Package bench measures bproc against the goals it was written for, on
// this machine, beside what a user would otherwise use, and keeps the
// numbers: `make bench` prints a table and writes internal/bench/results/NAME.json.
//
// The code here starts and stops the things measured (a bpmaster with
// namespace nodes, a private sshd), times commands and sums up samples; the
// Benchmark functions in the _test files decide what is measured and add
// rows to one report, which TestMain prints and saves after they have run.
// A later benchmark is one more _test file adding rows.
//
//	make bench                  # or:
//	BPROC_BIN=$PWD/bin/bproc go test -run '^$' -bench . -benchtime 1x ./internal/bench/ -args -runs 300
//
// It needs root, for the namespace nodes (and to start sshd as a user of
// its own); without root every benchmark skips.
package bench
