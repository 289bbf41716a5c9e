//go:build !race

package procfs

const raceOn = false
