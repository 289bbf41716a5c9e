// Package loglimit keeps a flood of bad input from flooding the log: the
// master wrote a warning per bad frame, and 204,349 garbage connections in
// 10 s made 28 MB of it. A Limiter lets through the first lines of each
// reason for each user in an interval and then one line that counts what
// it held back.
package loglimit

import (
	"log/slog"
	"sync"
	"time"
)

// Defaults: enough lines to see what happens, few enough that a flood of
// a million costs kilobytes.
const (
	DefaultEvery = 10 * time.Second
	DefaultBurst = 10
)

// maxKeys bounds the windows kept; past it, those over are dropped.
const maxKeys = 4096

// Limiter rate-limits warnings by (message, uid). The zero value is not
// useful; use New.
type Limiter struct {
	every time.Duration
	burst int
	now   func() time.Time
	// after runs f once d has passed (time.AfterFunc; a test's own clock).
	after func(d time.Duration, f func())

	mu   sync.Mutex
	wins map[key]*window
}

type key struct {
	msg string
	uid uint32
}

// window is one key's current interval.
type window struct {
	start time.Time
	n     int // lines in this interval, logged or held back
	held  int // held back, to be counted at the interval's end
	log   *slog.Logger
}

// New returns a Limiter that lets burst lines of each key through per
// interval of every.
func New(every time.Duration, burst int) *Limiter {
	return &Limiter{
		every: every, burst: burst, now: time.Now,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		wins:  make(map[key]*window),
	}
}

// Warn logs msg with args on log at warning level, unless uid's lines
// of msg have had their burst in this interval: then it is counted, and
// at the interval's end one line says how many were held back.
func (l *Limiter) Warn(log *slog.Logger, uid uint32, msg string, args ...any) {
	k := key{msg, uid}
	now := l.now()
	l.mu.Lock()
	w := l.wins[k]
	if w == nil || (w.held == 0 && now.Sub(w.start) >= l.every) {
		if w == nil && len(l.wins) >= maxKeys {
			l.pruneLocked(now)
		}
		w = &window{start: now}
		l.wins[k] = w
	}
	w.n++
	if w.n <= l.burst {
		l.mu.Unlock()
		log.Warn(msg, args...)
		return
	}
	w.held++
	w.log = log
	if w.held == 1 {
		l.after(w.start.Add(l.every).Sub(now), func() { l.report(k, w) })
	}
	l.mu.Unlock()
}

// report ends w's interval: one line with the count it held back.
func (l *Limiter) report(k key, w *window) {
	l.mu.Lock()
	held, log := w.held, w.log
	if l.wins[k] == w {
		delete(l.wins, k)
	}
	l.mu.Unlock()
	log.Warn(k.msg+": similar lines held back", "suppressed", held, "interval", l.every)
}

// pruneLocked drops the windows whose interval is over and that hold
// nothing back; if that frees nothing (a flood of many users at once),
// the map is started again: those users' next lines are let through.
func (l *Limiter) pruneLocked(now time.Time) {
	for k, w := range l.wins {
		if w.held == 0 && now.Sub(w.start) >= l.every {
			delete(l.wins, k)
		}
	}
	if len(l.wins) >= maxKeys {
		for k, w := range l.wins {
			if w.held == 0 {
				delete(l.wins, k)
			}
		}
	}
}
