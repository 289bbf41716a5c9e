package applets

import (
	"github.com/alecthomas/kong"
)

// helpExit is how kong's --help reaches Parse: kong wants to exit the
// process, and applets must not (tests call them in-process).
type helpExit struct{ code int }

// Parse fills cli from args with kong, writing help to io.Stdout. A bad flag
// is a *UsageError (exit 2); --help is an *ExitError with code 0 and no text.
func Parse(name, description string, cli any, args []string, io IO, opts ...kong.Option) (ctx *kong.Context, err error) {
	opts = append([]kong.Option{
		kong.Name(name),
		kong.Description(description),
		kong.Writers(io.Stdout, io.Stderr),
		kong.Exit(func(code int) { panic(helpExit{code}) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
	}, opts...)
	parser, err := kong.New(cli, opts...)
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
