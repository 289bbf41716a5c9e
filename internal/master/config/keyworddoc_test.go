package config

import "testing"

// TestKeywordDocs: every keyword has a line in the manual, of a known
// group, and the manual documents no keyword the parser lacks.
func TestKeywordDocs(t *testing.T) {
	groups := map[string]bool{}
	for _, g := range Groups {
		groups[g.Name] = true
	}
	for name := range keywords() {
		d, ok := keywordDocs()[name]
		if !ok || d.doc == "" {
			t.Errorf("keyword %s has no doc in keywordDocs (keyworddoc.go)", name)
		} else if !groups[d.group] {
			t.Errorf("keyword %s: group %q is not in Groups", name, d.group)
		}
	}
	for name := range keywordDocs() {
		if _, ok := keywords()[name]; !ok {
			t.Errorf("keywordDocs documents %s, which is no keyword", name)
		}
	}
	if n := len(Keywords()); n != len(keywords()) {
		t.Errorf("Keywords() has %d, want %d", n, len(keywords()))
	}
}
