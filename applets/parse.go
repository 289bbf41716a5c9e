package applets

import (
	"strings"

	"github.com/alecthomas/kong"
)

// helpExit is how kong's --help reaches Parse: kong wants to exit the
// process, and applets must not (tests call them in-process).
type helpExit struct{ code int }

// Kong builds applet name's parser for cli, with its doc's description
// as --help's: Parse and the manual page (Manual.Page) both use it, so
// that they read the same model.
func Kong(name string, doc *Doc, cli any, io IO, opts ...kong.Option) (*kong.Kong, error) {
	desc := strings.TrimSpace(doc.Description)
	opts = append([]kong.Option{
		kong.Name(name),
		kong.Description(desc),
		kong.Writers(io.Stdout, io.Stderr),
		kong.Exit(func(code int) { panic(helpExit{code}) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
	}, opts...)
	return kong.New(cli, opts...)
}

// Parse fills cli from args with kong, writing help to io.Stdout. A bad flag
// is a *UsageError (exit 2); --help is an *ExitError with code 0 and no text.
func Parse(name string, doc *Doc, cli any, args []string, io IO, opts ...kong.Option) (ctx *kong.Context, err error) {
	parser, err := Kong(name, doc, cli, io, opts...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			h, ok := r.(helpExit)
			if !ok {
				panic(r)
			}
			ctx, err = nil, &ExitError{Code: h.code}
		}
	}()
	shielded, raw := shield(args)
	ctx, err = parser.Parse(shielded)
	if err != nil {
		return nil, &UsageError{Err: unshield(err, raw)}
	}
	restore(cli, raw)
	return ctx, nil
}
