package config

import (
	"math"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := []struct {
		s    string
		want int64
	}{
		{"0", 0},
		{"1", 1},
		{"1k", 1 << 10},
		{"1K", 1 << 10},
		{"512M", 512 << 20},
		{"2g", 2 << 30},
		{"3T", 3 << 40},
		{"0G", 0},
		{"007M", 7 << 20},
		{"9223372036854775807", math.MaxInt64},
		{"8388607T", 8388607 << 40},
	}
	for _, tc := range good {
		if got, err := ParseSize(tc.s); got != tc.want || err != nil {
			t.Errorf("ParseSize(%q) = %d, %v, want %d, nil", tc.s, got, err, tc.want)
		}
	}
	bad := []struct {
		s, want string
	}{
		{"", `"" is not a size (digits, then perhaps K, M, G or T)`},
		{"M", `"M" is not a size (digits, then perhaps K, M, G or T)`},
		{"-1", `"-1" is not a size (digits, then perhaps K, M, G or T)`},
		{"+1", `"+1" is not a size (digits, then perhaps K, M, G or T)`},
		{"1.5G", `"1.5G" is not a size (digits, then perhaps K, M, G or T)`},
		{"1MB", `"1MB" is not a size (digits, then perhaps K, M, G or T)`},
		{"1P", `"1P" is not a size (digits, then perhaps K, M, G or T)`},
		{"1 M", `"1 M" is not a size (digits, then perhaps K, M, G or T)`},
		{"9223372036854775808", `"9223372036854775808" is too large`},
		{"8388608T", `"8388608T" is too large`},
		{"99999999999999999999999K", `"99999999999999999999999K" is too large`},
	}
	for _, tc := range bad {
		if got, err := ParseSize(tc.s); err == nil || err.Error() != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v, want error %s", tc.s, got, err, tc.want)
		}
	}
}
