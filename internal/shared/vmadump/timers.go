package vmadump

import (
	"errors"
	"fmt"
)

// ITimer is one interval timer of setitimer(2) (ITIMER_REAL, _VIRTUAL,
// _PROF) as getitimer read it: what is left of it and its interval, in
// microseconds. A move carries it; the time the move takes does not
// count (a timer of real time fires that much later).
type ITimer struct {
	Which    int   `json:"which"`
	Value    int64 `json:"value_us"`
	Interval int64 `json:"interval_us"`
}

// The interval timers, setitimer's which.
const (
	itimerReal    = 0
	itimerVirtual = 1
	itimerProf    = 2
)

// ErrPOSIXTimers refuses a process with POSIX timers (timer_create): a
// timer's ID, which the process holds, cannot be chosen when it is made
// again on another kernel, so the timer cannot travel.
var ErrPOSIXTimers = errors.New("Invalid argument: the process has POSIX timers (timer_create), which cannot be moved")

// SharedFileError refuses a process with a file mapped shared: on a node
// the file is a copy of the master's, whose changes would reach no one
// (neither the master's file nor another process mapping it); bproc does
// not pretend.
type SharedFileError struct{ Path string }

func (e *SharedFileError) Error() string {
	return fmt.Sprintf("Invalid argument: the process maps %s shared (MAP_SHARED), which cannot be moved", e.Path)
}

// validTimers rejects timers no kernel would take.
func validTimers(ts []ITimer) error {
	if len(ts) > 3 {
		return fmt.Errorf("vmadump: image: %d interval timers", len(ts))
	}
	for _, t := range ts {
		if t.Which < itimerReal || t.Which > itimerProf || t.Value < 0 || t.Interval < 0 ||
			t.Value > 1<<50 || t.Interval > 1<<50 {
			return fmt.Errorf("vmadump: image: bad interval timer %+v", t)
		}
	}
	return nil
}
