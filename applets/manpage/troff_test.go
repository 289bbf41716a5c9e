package manpage

import (
	"strings"
	"testing"
)

// TestWriteEscapes: text that troff would take for requests or escapes
// is shown as written.
func TestWriteEscapes(t *testing.T) {
	var b strings.Builder
	err := Write(&b, Page{Name: "x", Section: 1, Summary: "a-b", Synopsis: []string{"[-v] FILE..."},
		Sections: []Section{{
			Title: "Description",
			Paras: []string{".starts with a dot\n'and an apostrophe\nback\\slash", "\tliteral\n\t\n\t.dot"},
			Items: []Item{{Tag: "-S, --slave=NODES", Text: "x"}},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"x \\- a\\-b\n",
		"\\fBx\\fR [\\fB\\-v\\fR] \\fIFILE...\\fR\n",
		"\\&.starts with a dot\n", "\\&'and an apostrophe\n", "back\\eslash\n",
		".nf\nliteral\n.sp\n\\&.dot\n.fi\n",
		"\\fB\\-S\\fR, \\fB\\-\\-slave\\fR=\\fINODES\\fR\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %q:\n%s", want, got)
		}
	}
}
