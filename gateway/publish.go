package gateway

import (
	"time"

	"github.com/alo-presence/alo/shared"
)

// Batches are cut at this many events or about this many bytes, well below
// the NATS payload limit (1 MiB by default).
const (
	maxBatchEvents = 512
	maxBatchBytes  = 256 << 10
)

// publisher sends session events to presence in order, batching what waits.
// It also keeps the set of sessions it has announced, whose count and digest
// its heartbeats carry: they describe exactly what presence has been told.
type publisher struct {
	srv       *Server
	subject   string
	batch     shared.Batch
	size      int
	announced shared.SessionSet
	gen       uint64
	// failed is set when a publish fails (NATS unreachable): presence may
	// have missed events, so the next heartbeat resends everything.
	failed bool
}

func (srv *Server) publishLoop(stop <-chan struct{}) {
	p := &publisher{
		srv:     srv,
		subject: srv.subjects.Events(),
		batch:   shared.Batch{Gateway: srv.cfg.ID, Boot: srv.boot},
	}
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
				p.sync()
			}
			p.add(p.announced.Heartbeat())
			p.flush()
		case <-srv.resync:
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

// add appends an event to the batch, keeping the announced set, and sends
// the batch when it is full.
func (p *publisher) add(ev shared.Event) {
	p.announced.Apply(&ev)
	p.batch.Events = append(p.batch.Events, ev)
	p.size += 64 + 20*(len(ev.Friends)+len(ev.Known))
	if len(p.batch.Events) >= maxBatchEvents || p.size >= maxBatchBytes {
		p.flush()
	}
}

func (p *publisher) flush() {
	if len(p.batch.Events) == 0 {
		return
	}
	data, err := shared.MarshalBatch(&p.batch)
	if err == nil {
		err = p.srv.nc.Publish(p.subject, data)
	}
	if err != nil {
		if !p.failed {
			p.srv.log.Warn("publishing session events failed; will resync", "err", err)
		}
		p.failed = true
	}
	clear(p.batch.Events)
	p.batch.Events = p.batch.Events[:0]
	p.size = 0
}

// sync resends every session, between sync_begin and sync_end, so that
// presence can drop what it holds for us that we no longer have, register
// what it missed, and correct what each session was told.
func (p *publisher) sync() {
	p.failed = false
	p.gen++
	srv := p.srv
	srv.mu.RLock()
	all := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.RUnlock()
	p.add(shared.Event{Type: shared.EventSyncBegin, Gen: p.gen})
	for _, s := range all {
		friends, known, ready := s.view()
		p.add(shared.Event{Type: shared.EventOpen, Sync: true, Gen: p.gen, Session: s.id, User: s.user,
			Friends: friends, Known: known, Ready: ready})
	}
	p.add(shared.Event{Type: shared.EventSyncEnd, Gen: p.gen})
	p.flush()
	srv.log.Debug("resent sessions", "sessions", len(all), "gen", p.gen)
}
