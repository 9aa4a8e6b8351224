package bench

import "math"

// The checker compares, for one watcher session and one friend, the state
// messages the session received with the transitions the tool caused.
//
// A correct server sends the session the friend's state at the moment the
// session registered (a snapshot "online" if it was online), then one message
// per transition until the session ends (DESIGN §2). The tool does not know
// those moments exactly, only brackets: a session registered between writing
// its hello and reading ready; an online transition registered between the
// dial and the friend's ready; an offline one within the deadline after the
// tool began closing. So the checker builds the sequence of transitions that
// could matter, marks where the registration cut may fall and which ones are
// too close to the session's end to be owed, and accepts any delivery a
// correct server could have made. What cannot be matched even then is lost
// (owed, not received) or extra (received, never owed: duplicates and
// spurious messages).

// window is a watcher session's life on the run clock.
type window struct {
	helloAt int64 // hello written: registration is no earlier
	readyAt int64 // ready read: registration is no later
	endAt   int64 // the tool stopped reading: nothing after is owed
}

// expElem is one message the watcher may be owed.
type expElem struct {
	online bool
	void   bool  // the transition may never have reached the server
	lo     int64 // when it began; the snapshot's element has 0
	hi     int64 // when it had registered at the latest
}

// expected builds the sequence for friend x seen from window w, given the
// delivery deadline. cutLo..cutHi are the positions the registration cut may
// take; owedEnd is the index after the last transition that is owed for
// sure.
func expected(h *History, x int, w window, deadline int64, buf []expElem) (l []expElem, cutLo, cutHi, owedEnd int) {
	l = buf[:0]
	n := h.Count(x)
	initOnline := false
	k := 0
	// Transitions that surely registered before the session did set its
	// initial state.
	for ; k < n; k++ {
		_, hi, void := bracket(h, x, k, deadline)
		if hi >= w.helloAt || void {
			break
		}
		initOnline = k%2 == 0
	}
	if initOnline {
		l = append(l, expElem{online: true})
		cutLo = 1
	}
	// Those that may have registered on either side of it.
	for ; k < n; k++ {
		lo, hi, void := bracket(h, x, k, deadline)
		if lo > w.readyAt || lo > w.endAt {
			break
		}
		l = append(l, expElem{online: k%2 == 0, void: void, lo: lo, hi: hi})
	}
	cutHi = len(l)
	// Those surely after it, up to the session's end.
	for ; k < n; k++ {
		lo, hi, void := bracket(h, x, k, deadline)
		if lo > w.endAt {
			break
		}
		l = append(l, expElem{online: k%2 == 0, void: void, lo: lo, hi: hi})
	}
	// From the first one begun within the deadline of the end (which may
	// be one that raced the registration too, in a short session), or that
	// may have registered only after the session ended (a friend whose own
	// ready came later: the server was slow, but owed this session nothing),
	// delivery is not owed: any prefix of the rest may arrive.
	owedEnd = len(l)
	for i := cutLo; i < len(l); i++ {
		if l[i].lo+deadline >= w.endAt || l[i].hi >= w.endAt {
			owedEnd = i
			break
		}
	}
	return l, cutLo, cutHi, owedEnd
}

// bracket returns when transition k of user x registered at the earliest and
// the latest.
func bracket(h *History, x, k int, deadline int64) (lo, hi int64, void bool) {
	start, confirm := h.At(x, k)
	if k%2 == 1 {
		// An offline after an online the server may never have seen may be
		// invisible too.
		if _, c := h.At(x, k-1); c == Void {
			return start, start + deadline, true
		}
	}
	switch {
	case confirm == Void:
		return start, start + deadline, true
	case confirm > 0:
		return start, confirm, false
	case k%2 == 0:
		// An online whose own ready never came (by the time of checking, a
		// deadline after the watcher ended): the server was that far
		// behind, and when it registered is anyone's guess.
		return start, math.MaxInt64, false
	}
	return start, start + deadline, false
}

// matchResult is how a received sequence compares with the owed one.
type matchResult struct {
	lost     int // owed, not received
	dup      int // received twice in a row
	spurious int // received, never owed, and not a repeat
}

// match finds the delivery a correct server could have made that is closest
// to what was received (rec, in order) and counts the differences. dp is
// scratch space, returned for reuse.
func match(l []expElem, cutLo, cutHi, owedEnd int, rec []bool, dp []int) (matchResult, []int) {
	if fastMatch(l, cutLo, cutHi, owedEnd, rec) {
		return matchResult{}, dp
	}
	// Ties between "one lost" and "one extra" go to lost (it leaves the
	// watcher wrong), unless the received sequence repeats a state, which
	// only a duplicate explains.
	preferLost := true
	for t := 1; t < len(rec); t++ {
		if rec[t] == rec[t-1] {
			preferLost = false
		}
	}
	best := -1
	for p := cutLo; p <= cutHi; p++ {
		i := cutStart(l, p)
		var rows int
		rows, dp = alignTable(l[i:], rec, dp)
		for j := max(i, owedEnd); j <= len(l); j++ {
			if c := dp[(j-i)*rows+len(rec)]; best < 0 || tieLess(c, best, preferLost) {
				best = c
			}
		}
	}
	lost, extra := best/costBig, best%costBig
	r := matchResult{lost: lost}
	if len(rec) > 0 && !rec[0] {
		r.spurious++ // no correct delivery starts with "offline"
	}
	for t := 1; t < len(rec); t++ {
		if rec[t] == rec[t-1] {
			r.dup++
		}
	}
	// Repeats and a leading "offline" are extras by construction; whatever
	// else was extra is spurious. When the alignment matched a repeat to a
	// message that was owed (on,on received where on,off,on was owed), the
	// extras are fewer: trust the alignment's count.
	if rest := extra - r.dup - r.spurious; rest >= 0 {
		r.spurious += rest
	} else {
		r.dup = max(0, extra-r.spurious)
		r.spurious = extra - r.dup
	}
	return r, dp
}

// cutStart returns where delivery starts when the session registered after
// l[:p]: at the last element before the cut if the friend was online there
// (it comes in the snapshot), else at the cut.
func cutStart(l []expElem, p int) int {
	if p > 0 && l[p-1].online {
		return p - 1
	}
	return p
}

// fastMatch covers the common case, an exact delivery, without tables.
func fastMatch(l []expElem, cutLo, cutHi, owedEnd int, rec []bool) bool {
	for p := cutLo; p <= cutHi; p++ {
		i := cutStart(l, p)
		j := i + len(rec)
		if j < owedEnd || j > len(l) {
			continue
		}
		ok := true
		for t, v := range rec {
			if l[i+t].online != v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// costBig packs two counts in one int: lost·costBig + extra. Sequences are a
// handful of messages, far below it.
const costBig = 1 << 20

// tieLess orders packed costs by total differences, then by more lost (or
// fewer, when !preferLost).
func tieLess(a, b int, preferLost bool) bool {
	ta, tb := a/costBig+a%costBig, b/costBig+b%costBig
	if ta != tb || preferLost {
		return less(a, b)
	}
	return a/costBig < b/costBig
}

// less orders packed costs by total differences, then by more lost.
func less(a, b int) bool {
	ta, tb := a/costBig+a%costBig, b/costBig+b%costBig
	if ta != tb {
		return ta < tb
	}
	return a/costBig > b/costBig
}

// alignTable fills dp (rows = len(rec)+1 wide) so that dp[a*rows+b] is the
// cheapest alignment of l[:a] with rec[:b]: an owed element left unmatched
// is lost (a void one costs nothing), a received one left unmatched is extra.
func alignTable(l []expElem, rec []bool, dp []int) (int, []int) {
	rows := len(rec) + 1
	size := (len(l) + 1) * rows
	if cap(dp) < size {
		dp = make([]int, size)
	}
	dp = dp[:size]
	for b := 0; b <= len(rec); b++ {
		dp[b] = b
	}
	for a := 1; a <= len(l); a++ {
		for b := 0; b <= len(rec); b++ {
			c := dp[(a-1)*rows+b]
			if !l[a-1].void {
				c += costBig
			}
			if b > 0 {
				if v := dp[a*rows+b-1] + 1; less(v, c) {
					c = v
				}
				if l[a-1].online == rec[b-1] {
					if v := dp[(a-1)*rows+b-1]; less(v, c) {
						c = v
					}
				}
			}
			dp[a*rows+b] = c
		}
	}
	return rows, dp
}
