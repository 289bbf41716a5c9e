package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
	"github.com/bproc/bproc/applets/manpages"
	"github.com/bproc/bproc/internal/master/config"
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
	for i, p := range ps {
		var b bytes.Buffer
		if err := manpage.Write(&b, p); err != nil {
			t.Fatal(err)
		}
		name := p.Name // an applet's page is found by its applet's name
		if i < len(entries) {
			name = entries[i].Name
		}
		out[name] = b.String()
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

// TestHelpSharesManual: --help says what the page's DESCRIPTION says,
// paragraph by paragraph, and names every option the page lists.
func TestHelpSharesManual(t *testing.T) {
	words := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, a := range table {
		if a.Manual == nil {
			continue
		}
		out, err := os.CreateTemp(t.TempDir(), "help")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Run(context.Background(), []string{"--help"}, applets.IO{Stdin: os.Stdin, Stdout: out, Stderr: out}); err != nil {
			var ee *applets.ExitError
			if !errors.As(err, &ee) || ee.Code != 0 {
				t.Errorf("%s --help: %v", a.Name, err)
			}
		}
		b, _ := os.ReadFile(out.Name())
		help := strings.ReplaceAll(words(string(b)), "--[no-]", "--") // kong folds a negation in
		m := a.Manual()
		for _, para := range strings.Split(m.Doc.Description, "\n\n") {
			if !strings.Contains(help, words(para)) {
				t.Errorf("%s --help lacks %q", a.Name, words(para))
			}
		}
		p, err := m.Page(a.Name, a.Summary)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Sections {
			if s.Title != "Options" {
				continue
			}
			for _, it := range s.Items {
				first, _, _ := strings.Cut(strings.Split(it.Tag, ",")[0], "=")
				if !strings.HasPrefix(first, "-") {
					continue // a positional argument's item
				}
				if !strings.Contains(help, first) {
					t.Errorf("%s --help lacks %s", a.Name, first)
				}
			}
		}
	}
}

// TestSeeAlsoExists: a page that points to one of bproc's pages points to
// one that is written.
func TestSeeAlsoExists(t *testing.T) {
	written := map[string]bool{}
	for _, src := range pages(t) {
		th := strings.Fields(strings.SplitN(strings.SplitN(src, ".TH ", 2)[1], "\n", 2)[0])
		written[strings.ReplaceAll(strings.ToLower(strings.Trim(th[0], `"`)), `\-`, "-")+"("+th[1]+")"] = true
	}
	for name, src := range pages(t) {
		_, see, ok := strings.Cut(src, ".SH \"SEE ALSO\"\n")
		if !ok {
			continue
		}
		for _, ref := range strings.Split(strings.TrimSpace(see), ", ") {
			ref = strings.ReplaceAll(ref, `\-`, "-")
			if strings.HasPrefix(ref, "bp") && !written[ref] {
				t.Errorf("%s: SEE ALSO %s: no such page (have %v)", name, ref, written)
			}
		}
	}
}
