package master

// shrinkFloor is the most a table must have held before shrunk remakes
// it: the room of a few hundred entries is not worth a copy.
const shrinkFloor = 256

// shrunk returns m, or a copy of it made for its entries once it holds
// under a quarter of *peak, the most it held. Go's maps never give back
// the room of the entries deleted from them: the process tables of a
// master that once ran 10,000 processes held room for them all its life
// (108 bytes a process in the process, node and ghost-watch tables).
// Called after each delete, which is where a table's peak shows: one
// more than it holds after the first delete since it grew. A copy costs
// what the deletes since the last one did, a quarter of them.
func shrunk[K comparable, V any](m map[K]V, peak *int) map[K]V {
	n := len(m)
	*peak = max(*peak, n+1)
	if *peak < shrinkFloor || n >= *peak/4 {
		return m
	}
	c := make(map[K]V, n)
	for k, v := range m {
		c[k] = v
	}
	*peak = n
	return c
}
