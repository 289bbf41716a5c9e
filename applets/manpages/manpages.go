// Package manpages is the hidden manpages applet: it writes the manual
// pages of the applets and of the configuration file (make man) from the
// models --help is made from, so that the two cannot drift apart.
//
// Synopsis:
//
//	bproc manpages DIR
//
// writes DIR/man1/APPLET.1 and DIR/man5/bproc-config.5.
package manpages

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
	"github.com/bproc/bproc/internal/master/config"
)

// Entry is an applet with a manual page.
type Entry struct {
	Name, Summary string
	Manual        func() applets.Manual
}

// ConfigName is the configuration file's page: bproc-config(5), for
// /etc/bproc/config.
const ConfigName = "bproc-config"

// Main writes the pages of entries into the directory args[0].
func Main(ctx context.Context, args []string, io applets.IO, entries []Entry) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return &applets.UsageError{Err: errors.New("usage: bproc manpages DIR (writes DIR/man1, DIR/man5)")}
	}
	pages, err := Pages(entries)
	if err != nil {
		return err
	}
	for _, p := range pages {
		path := filepath.Join(args[0], fmt.Sprintf("man%d", p.Section), fmt.Sprintf("%s.%d", p.Name, p.Section))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		var b bytes.Buffer
		if err := manpage.Write(&b, p); err != nil {
			return err
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Pages are every page: one for each entry, and the configuration file's.
func Pages(entries []Entry) ([]manpage.Page, error) {
	var out []manpage.Page
	for _, e := range entries {
		p, err := e.Manual().Page(e.Name, e.Summary)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return append(out, ConfigPage()), nil
}

// ConfigPage is bproc-config(5), made from the config package's keyword
// table and its docs.
func ConfigPage() manpage.Page {
	p := manpage.Page{
		Name: ConfigName, Section: 5, Summary: "the bproc master's configuration file",
		Synopsis: []string{},
	}
	p.Sections = append(p.Sections, manpage.Section{
		Title: "Description",
		Paras: strings.Split(config.FileDoc, "\n\n"),
	})
	kws := config.Keywords()
	for _, g := range config.Groups {
		s := manpage.Section{Title: g.Title, Paras: []string{g.Text}}
		for _, k := range kws {
			if k.Group == g.Name {
				s.Items = append(s.Items, manpage.Item{Tag: k.Usage, Text: k.Doc})
			}
		}
		p.Sections = append(p.Sections, s)
	}
	p.Sections = append(p.Sections,
		manpage.Section{Title: "Files", Items: []manpage.Item{
			{Tag: config.DefaultPath, Text: "The file bpmaster reads when --config is not given."},
		}},
		manpage.Section{Title: "Example", Paras: []string{"\t" + strings.ReplaceAll(strings.TrimSpace(config.ExampleFile), "\n", "\n\t")}},
		manpage.Section{Title: "See also", Paras: []string{"bpmaster(1), bpctl(1), bproc-mkimage(1)"}},
	)
	return p
}
