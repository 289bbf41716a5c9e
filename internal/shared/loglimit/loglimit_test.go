package loglimit

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves, and the timers set on it.
type fakeClock struct {
	now    time.Time
	timers []timer
}

type timer struct {
	at time.Time
	f  func()
}

// advance moves the clock by d and fires the timers due.
func (c *fakeClock) advance(d time.Duration) {
	c.now = c.now.Add(d)
	var left []timer
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.f()
		} else {
			left = append(left, t)
		}
	}
	c.timers = left
}

func newTest() (*Limiter, *fakeClock, *bytes.Buffer, *slog.Logger) {
	c := &fakeClock{now: time.Unix(1e9, 0)}
	l := New(10*time.Second, 3)
	l.now = func() time.Time { return c.now }
	l.after = func(d time.Duration, f func()) { c.timers = append(c.timers, timer{c.now.Add(d), f}) }
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	return l, c, &buf, log
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestLimiter(t *testing.T) {
	l, c, buf, log := newTest()
	// 1,000 of one reason from one user: 3 lines, then one count at the
	// interval's end.
	for range 1000 {
		l.Warn(log, 1000, "bad request", "uid", 1000)
		c.advance(time.Millisecond)
	}
	if got := lines(buf); len(got) != 3 || got[0] != `level=WARN msg="bad request" uid=1000` {
		t.Fatalf("1,000 lines in 1 s gave %q, want 3 of them", got)
	}
	// Another user and another reason have their own burst.
	l.Warn(log, 1001, "bad request")
	l.Warn(log, 1000, "ghost hello")
	if got := lines(buf); len(got) != 2 {
		t.Errorf("another user's and another reason's first lines: %q, want both", got)
	}
	c.advance(9 * time.Second)
	want := `level=WARN msg="bad request: similar lines held back" suppressed=997 interval=10s`
	if got := lines(buf); len(got) != 1 || got[0] != want {
		t.Fatalf("at the interval's end: %q, want %q", got, want)
	}
	// A new interval lets lines through again.
	l.Warn(log, 1000, "bad request")
	if got := lines(buf); len(got) != 1 {
		t.Errorf("first line of the next interval: %q, want it", got)
	}
	// Nothing held back, nothing reported.
	c.advance(time.Minute)
	if got := lines(buf); len(got) != 0 {
		t.Errorf("an interval that held nothing back reported %q", got)
	}
	l.mu.Lock()
	n := len(l.wins)
	l.mu.Unlock()
	if n > 3 {
		t.Errorf("%d windows kept", n)
	}
}

// Many users at once do not grow the limiter without bound.
func TestLimiterKeysBounded(t *testing.T) {
	l, c, _, log := newTest()
	for uid := range uint32(3 * maxKeys) {
		l.Warn(log, uid, "bad request")
		c.advance(10 * time.Millisecond)
	}
	if len(l.wins) > maxKeys {
		t.Errorf("%d windows for %d users, want at most %d", len(l.wins), 3*maxKeys, maxKeys)
	}
}
