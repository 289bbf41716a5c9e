package master

import (
	"slices"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// TestRankEnv: a rank's own variables replace the caller's of the same
// name (getenv takes the first), as BPROC_RANK and BPROC_NODE do.
func TestRankEnv(t *testing.T) {
	got := rankEnv([]string{"A=1", "PMI_RANK=9", "BPROC_RANK=5", "BPROC_PROGNAME=x", "B=2"}, &rank{index: 3, node: 1, env: []string{"PMI_RANK=3", "PMI_ID=77"}}, "/bin/prog")
	want := []string{"A=1", "B=2", "BPROC_RANK=0000003", "BPROC_NODE=1", "BPROC_PROGNAME=/bin/prog", "PMI_RANK=3", "PMI_ID=77"}
	if !slices.Equal(got, want) {
		t.Errorf("rankEnv = %q, want %q", got, want)
	}
}

// TestCheckRankEnv: RankEnv has an entry per rank, each NAME=value.
func TestCheckRankEnv(t *testing.T) {
	for _, c := range []struct {
		r    localapi.Run
		want string
	}{
		{localapi.Run{Nodes: []int{0, 1}, RankEnv: [][]string{{"A=1"}}}, "rank_env has 1 entries for 2 ranks"},
		{localapi.Run{Nodes: []int{0}, RankEnv: [][]string{{"=1"}}}, `rank_env of rank 0: "=1" is not NAME=value`},
		{localapi.Run{Nodes: []int{0}, RankEnv: [][]string{{"A"}}}, `rank_env of rank 0: "A" is not NAME=value`},
		{localapi.Run{Nodes: []int{0}, RankEnv: [][]string{{"A=\x00"}}}, `rank_env of rank 0: "A=\x00" is not NAME=value`},
		{localapi.Run{Nodes: []int{0}, RankEnv: [][]string{{"A=b=c"}}}, ""},
	} {
		err := c.r.CheckRankEnv()
		if got := ""; err != nil {
			got = err.Error()
			if got != c.want {
				t.Errorf("CheckRankEnv(%q) = %q, want %q", c.r.RankEnv, got, c.want)
			}
		} else if c.want != "" {
			t.Errorf("CheckRankEnv(%q) = nil, want %q", c.r.RankEnv, c.want)
		}
	}
}
