package bpcp

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// bigFile is where a progress bar starts to be worth drawing.
const bigFile = 4 << 20

// progressBar draws a bar on w for large files, when w is a terminal.
func progressBar(w *os.File) func(name string, size int64) io.Writer {
	if _, err := unix.IoctlGetTermios(int(w.Fd()), unix.TCGETS); err != nil {
		return nil
	}
	return func(name string, size int64) io.Writer {
		if size < bigFile {
			return nil
		}
		return &bar{w: w, name: name, size: size, began: time.Now()}
	}
}

type bar struct {
	w     io.Writer
	name  string
	size  int64
	done  int64
	began time.Time
	drawn time.Time
}

func (b *bar) Write(p []byte) (int, error) {
	b.done += int64(len(p))
	if now := time.Now(); now.Sub(b.drawn) > 100*time.Millisecond || b.done == b.size {
		b.drawn = now
		pct := b.done * 100 / b.size
		rate := float64(b.done) / now.Sub(b.began).Seconds() / (1 << 20)
		filled := int(pct / 5)
		fmt.Fprintf(b.w, "\r%-24.24s [%-20s] %3d%% %7.1f MB/s", b.name, bars[:filled], pct, rate)
		if b.done == b.size {
			fmt.Fprintln(b.w)
		}
	}
	return len(p), nil
}

const bars = "===================="
