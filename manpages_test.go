package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
	"github.com/bproc/bproc/applets/manpages"
	"github.com/bproc/bproc/config"
)

// pages renders every manual page as bproc manpages writes it.
func pages(t *testing.T) map[string]string {
	t.Helper()
	var entries []manpages.Entry
	for _, a := range table {
		if a.Manual != nil {
			entries = append(entries, manpages.Entry{Name: a.Name, Summary: a.Summary, Manual: a.Manual})
		}
	}
	ps, err := manpages.Pages(entries)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range ps {
		var b bytes.Buffer
		if err := manpage.Write(&b, p); err != nil {
			t.Fatal(err)
		}
		out[p.Name] = b.String()
	}
	return out
}

// troff is s as the page source spells it.
func troff(s string) string { return strings.ReplaceAll(s, "-", `\-`) }

// TestManualsHaveEveryFlag: each applet a person runs has a page, and the
// page names every flag its parser takes (kong's model, read here apart
// from the generator), so a flag added without a page cannot be.
func TestManualsHaveEveryFlag(t *testing.T) {
	got := pages(t)
	for _, name := range []string{"bpsh", "bpstat", "bpctl", "bpcp", "bpmaster", "bpslave", "mkimage", manpages.ConfigName} {
		if got[name] == "" {
			t.Errorf("no manual page for %s", name)
		}
	}
	for _, a := range table {
		if a.Manual == nil {
			continue
		}
		page := got[a.Name]
		m := a.Manual()
		for _, s := range []string{".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS", ".SH \"EXIT STATUS\"", troff(a.Summary)} {
			if !strings.Contains(page, s) {
				t.Errorf("%s: page lacks %q", a.Name, s)
			}
		}
		if m.CLI == nil {
			continue // bpctl: its page and its parser share one table (bpctl's tests)
		}
		k, err := applets.Kong(a.Name, m.Doc, m.CLI, applets.IO{}, m.Options...)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, group := range k.Model.AllFlags(true) {
			for _, f := range group {
				n++
				want := []string{`\fB` + troff("--"+f.Name) + `\fR`}
				if f.Short != 0 {
					want = append(want, `\fB`+troff("-"+string(f.Short))+`\fR`)
				}
				if f.IsBool() && f.Tag.Negatable != "" {
					want = append(want, `\fB`+troff("--no-"+f.Name)+`\fR`)
				}
				for _, e := range f.Envs {
					want = append(want, e)
				}
				for _, w := range want {
					if !strings.Contains(page, w) {
						t.Errorf("%s: page lacks %s", a.Name, w)
					}
				}
			}
		}
		if n < 2 {
			t.Errorf("%s: kong knows %d flags", a.Name, n)
		}
	}
}

// TestConfigManualHasEveryKeyword: bproc-config(5) has every keyword.
func TestConfigManualHasEveryKeyword(t *testing.T) {
	page := pages(t)[manpages.ConfigName]
	for _, k := range config.Keywords() {
		if !strings.Contains(page, ".TP\n\\fB"+troff(k.Name)+`\fR`) {
			t.Errorf("bproc-config(5) lacks keyword %s", k.Name)
		}
	}
}

// TestManualsRender: groff reads every page without a warning. Skipped
// where groff is missing (Debian: groff-base).
func TestManualsRender(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not installed (Debian: groff-base)")
	}
	for name, src := range pages(t) {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(src)
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("%s: groff: %v\n%s", name, err, out)
		}
	}
}
