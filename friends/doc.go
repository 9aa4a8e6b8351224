// Package friends reads trusted friend lists from a NATS JetStream KV bucket
// (DESIGN §7, --friends kv), for the gateway.
//
// The bucket (default shared.DefaultFriendsBucket, "alo_friends") is owned
// and written by the deployment's backend: key = a user id in decimal
// ("42"), value = a JSON array of user ids ("[7,9]"), so that
//
//	nats kv put alo_friends 1 '[2,3]'
//
// works. A value is read by shared.DecodeFriendList, the rules of a hello's
// friends: positive integers up to 2^63−1, at most Config.MaxFriends of
// them, duplicates and the user's own id dropped.
//
// # Who reads it, and when
//
// The gateway, not presence: gateways are the source of truth for sessions
// and their friend lists (presence rebuilds from them, heartbeat digests
// hash the lists), so a list from the bucket enters the system exactly as a
// client's does: at the hello (Source.Lookup), and as a friend-list update
// when the bucket changes (Source.Watch). WIRING.md in this directory spells
// out what the gateway does with each.
//
// # Bad values
//
// A missing or deleted key means no friends. A value that is not a valid
// list (not JSON, not an array, a string or a negative id among the ids,
// more than MaxFriends entries) is refused whole, never cut short, and also
// means no friends: the user's Entry has Friends nil and Refused set, and a
// warning is logged at most once a second for all such values together
// (shared.RateLog), so a flood of bad writes costs a bounded number of log
// lines. "No friends" rather than "keep the last good list" because it is
// the same answer on every gateway and after every restart (a later lookup
// sees the same bad value), and because it fails closed: a broken value
// never lets anyone watch anyone. Keys that are not a user id written in
// canonical decimal ("abc", "007", "-1") are ignored by the watcher, with
// the same rate-limited warning.
//
// # Permissions and the bucket's limits
//
// By default (Config.Create false) a gateway only binds to an existing
// bucket: it needs the JetStream API permissions to read the stream info,
// get a key ($JS.API.DIRECT.GET.KV_<bucket>.> or
// $JS.API.STREAM.MSG.GET.KV_<bucket>) and create ordered consumers on
// KV_<bucket> (plus its inbox for deliveries); never to create or change
// the bucket, nor to put keys. A deployment where the gateway should create
// the bucket (the dev binary alo, a test) sets Create, and the bucket is
// created with explicit limits: history 1 (only the current list matters),
// MaxValueSize, Replicas, file storage. An existing bucket is never changed.
// Do not give the bucket a TTL (MaxAge): an expired key leaves no marker a
// watcher can be sure to see, so online users would keep their list.
//
// # How it scales
//
// Lookup is one KV get per hello (a direct get when the bucket allows it,
// which any replica answers): a reconnect storm of N users costs N gets.
// Watch is one ordered consumer per gateway over the whole bucket, updates
// only: every gateway receives every change, also those of users it does not
// hold, so the bus carries changes × gateways messages. That is cheap for
// the rates friend lists change at (a thousand changes a second to twenty
// gateways is twenty thousand small messages a second); beyond that, watch
// a key range per gateway instead. The watcher keeps no per-user state.
//
// # Faults
//
// Watch makes its watch anew on every NATS reconnect, resuming after the
// last revision it delivered, as soon as JetStream answers (the ordered
// consumer behind a KV watch recovers by itself only after missing its
// heartbeats: 20 s after a server restart, measured), and whenever a watch
// ends (its consumer lost and not made again, the bucket deleted). Each new
// watch calls Handler.Resync before delivering anything, so the gateway can
// look up again the users it holds. The bucket keeps one value per key, so
// a watch that is behind skips the values of a key replaced before it got
// to them: the last value of every key always arrives, after the earlier
// ones it delivers. Deleting the bucket and making it again while gateways
// run starts its revisions again, which the gateways' revisions are not
// ready for (a watch may even resume on the new bucket at the old
// revision): restart the gateways after that.
package friends
