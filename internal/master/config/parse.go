package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bproc/bproc/internal/shared/clip"
)

// maxErrors is how many bad lines one error reports. Past that the file
// is probably not a config at all (a binary, the wrong path), and a
// thousand lines of complaint would hide the first one.
const maxErrors = 50

// parser holds what one Parse has seen so far. Keyword handlers check
// their own line; what needs the whole file (node numbers against the
// nodes count, addresses against the interface's network, node specs)
// waits for finish.
type parser struct {
	cfg   *Config
	file  string
	line  int    // line being parsed, from 1
	kw    string // its keyword, lower case
	errs  []*Error
	first map[string]int // keyword -> line, for keywords allowed once

	nodeLines
	masters    []masterLine
	modulesDir int            // line of the modules directory, 0 if none
	modules    map[string]int // module name -> line
}

// Parse parses the contents of a config file; file names it in errors.
// It returns every bad line (up to maxErrors) joined in one error, each
// an *Error whose text is "FILE:LINE: keyword: what is wrong", in line
// order; the master must not start on a bad config, so there is no
// partial result.
func Parse(file string, data []byte) (*Config, error) {
	cfg := Default()
	cfg.File = file
	p := &parser{cfg: cfg, file: file, first: map[string]int{}, modules: map[string]int{}}
	for i, text := range strings.Split(string(data), "\n") {
		p.line = i + 1
		if j := strings.IndexByte(text, '#'); j >= 0 {
			text = text[:j]
		}
		if fields := strings.Fields(text); len(fields) > 0 {
			p.parseLine(fields)
		}
	}
	p.finish()
	if len(p.errs) > 0 {
		return nil, p.joined()
	}
	return cfg, nil
}

func (p *parser) parseLine(fields []string) {
	p.kw = strings.ToLower(fields[0])
	args := fields[1:]
	kw, ok := keywords()[p.kw]
	if !ok {
		p.add(p.line, fmt.Sprintf("unknown keyword %q", clip.S(fields[0])))
		return
	}
	if len(args) < kw.min || (kw.max >= 0 && len(args) > kw.max) {
		p.errorf("got %s, want %s", plural(len(args), "argument"), kw.usage)
		return
	}
	if kw.once {
		if l, dup := p.first[p.kw]; dup {
			p.errorf("given again (first on line %d)", l)
			return
		}
		p.first[p.kw] = p.line
	}
	kw.parse(p, args)
}

// finish runs the checks that need the whole file, then builds the node
// table.
func (p *parser) finish() {
	p.finishMasters()
	p.checkNodes()
	if len(p.errs) == 0 {
		p.buildTable()
	}
}

// errorf reports a problem with the current line.
func (p *parser) errorf(format string, args ...any) {
	p.errorAt(p.line, p.kw, format, args...)
}

// errorAt reports a problem found later with an earlier line. The
// arguments are cut (package clip): they are the file's own words.
func (p *parser) errorAt(line int, kw, format string, args ...any) {
	p.add(line, kw+": "+fmt.Sprintf(format, clip.Args(args)...))
}

func (p *parser) add(line int, msg string) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: msg})
}

// note records a line that was accepted and ignored.
func (p *parser) note(why string) {
	p.cfg.Notes = append(p.cfg.Notes, fmt.Sprintf("%s:%d: %s: ignored: %s", p.file, p.line, p.kw, why))
}

// joined sorts the errors by line, since checks of the whole file report
// on earlier lines than the one last parsed, and keeps the first
// maxErrors.
func (p *parser) joined() error {
	slices.SortStableFunc(p.errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	var errs []error
	for i, e := range p.errs {
		if i == maxErrors {
			errs = append(errs, &Error{File: p.file, Line: e.Line, Msg: "too many errors"})
			break
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
