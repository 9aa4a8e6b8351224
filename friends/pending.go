package friends

import "sync"

// Pending closes the race between a hello's Lookup and a change of the same
// user that the watcher delivers before the hello's session is registered:
// without it, that change finds no session to apply to, and the session
// starts with the older list it looked up, until the next change.
//
// Use: Begin(user) before Lookup; Change(e) from Handler.Change before
// looking for the user's sessions; End(looked) under the lock the change
// handler takes to find sessions, together with registering the session,
// and use the Entry it returns. A hello that fails calls End too. The zero
// value is ready; memory is bounded by the hellos in progress.
type Pending struct {
	mu sync.Mutex
	m  map[int64]*pending
}

type pending struct {
	hellos int   // in progress for this user
	newest Entry // the newest change seen since the first Begin, if has
	has    bool
}

// Begin marks a hello of user as in progress.
func (p *Pending) Begin(user int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[int64]*pending)
	}
	x := p.m[user]
	if x == nil {
		x = &pending{}
		p.m[user] = x
	}
	x.hellos++
}

// Change records e if a hello of its user is in progress.
func (p *Pending) Change(e Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if x := p.m[e.User]; x != nil && (!x.has || e.Revision > x.newest.Revision) {
		x.newest, x.has = e, true
	}
}

// End ends one hello of looked.User and returns the newer of looked and
// the changes recorded since its Begin.
func (p *Pending) End(looked Entry) Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	x := p.m[looked.User]
	if x == nil {
		return looked // End without Begin: nothing recorded
	}
	if x.hellos--; x.hellos <= 0 {
		delete(p.m, looked.User)
	}
	if x.has && x.newest.Revision > looked.Revision {
		return x.newest
	}
	return looked
}

// Len returns the number of users with a hello in progress.
func (p *Pending) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// Users appends to dst the users with a hello in progress and returns it:
// the gateway's Resync looks them up too, since a hello's Lookup may have
// read the bucket before a change the new watch does not deliver.
func (p *Pending) Users(dst []int64) []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for u := range p.m {
		dst = append(dst, u)
	}
	return dst
}
