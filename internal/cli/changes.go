package cli

import (
	"flag"

	"github.com/alo-presence/alo/presence"
)

// ChangesFlags registers the change feed's flags on fs (--changes-stream,
// --changes-max-age, --changes-max-bytes) and returns a function that sets
// them in a presence.Config once fs is parsed.
func ChangesFlags(fs *flag.FlagSet) func(*presence.Config) {
	var c presence.ChangesStream
	c.MaxAge = presence.DefaultChangesMaxAge
	maxBytes := int(presence.DefaultChangesMaxBytes)
	fs.StringVar(&c.Name, "changes-stream", "", "keep the change feed (alo.changes.<user>) in the JetStream stream of this `name`, created if missing, so backends can resume from a sequence (empty: no stream; the feed is still published)")
	PositiveVar(fs, &c.MaxAge, "changes-max-age", "how long the changes stream keeps an entry")
	PositiveVar(fs, &maxBytes, "changes-max-bytes", "the most `bytes` the changes stream holds; the oldest entries go first")
	return func(cfg *presence.Config) {
		c.MaxBytes = int64(maxBytes)
		cfg.ChangesStream = c
	}
}
