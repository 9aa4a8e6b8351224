package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// DialWS opens a WebSocket connection to a gateway's /ws endpoint at addr
// ("ws://host:port/ws", or "wss://" over TLS): one message per text frame.
func DialWS(ctx context.Context, addr string) (Conn, error) {
	nc, br, _, err := ws.Dialer{}.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("client: websocket %s: %w", addr, err)
	}
	c := &wsConn{nc: nc}
	var src io.Reader = nc
	if br != nil {
		// The server sent frames right after its handshake.
		src = io.MultiReader(br, nc)
	}
	c.rd = wsutil.Reader{
		Source:         src,
		State:          ws.StateClientSide,
		CheckUTF8:      true,
		MaxMessageSize: maxServerMessage,
		OnIntermediate: c.control,
	}
	return c, nil
}

type wsConn struct {
	nc  net.Conn
	rd  wsutil.Reader
	buf []byte

	wmu sync.Mutex // one frame at a time
}

// errWSClosed is what ReadMessage returns once the server has closed.
var errWSClosed = errors.New("client: websocket closed by the server")

func (c *wsConn) ReadMessage() ([]byte, error) {
	for {
		h, err := c.rd.NextFrame()
		if err != nil {
			return nil, fmt.Errorf("client: read: %w", err)
		}
		if h.OpCode.IsControl() {
			if err := c.control(h, &c.rd); err != nil {
				return nil, err
			}
			if err := c.rd.Discard(); err != nil {
				return nil, fmt.Errorf("client: read: %w", err)
			}
			continue
		}
		b, err := io.ReadAll(&c.rd)
		if err != nil {
			return nil, fmt.Errorf("client: read: %w", err)
		}
		if h.OpCode != ws.OpText || len(b) == 0 {
			continue // not a message of the protocol
		}
		return b, nil
	}
}

// control answers a ping, and turns a close into the end of reading.
func (c *wsConn) control(h ws.Header, r io.Reader) error {
	var p [ws.MaxControlFramePayloadSize]byte
	n, err := io.ReadFull(r, p[:h.Length])
	if err != nil {
		return fmt.Errorf("client: read: %w", err)
	}
	switch h.OpCode {
	case ws.OpPing:
		if err := c.write(ws.OpPong, p[:n]); err != nil {
			return err
		}
	case ws.OpClose:
		code, reason := ws.ParseCloseFrameData(p[:n])
		var body []byte // echo the code, as RFC 6455 asks
		if !code.Empty() {
			body = ws.NewCloseFrameBody(code, "")
		}
		_ = c.write(ws.OpClose, body)
		c.nc.Close()
		return fmt.Errorf("%w (%d %s): %w", errWSClosed, code, reason, io.EOF)
	}
	return nil
}

func (c *wsConn) WriteMessage(msg []byte) error { return c.write(ws.OpText, msg) }

func (c *wsConn) write(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// Header and masked payload in one buffer, one write; masking works
	// in place, so on a copy, never the caller's bytes.
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
	w := appender(c.buf[:0])
	if err := ws.WriteHeader(&w, h); err != nil {
		return fmt.Errorf("client: write: %w", err)
	}
	n := len(w)
	w = append(w, payload...)
	ws.Cipher(w[n:], h.Mask, 0)
	c.buf = w
	if err := c.nc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("client: write: %w", err)
	}
	if _, err := c.nc.Write(w); err != nil {
		return fmt.Errorf("client: write: %w", err)
	}
	return nil
}

func (c *wsConn) Close() error { return c.nc.Close() }

// appender is an io.Writer that appends to itself.
type appender []byte

func (a *appender) Write(p []byte) (int, error) {
	*a = append(*a, p...)
	return len(p), nil
}
