package testvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"
)

// Log is a file another process appends to (a VM's serial console, the
// master's log) read as a stream of events: wait for a line, remember
// where it was, later wait for the next one after that point.
type Log struct {
	Path string
}

// ErrTimeout is wrapped by Wait when its context ends before a match.
var ErrTimeout = errors.New("timed out")

// Mark is the current end of the log: Wait(ctx, mark, re) then only
// matches what is written from now on.
func (l Log) Mark() int64 {
	fi, err := os.Stat(l.Path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// pollInterval is how often Wait reads what was added. Console output
// comes in bursts; 50 ms costs nothing next to a 10 s boot.
const pollInterval = 50 * time.Millisecond

// Wait reads the log from offset from until re matches, and returns the
// match and the offset just after it (to wait for a later event). It
// gives up with an error wrapping ErrTimeout, or ctx's error, when ctx
// ends first. A log that does not exist yet is waited for too.
func (l Log) Wait(ctx context.Context, from int64, re *regexp.Regexp) (string, int64, error) {
	var buf []byte
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		more, err := readFrom(l.Path, from+int64(len(buf)))
		if err != nil {
			return "", from, err
		}
		buf = append(buf, more...)
		if loc := re.FindIndex(buf); loc != nil {
			return string(buf[loc[0]:loc[1]]), from + int64(loc[1]), nil
		}
		select {
		case <-ctx.Done():
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = ErrTimeout
			}
			return "", from, fmt.Errorf("%s: waiting for %q: %w", l.Path, re, err)
		case <-t.C:
		}
	}
}

// readFrom returns what the file holds from offset on; nothing when the
// file is not there (yet).
func readFrom(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// Contains says whether re matches anywhere in the log from offset from.
func (l Log) Contains(from int64, re *regexp.Regexp) bool {
	b, err := readFrom(l.Path, from)
	return err == nil && re.Match(b)
}

// Tail is the last n bytes of the log, cleaned of terminal escapes and
// carriage returns, for error messages: a VM that does not come up is
// reported with what its console said.
func (l Log) Tail(n int64) string {
	b, err := readFrom(l.Path, max(0, l.Mark()-n))
	if err != nil {
		return fmt.Sprintf("(%s: %v)", l.Path, err)
	}
	return string(cleanConsole(b))
}

// escapes are ANSI terminal sequences (SeaBIOS and iPXE draw with them).
var escapes = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])`)

// cleanConsole drops terminal escapes, carriage returns and iPXE's
// backspaced countdowns, so a log reads as plain lines.
func cleanConsole(b []byte) []byte {
	b = escapes.ReplaceAll(b, nil)
	b = bytes.ReplaceAll(b, []byte("\b \b"), nil)
	b = bytes.ReplaceAll(b, []byte("\r"), nil)
	return b
}

// Where a kernel starts, and where it gives up for good.
var (
	kernelStart = []byte("Linux version ")
	kernelPanic = regexp.MustCompile(`Kernel panic - not syncing:[^\n]*`)
)

// BootPanic is the panic line of the kernel that booted last on this
// console, "" while that kernel has not panicked (or none booted yet).
// A panic of an earlier boot does not count: with panic=N the machine
// boots again, and may come up.
func (l Log) BootPanic() string {
	b, err := readFrom(l.Path, 0)
	if err != nil {
		return ""
	}
	if i := bytes.LastIndex(b, kernelStart); i >= 0 {
		b = b[i:]
	} else {
		return ""
	}
	return string(bytes.TrimSpace(cleanConsole(kernelPanic.Find(b))))
}
