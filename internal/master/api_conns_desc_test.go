package master

import "testing"

// TestDescendantSlots: descendant ghosts are counted apart from
// maxconns, up to descFactor times it; past maxconns a connection is let
// in provisionally only while a reserved ghost has not connected.
func TestDescendantSlots(t *testing.T) {
	const uid = 1000
	c := newConns(2)
	for i := range 2 {
		if _, ok := c.take(uid); !ok {
			t.Fatalf("connection %d of maxconns 2 refused", i+1)
		}
	}
	if _, _, ok := c.admit(uid); ok {
		t.Error("a third connection admitted with no descendant ghost on its way")
	}
	var slots []*descSlot
	for i := range descFactor * 2 {
		s, ok := c.reserve(uid)
		if !ok {
			t.Fatalf("descendant %d of %d refused", i+1, descFactor*2)
		}
		slots = append(slots, s)
	}
	if _, ok := c.reserve(uid); ok {
		t.Errorf("descendant %d admitted past %d times maxconns", descFactor*2+1, descFactor)
	}
	if _, ok := c.reserve(0); !ok {
		t.Error("root's descendant refused")
	}
	if _, prov, ok := c.admit(uid); !ok || !prov {
		t.Errorf("a connection past maxconns with ghosts on their way: admitted %v, provisional %v; want both", ok, prov)
	}
	for _, s := range slots {
		s.arrived()
		s.arrived() // once only
	}
	if _, _, ok := c.admit(uid); ok {
		t.Error("a connection past maxconns admitted once every reserved ghost had connected")
	}
	slots[0].release()
	slots[0].release()
	if _, ok := c.reserve(uid); !ok {
		t.Error("a descendant refused after one was given back")
	}
	if c.desc[uid] != descFactor*2 || c.waiting[uid] != 1 {
		t.Errorf("held %d, waiting %d; want %d and 1", c.desc[uid], c.waiting[uid], descFactor*2)
	}
}

// TestDescendantReturned: a descendant ghost back after a master restart
// takes its place whatever the bound (its process runs), and counts
// against it: the user's next fork past it is refused.
func TestDescendantReturned(t *testing.T) {
	const uid = 1000
	c := newConns(1)
	var back []*descSlot
	for range descFactor + 1 {
		s := c.reserveReturned(uid)
		s.arrived()
		back = append(back, s)
	}
	if _, ok := c.reserve(uid); ok {
		t.Errorf("a fork admitted while %d returned descendants hold more than the bound of %d", descFactor+1, descFactor)
	}
	for _, s := range back[:2] {
		s.release()
	}
	if _, ok := c.reserve(uid); !ok {
		t.Error("a fork refused once returned descendants ended below the bound")
	}
	if c.desc[uid] != descFactor || c.waiting[uid] != 1 {
		t.Errorf("held %d, waiting %d; want %d and 1", c.desc[uid], c.waiting[uid], descFactor)
	}
}
