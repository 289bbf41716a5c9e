package applets

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/bproc/bproc/applets/manpage"
)

// Doc is an applet's prose: its --help shows Description, its manual page
// all of it. It lives in the applet's source beside its flags, so that a
// change to one is seen next to the other.
type Doc struct {
	// ViaBproc says the applet has no command of its own (no symlink is
	// installed): it is run as "bproc NAME" and its page is bproc-NAME,
	// clear of other programs' pages (u-boot's mkimage(1)).
	ViaBproc bool
	// Synopsis is the forms of the command line, without the name;
	// nil: the name, [OPTIONS] and the positional arguments.
	Synopsis []string
	// Description is paragraphs separated by blank lines; lines that
	// start with a tab are shown as they are.
	Description string
	Examples    []manpage.Example
	// Exit says what the exit status means; "" is "0 on success, 1 on
	// an error, 2 on a bad command line".
	Exit    string
	Env     []manpage.Item
	Files   []manpage.Item
	SeeAlso []string
}

// Manual is what an applet's manual page is made from: its Doc, and its
// flags as its parser knows them.
type Manual struct {
	Doc *Doc
	// CLI and Options are what the applet hands Parse: the page lists
	// the flags of the kong model they build.
	CLI     any
	Options []kong.Option
	// Flags are the options of an applet with a parser of its own
	// (bpctl: its options apply in order), instead of CLI.
	Flags []manpage.Item
}

// defaultExit is what most applets' exit statuses mean (ExitCode).
const defaultExit = "0 on success, 1 on an error, 2 on a bad command line."

// Page makes the manual page of applet name.
func (m Manual) Page(name, summary string) (manpage.Page, error) {
	d := m.Doc
	p := manpage.Page{Name: name, Section: 1, Summary: summary, Synopsis: d.Synopsis}
	if d.ViaBproc {
		p.Name, p.Command = "bproc-"+name, "bproc "+name
	}
	desc := manpage.Section{Title: "Description", Paras: strings.Split(strings.TrimSpace(d.Description), "\n\n")}
	opts := manpage.Section{Title: "Options", Items: m.Flags}
	env := manpage.Section{Title: "Environment", Items: d.Env}
	if m.CLI != nil {
		k, err := Kong(name, d, m.CLI, IO{}, m.Options...)
		if err != nil {
			return p, fmt.Errorf("%s: %w", name, err)
		}
		app := k.Model
		for _, f := range flags(app.Node) {
			opts.Items = append(opts.Items, flagItem(f))
			for _, e := range f.Envs {
				if !hasItem(env.Items, e) {
					env.Items = append(env.Items, manpage.Item{Tag: e, Text: fmt.Sprintf("The default of --%s.", f.Name)})
				}
			}
		}
		var args []string
		for _, a := range app.Positional {
			s := strings.ToUpper(a.Name)
			if a.Help != "" && strings.ToUpper(a.Help) == a.Help {
				s = a.Help // a synopsis of its own: NODESPEC COMMAND [ARGS...]
			} else if a.Help != "" {
				opts.Items = append(opts.Items, manpage.Item{Tag: s, Text: a.Help})
			}
			if !a.Required {
				s = "[" + s + "]"
			}
			if a.IsCumulative() && !strings.Contains(s, "...") {
				s += "..."
			}
			args = append(args, s)
		}
		if p.Synopsis == nil {
			p.Synopsis = []string{strings.TrimSpace("[OPTIONS] " + strings.Join(args, " "))}
		}
	}
	p.Sections = append(p.Sections, desc, opts)
	exit := d.Exit
	if exit == "" {
		exit = defaultExit
	}
	p.Sections = append(p.Sections, manpage.Section{Title: "Exit status", Paras: []string{exit}})
	if len(env.Items) > 0 {
		p.Sections = append(p.Sections, env)
	}
	if len(d.Files) > 0 {
		p.Sections = append(p.Sections, manpage.Section{Title: "Files", Items: d.Files})
	}
	if len(d.Examples) > 0 {
		p.Sections = append(p.Sections, manpage.Section{Title: "Examples", Examples: d.Examples})
	}
	if len(d.SeeAlso) > 0 {
		p.Sections = append(p.Sections, manpage.Section{Title: "See also", Paras: []string{strings.Join(d.SeeAlso, ", ")}})
	}
	return p, nil
}

// flags are the flags a user may give, --help included, as kong orders
// them in its help.
func flags(n *kong.Node) []*kong.Flag {
	var out []*kong.Flag
	for _, group := range n.AllFlags(true) {
		out = append(out, group...)
	}
	return out
}

// flagItem is one flag as --help shows it: "-b, --buf-size=N", with its
// default and variable.
func flagItem(f *kong.Flag) manpage.Item {
	tag := "--" + f.Name
	if f.IsBool() && f.Tag.Negatable != "" {
		tag += ", --" + negation(f) // kong's --[no-]NAME, spelled out to be found
	}
	if f.Short != 0 {
		tag = "-" + string(f.Short) + ", " + tag
	}
	if !f.IsBool() && !f.IsCounter() {
		ph := f.FormatPlaceHolder()
		if f.PlaceHolder == "" && f.HasDefault {
			ph = strings.ToUpper(f.Name) // kong shows the default; the page says it below
		}
		tag += "=" + ph
	}
	text := f.Help
	if f.HasDefault && f.Default != "" && !f.IsBool() && !strings.Contains(f.Help, "default") {
		text += " Default: " + f.Default + "."
	}
	for _, e := range f.Envs {
		text += " Environment: $" + e + "."
	}
	return manpage.Item{Tag: tag, Text: text}
}

func hasItem(items []manpage.Item, tag string) bool {
	for _, it := range items {
		if it.Tag == tag {
			return true
		}
	}
	return false
}

// negation is the name of a negatable flag's negation: no-NAME, or the
// one its tag gives (kong's negatable:"NAME").
func negation(f *kong.Flag) string {
	if f.Tag.Negatable == "_" {
		return "no-" + f.Name
	}
	return f.Tag.Negatable
}
