// Package manpage writes manual pages in troff with the man(7) macros.
// The pages are built from what the applets' --help is built from (their
// kong models and docs, applets.Manual) and the config package's keyword
// table, so a manual cannot say other than the program does.
package manpage

// Page is one manual page.
type Page struct {
	Name    string // bpsh
	Section int    // 1: commands, 5: file formats
	Summary string // the NAME line after "bpsh \-"
	// Command is what the synopsis shows to run it; "" is Name.
	Command string
	// Synopsis is the forms of the command line (or of the file's lines),
	// each without the name; an empty one is the name alone.
	Synopsis []string
	Sections []Section
}

// Section is one .SH: paragraphs, then tagged items, then examples.
type Section struct {
	Title string
	// Paras are paragraphs of plain text; a line starting with a tab is
	// shown as it is (a command or a file's line), in a block with the
	// lines next to it that start with one too.
	Paras    []string
	Items    []Item
	Examples []Example
}

// Item is a tagged paragraph: an option, a keyword, a variable, a file.
type Item struct {
	// Tag is shown in bold, but for words in capitals (placeholders),
	// which are italic.
	Tag  string
	Text string
}

// Example is a command and what it does.
type Example struct {
	Command string
	Text    string
}
