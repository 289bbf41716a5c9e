//go:build !race

package node

const raceOn = false
