//go:build race

package procfs

// raceOn: the race detector instruments this build, and its calls move
// values to the heap that a plain build keeps on the stack: allocation
// counts mean nothing here.
const raceOn = true
