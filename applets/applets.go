// Package applets holds what every applet of the bproc binary shares: the
// signature of an applet's entry point, its standard streams, and how an
// error becomes an exit status.
package applets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// IO is an applet's standard streams. They are files, not io.Readers,
// because bpsh hands them to ghosts as file descriptors.
type IO struct {
	Stdin, Stdout, Stderr *os.File
}

// Func is an applet's entry point: args exclude the applet name.
type Func func(ctx context.Context, args []string, io IO) error

// Applet is one row of the dispatch table in main.go.
type Applet struct {
	Name    string
	Summary string
	Run     Func
	// StopOn lists signals that cancel the context (daemons); interactive
	// tools leave it empty so that ^C reaches their ghosts instead.
	StopOn []os.Signal
	// Manual is what its manual page is made from; nil: it has none
	// (init and nodeview are started by bproc, not by people).
	Manual func() Manual
	// Hidden leaves it out of bproc --help (manpages, for make man).
	Hidden bool
	// Link: users run it by its own name, so a symlink of that name goes
	// beside the binary (bin/, make install) and into the node image's
	// /bin. The Makefile's APPLETS repeats these names; a test in the
	// repository's root holds the two equal.
	Link bool
	// ActsAsUser: it changes credentials on threads of its own (package
	// asuser), so main keeps the main thread to itself (see main.go).
	// The others are spared the thread that costs.
	ActsAsUser bool
}

// linked is the names of main's applets with Link set.
var linked []string

// Register records the binary's applets (main's table, the one list of
// them) for the applets that build what holds the binary: the node image
// links Linked. main calls it before any applet runs.
func Register(table []Applet) {
	linked = nil
	for _, a := range table {
		if a.Link {
			linked = append(linked, a.Name)
		}
	}
}

// Linked is the names of the applets that get a symlink of their own, in
// the order of main's table; none before Register.
func Linked() []string { return slices.Clone(linked) }

// ExitError ends an applet with a status of its own choosing. An empty Msg
// prints nothing (the applet already said what went wrong).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// Exit returns an ExitError with a formatted message.
func Exit(code int, format string, args ...any) error {
	return &ExitError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Status returns an ExitError that prints nothing.
func Status(code int) error {
	if code == 0 {
		return nil
	}
	return &ExitError{Code: code}
}

// ExitCode prints err as one line prefixed by the applet name (unless the
// applet already did) and returns the exit status main should use: usage
// errors 2, other errors 1.
func ExitCode(name string, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Msg != "" {
			fmt.Fprintf(stderr, "%s: %s\n", name, ee.Msg)
		}
		return ee.Code
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s: %s\n", name, ue.Err)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, err)
	return 1
}

// UsageError is a bad flag or argument: exit status 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }
