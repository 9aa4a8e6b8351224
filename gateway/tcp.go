package gateway

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/alo-presence/alo/shared"
)

// readBufferSize is the per-connection read buffer; longer lines are
// assembled in a separate buffer, so idle connections stay small.
const readBufferSize = 512

var errTooLong = errors.New("gateway: message too long")

// errMessageTimeout is a line started and not finished within the
// message timeout.
var errMessageTimeout = errors.New("gateway: message not finished in time")

var errMessageTimeoutPE = &shared.ProtocolError{Code: shared.CodeMessageTimeout,
	Message: "a message was started and not finished in time"}

// lineReader reads lines of at most max bytes, without their line ending.
// With c and timeout set, a line must arrive whole within timeout of its
// first byte: waiting for that first byte has no deadline (an idle
// connection holds 512 bytes), but a started line holds up to max bytes, so
// it may not be held forever.
type lineReader struct {
	r       *bufio.Reader
	max     int
	long    []byte
	c       net.Conn
	timeout time.Duration
}

func (l *lineReader) next() ([]byte, error) {
	if l.timeout <= 0 {
		return l.read()
	}
	if l.r.Buffered() == 0 {
		if _, err := l.r.Peek(1); err != nil {
			return nil, err
		}
	}
	// A line already whole in the buffer needs no deadline, which keeps
	// the common case free of timer work.
	if b, _ := l.r.Peek(l.r.Buffered()); bytes.IndexByte(b, '\n') >= 0 {
		return l.read()
	}
	_ = l.c.SetReadDeadline(time.Now().Add(l.timeout))
	line, err := l.read()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, errMessageTimeout
	}
	_ = l.c.SetReadDeadline(time.Time{})
	return line, err
}

func (l *lineReader) read() ([]byte, error) {
	if cap(l.long) > 4<<10 {
		l.long = nil // a long line passed: don't keep its buffer
	}
	l.long = l.long[:0]
	for {
		frag, err := l.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(l.long)+len(frag) > l.max+2 {
				return nil, errTooLong
			}
			l.long = append(l.long, frag...)
			continue
		}
		line := frag
		if len(l.long) > 0 {
			l.long = append(l.long, frag...)
			line = l.long
		}
		if err != nil && (err != io.EOF || len(line) == 0) {
			return nil, err
		}
		n := len(line)
		if n > 0 && line[n-1] == '\n' {
			n--
		}
		if n > 0 && line[n-1] == '\r' {
			n--
		}
		if n > l.max {
			return nil, errTooLong
		}
		return line[:n], nil
	}
}

// serveConn runs one TCP connection up to its hello, under a deadline. With
// a session open, it hands the connection to readSession in a new goroutine
// and reports true: that goroutine's stack holds only what reading needs,
// not what opening a session grew this one's to, and idle connections are
// mostly that stack.
func (srv *Server) serveConn(c net.Conn) bool {
	lr := &lineReader{r: bufio.NewReaderSize(c, readBufferSize), max: srv.cfg.MaxMessageBytes}
	next := func() ([]byte, *disconnect) {
		line, err := lr.next()
		if err != nil {
			return nil, tcpReadError(err)
		}
		return line, nil
	}
	_ = c.SetReadDeadline(time.Now().Add(srv.cfg.HelloTimeout))
	if tc, ok := c.(*tls.Conn); ok {
		// The handshake shares the hello's deadline, both ways: a client
		// that speaks plain TCP here, or nothing, is closed by then.
		_ = c.SetWriteDeadline(time.Now().Add(srv.cfg.HelloTimeout))
		if err := tc.Handshake(); err != nil {
			srv.rlog.Debug("tls handshake failed", "tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
			c.Close()
			return false
		}
		_ = c.SetWriteDeadline(time.Time{})
	}
	s, d := srv.hello(next, c, func(s *session) { srv.writeTCP(c, s) })
	if d != nil {
		srv.log.Debug("connection ended before hello", "remote", c.RemoteAddr().String(), "err", d)
		srv.refuse(c, d)
		return false
	}
	_ = c.SetReadDeadline(time.Time{})
	lr.c, lr.timeout = c, srv.cfg.MessageTimeout
	srv.wg.Go(func() {
		defer srv.untrack(c)
		defer c.Close()
		srv.readSession(s, next)
	})
	return true
}

// tcpReadError returns the disconnect a read failure means: an error the
// client can still be told, or a plain close.
func tcpReadError(err error) *disconnect {
	switch {
	case errors.Is(err, errTooLong):
		return protocolDisconnect(&shared.ProtocolError{Code: shared.CodeTooLong, Message: "a message is longer than the gateway accepts"})
	case errors.Is(err, errMessageTimeout):
		return protocolDisconnect(errMessageTimeoutPE)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return protocolDisconnect(&shared.ProtocolError{Code: shared.CodeHelloTimeout, Message: "no hello in time"})
	}
	return dcClientClosed
}

// refuse tells a client without a session why it has none, and closes.
func (srv *Server) refuse(c net.Conn, d *disconnect) {
	if d.err != nil {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(append(shared.AppendError(nil, d.err.Code, d.err.Message), '\n'))
	}
	c.Close()
}

// writeTCP is a TCP session's writer: it writes what the session queues,
// everything queued since the last write in one write, until nothing is
// left; when the session closes, it closes the connection.
func (srv *Server) writeTCP(c net.Conn, s *session) {
	var buf []byte
	for {
		out, closing, more := s.next(buf, nil)
		if !more {
			return
		}
		if len(out) > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(srv.cfg.WriteTimeout))
			if _, err := c.Write(out); err != nil {
				c.Close()
				s.close(dcWrite)
				continue // to closing
			}
		}
		if closing {
			c.Close()
			s.finish()
			return
		}
		// Reuse a small buffer while output keeps coming; a burst's goes
		// back to the heap.
		buf = nil
		if cap(out) <= 4<<10 {
			buf = out
		}
	}
}
