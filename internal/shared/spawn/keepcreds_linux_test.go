package spawn

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestKeepCredsSetpgid: with KeepCreds the child runs as its caller,
// whatever Uid and Gid say (a ghost started by a user's bpsh), and with
// Setpgid it leads a process group of its own.
func TestKeepCredsSetpgid(t *testing.T) {
	eachStarter(t, func(t *testing.T, start starter, r *Reaper) {
		a := sh("echo $(id -u) $(id -g) $$ $(cut -d' ' -f5 /proc/$$/stat)")
		a.KeepCreds, a.Setpgid = true, true
		a.Uid, a.Gid, a.Groups = 65534, 65534, []uint32{65534}
		pid, ws, out := output(t, start, a)
		wantStatus(t, "sh", ws, exited(0))
		want := fmt.Sprintf("%d %d %d %d", os.Getuid(), os.Getgid(), pid, pid)
		if got := strings.TrimSpace(out); got != want {
			t.Errorf("child printed uid gid pid pgrp %q, want %q", got, want)
		}
		noZombies(t, r)
	})
}

func TestSetpgidWithSetsid(t *testing.T) {
	_, _, err := Start(Attr{Path: "/bin/true", Setpgid: true, Setsid: true})
	if err == nil || !strings.Contains(err.Error(), "Setpgid and Setsid") {
		t.Errorf("Start with Setpgid and Setsid: %v, want an error naming both", err)
	}
}
