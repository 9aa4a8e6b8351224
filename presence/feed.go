package presence

import "github.com/alo-presence/alo/shared"

// feed publishes the change feed (filled in below).
type feed struct{}

func (f *feed) publish(user int64, online bool, why string) {}

// closeReason is the feed's reason for a close event's: one of the known
// ones, or "closed" for anything else a gateway (or a forger) says.
func closeReason(r string) string {
	switch r {
	case shared.ReasonLogout, shared.ReasonTimeout, shared.ReasonKicked, shared.ReasonInvisible, shared.ReasonGatewayLost:
		return r
	}
	return shared.ReasonClosed
}
