// Package clip shortens what a caller gave before an error message quotes
// it: a 5 MB config line made a 5 MB error, in the log and on the terminal.
// The start of it says which argument was meant; the length says how much
// was left out.
package clip

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Max is how many bytes of an argument a message shows.
const Max = 80

// S is a string that prints cut to Max bytes (on a rune boundary) with
// "..." and its length in bytes when it is longer: with %q as
// "abc..." (5000000 bytes), with %s and %v as abc... (5000000 bytes).
type S string

// Format implements fmt.Formatter.
func (s S) Format(f fmt.State, verb rune) {
	str := string(s)
	if len(str) <= Max {
		if verb == 'q' {
			fmt.Fprint(f, strconv.Quote(str))
		} else {
			fmt.Fprint(f, str)
		}
		return
	}
	cut := Max
	for cut > 0 && !utf8.RuneStart(str[cut]) {
		cut--
	}
	head := str[:cut] + "..."
	if verb == 'q' {
		head = strconv.Quote(head)
	}
	fmt.Fprintf(f, "%s (%d bytes)", head, len(str))
}

// Args returns args with every string longer than Max made an S, for a
// message built with fmt from what a caller gave.
func Args(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > Max {
			a = S(s)
		}
		out[i] = a
	}
	return out
}
