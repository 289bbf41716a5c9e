package master

import (
	"strings"
	"sync"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/wire"
)

// pushCache is a job's push lists (pushList), made once for all its
// ranks rather than once a rank: every rank runs the job's program as
// the job's caller, and finding, opening and summing its closure was
// nearly half the master's CPU in a launch on push-only nodes. Ranks
// whose environments steer the closure differently (PATH finds a #!
// interpreter, LD_LIBRARY_PATH and LD_PRELOAD the libraries; a rank's
// own variables may set them) get lists of their own. The zero value is
// ready; a nil one makes a list for each call.
type pushCache struct {
	mu    sync.Mutex
	byEnv map[string]*pushEntry
}

// pushEntry is one list, made by the first rank that needed it while the
// others wait for it.
type pushEntry struct {
	done  chan struct{}
	files []wire.PushFile // shared: never changed once made
	err   error
}

// list is pushList of start, made once per job and steering variables.
func (c *pushCache) list(hashes *contentcache.Hashes, cred asuser.Cred, start *wire.ProcStart) ([]wire.PushFile, error) {
	if c == nil {
		return pushList(hashes, cred, start)
	}
	key := start.Path + "\x00" + start.Dir + "\x00" + pushKey(start.Env)
	c.mu.Lock()
	e := c.byEnv[key]
	if e == nil {
		if c.byEnv == nil {
			c.byEnv = make(map[string]*pushEntry)
		}
		e = &pushEntry{done: make(chan struct{})}
		c.byEnv[key] = e
		c.mu.Unlock()
		e.files, e.err = pushList(hashes, cred, start)
		close(e.done)
		return e.files, e.err
	}
	c.mu.Unlock()
	<-e.done
	return e.files, e.err
}

// pushKey is what of env the closure depends on (elfclosure.Options.Env).
func pushKey(env []string) string {
	var b strings.Builder
	for _, name := range []string{"PATH", "LD_LIBRARY_PATH", "LD_PRELOAD"} {
		v, ok := lookupEnv(env, name)
		if ok {
			b.WriteString("=")
		}
		b.WriteString(v)
		b.WriteByte(0)
	}
	return b.String()
}

// lookupEnv is getenv's answer in env: the first entry of the name.
func lookupEnv(env []string, name string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
