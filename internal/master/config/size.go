package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bproc/bproc/internal/shared/clip"
)

// ParseSize parses a size in bytes: digits with an optional K, M, G or T
// suffix (either case), multiples of 1024, as in "512M" or "2g".
func ParseSize(s string) (int64, error) {
	digits, shift := s, 0
	if s != "" {
		if i := strings.IndexByte("KMGT", upper(s[len(s)-1])); i >= 0 {
			digits, shift = s[:len(s)-1], 10*(i+1)
		}
	}
	if !isDigits(digits) {
		return 0, fmt.Errorf("%q is not a size (digits, then perhaps K, M, G or T)", clip.S(s))
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is too large", clip.S(s))
	}
	return n << shift, nil
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
