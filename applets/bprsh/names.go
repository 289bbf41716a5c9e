package bprsh

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/bproc/bproc/internal/shared/nodeset"
)

// byHostName resolves host (/etc/hosts, DNS) to the address of a node, so
// that names an administrator gave the config's addresses work as they
// would with ssh. The lookup is bounded: a name that is no node must not
// hang a launcher.
func byHostName(host string, nodes []nodeset.Node) (int, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return 0, false
	}
	for _, a := range addrs {
		if n, ok := nodeset.Host(a, nodes); ok {
			return n, true
		}
	}
	return 0, false
}

// loginShell is uid's shell from /etc/passwd (os/user does not read that
// field), /bin/sh when it names none.
func loginShell(uid string) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/bin/sh"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) == 7 && fields[2] == uid && strings.HasPrefix(fields[6], "/") {
			return fields[6]
		}
	}
	return "/bin/sh"
}

// sessionEnv is env with the variables sshd sets for every session taken
// from the user's passwd entry rather than from the caller's environment:
// programs rely on them (GNU parallel's remote worker execs $SHELL, and a
// CI runner's environment may have no SHELL at all).
func sessionEnv(env []string, me *user.User, home, shell string) []string {
	set := map[string]string{"HOME": home, "USER": me.Username, "LOGNAME": me.Username, "SHELL": shell}
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := set[name]; !ok {
			out = append(out, kv)
		}
	}
	for _, name := range []string{"HOME", "USER", "LOGNAME", "SHELL"} {
		out = append(out, name+"="+set[name])
	}
	return out
}
