package spawn

// ExecTag is the directory fd with which a child started with Notify
// execs its program: execveat(ExecTag, Path, ...). Path is absolute, so
// the kernel ignores the fd; a Notify filter that notifies execs tells
// this one from the program's own by it and lets it through. Notified,
// it would wait for a supervisor that cannot run yet: with CLONE_VFORK
// Start returns (and hands over the listener) only once execve is done,
// and a Go thread held there can keep the whole runtime from stopping.
// A program could use the tag too and so hide an exec of its own from
// its ghost's argv: that argv is for show, as any process's is.
const ExecTag = 0x62707263 // "bprc"

// ExitTag is the status with which a child started with Notify exits
// when its start fails (after the filter is installed): exit(ExitTag),
// which the kernel keeps as 127 (its low byte). A Notify filter that
// notifies exit lets this one through: the supervisor cannot answer
// before Start returns, and Start waits for the child to end.
const ExitTag = 0x62707200 | 127 // "bpr" and 127
