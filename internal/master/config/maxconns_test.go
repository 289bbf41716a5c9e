package config

import "testing"

func TestMaxConns(t *testing.T) {
	c, err := Parse("t", []byte("maxconns 500\n"))
	if err != nil || c.MaxConns != 500 {
		t.Errorf("maxconns 500: %+v, %v", c, err)
	}
	for _, text := range []string{"maxconns 0", "maxconns -3", "maxconns many", "maxconns 1 2", "maxconns 5\nmaxconns 6"} {
		if _, err := Parse("t", []byte(text)); err == nil {
			t.Errorf("Parse(%q) = nil error", text)
		}
	}
}
