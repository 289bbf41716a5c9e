package bpsh

import (
	"bytes"
	"regexp"
	"testing"
)

func TestTimingOff(t *testing.T) {
	for _, v := range []string{"", "0"} {
		t.Setenv("BPROC_TIMING", v)
		tm := startTiming()
		if tm != nil {
			t.Errorf("BPROC_TIMING=%q: timing on", v)
		}
		tm.mark("parsed") // a nil timing takes marks and says nothing
		var b bytes.Buffer
		tm.report(&b)
		if b.Len() != 0 {
			t.Errorf("BPROC_TIMING=%q: report wrote %q", v, b.String())
		}
	}
}

func TestTimingReport(t *testing.T) {
	t.Setenv("BPROC_TIMING", "1")
	tm := startTiming()
	if tm == nil {
		t.Fatal("BPROC_TIMING=1: timing off")
	}
	tm.mark("parsed")
	tm.mark("connected")
	var b bytes.Buffer
	tm.report(&b)
	want := regexp.MustCompile(`^bpsh: timing: cpu before main [0-9.]+ ms, parsed \+[0-9.]+, connected \+[0-9.]+, total [0-9.]+ ms since main\n$`)
	if !want.MatchString(b.String()) {
		t.Errorf("report = %q, want it to match %s", b.String(), want)
	}
}
