package gateway

import (
	"time"

	"github.com/alo-presence/alo/shared"
)

// Batches are cut at this many events or this many encoded bytes, whichever
// comes first, and never above the connection's payload limit less
// payloadMargin: the limit is the server's (nats.Conn.MaxPayload, 1 MiB by
// default), read again for each batch since a reconnect may land on a server
// with another. A batch over the limit would fail to publish, and with it
// every session in it.
const (
	maxBatchEvents = 512
	maxBatchBytes  = 256 << 10
	payloadMargin  = 1 << 10
)

// publisher sends session events to presence in order, batching what waits.
// It also keeps the set of sessions it has announced, whose count and digest
// its heartbeats carry: they describe exactly what presence has been told.
type publisher struct {
	srv       *Server
	subject   string
	w         *shared.BatchWriter
	limit     int // the current batch's hard limit in bytes
	announced shared.SessionSet
	gen       uint64
	// failed is set when a publish fails (NATS unreachable): presence may
	// have missed events, so the next heartbeat resends everything.
	failed bool

	// Resyncs are coalesced, whoever asks (presence starting, a digest
	// mismatch, a reconnect, a slow consumer, a failed publish): one runs
	// at a time (this goroutine runs it), and the next starts no sooner
	// than ResyncInterval after the previous one ended, however many asked
	// meanwhile. A resync costs a publish of every session; without this,
	// a flood of requests (anyone can publish to presence.up) made the
	// gateway resend everything back to back.
	lastSync time.Time
	pending  bool
	due      *time.Timer
}

func (srv *Server) publishLoop(stop <-chan struct{}) {
	w, err := shared.NewBatchWriter(srv.cfg.ID, srv.boot)
	if err != nil { // cannot happen: two strings
		panic(err)
	}
	p := &publisher{srv: srv, subject: srv.subjects.Events(srv.cfg.ID), w: w, due: time.NewTimer(time.Hour)}
	p.due.Stop()
	defer p.due.Stop()
	p.refreshLimit()
	hb := time.NewTicker(srv.cfg.Heartbeat)
	defer hb.Stop()
	p.sync() // presence may already know sessions of an earlier run with our id
	for {
		select {
		case ev := <-srv.events:
			p.add(ev)
			for drained := false; !drained; {
				select {
				case ev := <-srv.events:
					p.add(ev)
				default:
					drained = true
				}
			}
			p.flush()
		case <-hb.C:
			if p.failed && srv.nc.IsConnected() {
				p.requestSync()
			}
			p.add(p.announced.Heartbeat())
			p.flush()
			srv.claim.announce()
		case <-srv.resync:
			p.requestSync()
		case <-p.due.C:
			p.sync()
		case <-stop:
			for {
				select {
				case ev := <-srv.events:
					p.add(ev)
					continue
				default:
				}
				break
			}
			p.add(shared.Event{Type: shared.EventBye})
			p.flush()
			if err := srv.finalFlush(); err != nil {
				srv.log.Warn("flush to nats failed at shutdown", "err", err)
			}
			return
		}
	}
}

// requestSync runs a resync now, or once ResyncInterval has passed since the
// last one ended.
func (p *publisher) requestSync() {
	wait := p.srv.cfg.ResyncInterval - time.Since(p.lastSync)
	switch {
	case p.pending:
	case wait <= 0:
		p.sync()
	default:
		p.pending = true
		p.due.Reset(wait)
	}
}

// refreshLimit reads the connection's payload limit for the next batch.
func (p *publisher) refreshLimit() {
	p.limit = int(p.srv.nc.MaxPayload()) - payloadMargin
	if p.limit < 4<<10 { // not connected yet, or a server set absurdly low
		p.limit = 4 << 10
	}
}

// add appends an event to the batch, keeping the announced set, and sends
// the batch first when the event would not fit in it.
func (p *publisher) add(ev shared.Event) {
	data, err := shared.MarshalEvent(&ev)
	if err != nil { // cannot happen: numbers and valid strings
		p.srv.rlog.Error("marshal event", "cannot encode a session event", "err", err)
		return
	}
	if n := p.w.Events(); n > 0 && (n >= maxBatchEvents || p.w.SizeWith(len(data)) > min(maxBatchBytes, p.limit)) {
		p.flush()
	}
	if p.w.SizeWith(len(data)) > p.limit {
		p.tooBig(ev)
		return
	}
	p.announced.Apply(&ev)
	p.w.Add(data)
}

// tooBig handles an event that would exceed the payload limit alone. Only a
// session's lists can make one: a friend list of MaxFriends ids, and in a
// resync the known set, which is bounded by it. A resent session without its
// known set still fits, and presence then reports every friend's state again
// (repeats are harmless). A session whose friend list alone does not fit
// cannot be announced: it is closed with an error, and never costs the
// other sessions in the batch their publish.
func (p *publisher) tooBig(ev shared.Event) {
	if ev.Type == shared.EventOpen && ev.Sync && len(ev.Known) > 0 {
		ev.Known, ev.KnownStatus = nil, nil
		p.add(ev)
		return
	}
	srv := p.srv
	srv.rlog.Error("event too big", "a session's friend list does not fit in one NATS message; closing the session",
		"session", ev.Session, "user", ev.User, "friends", len(ev.Friends), "max_payload", srv.nc.MaxPayload())
	srv.mu.RLock()
	s := srv.sessions[ev.Session]
	srv.mu.RUnlock()
	if s != nil {
		s.close(protocolDisconnect(&shared.ProtocolError{Code: shared.CodeTooManyFriends,
			Message: "the friend list is too large for this deployment's message bus"}))
	}
}

func (p *publisher) flush() {
	if p.w.Events() == 0 {
		return
	}
	var err error
	if p.srv.claim.yielded() {
		// Another run holds our id: publishing under it would make
		// presence flap that run's users.
	} else {
		err = p.srv.nc.Publish(p.subject, p.w.Bytes())
	}
	if err != nil {
		p.srv.metrics.publishFailures.Inc()
		if !p.failed {
			p.srv.log.Warn("publishing session events failed; will resync", "err", err)
		}
		p.failed = true
	}
	p.w.Reset()
	p.refreshLimit()
}

// sync resends every session, between sync_begin and sync_end, so that
// presence can drop what it holds for us that we no longer have, register
// what it missed, and correct what each session was told.
func (p *publisher) sync() {
	p.failed, p.pending = false, false
	p.due.Stop()
	p.gen++
	srv := p.srv
	srv.metrics.resyncs.Inc()
	srv.mu.RLock()
	all := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.RUnlock()
	p.add(shared.Event{Type: shared.EventSyncBegin, Gen: p.gen})
	for _, s := range all {
		friends, known, ready := s.view()
		status, text, at, told := s.statusView()
		p.add(shared.Event{Type: shared.EventOpen, Sync: true, Gen: p.gen, Session: s.id, User: s.user,
			Friends: friends, Known: known, KnownStatus: told, Ready: ready, Status: status, Text: text, StatusAt: at})
	}
	p.add(shared.Event{Type: shared.EventSyncEnd, Gen: p.gen})
	p.flush()
	p.lastSync = time.Now()
	srv.log.Debug("resent sessions", "sessions", len(all), "gen", p.gen)
}
