package client

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// maxServerMessage bounds one server line. Server messages are tiny; the
// bound only stops a broken or hostile server from growing our memory.
const maxServerMessage = 1 << 20

// writeTimeout bounds one write, so a server that stopped reading cannot
// hang the client; the reconnect logic takes over instead.
const writeTimeout = 10 * time.Second

// DialTCP opens a JSON Lines connection to a gateway's TCP listener at
// addr ("host:port").
func DialTCP(ctx context.Context, addr string) (Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		// net's error already names the network and address.
		return nil, fmt.Errorf("client: %w", err)
	}
	return NewTCPConn(nc), nil
}

// NewTCPConn wraps an established stream connection as a JSON Lines Conn.
func NewTCPConn(nc net.Conn) Conn {
	sc := bufio.NewScanner(nc)
	sc.Buffer(make([]byte, 4096), maxServerMessage)
	// bufio.ScanLines already drops a trailing \r, which the contract allows.
	return &tcpConn{nc: nc, sc: sc}
}

type tcpConn struct {
	nc net.Conn
	sc *bufio.Scanner

	wmu  sync.Mutex
	wbuf []byte
}

func (c *tcpConn) ReadMessage() ([]byte, error) {
	for c.sc.Scan() {
		line := bytes.TrimSpace(c.sc.Bytes())
		if len(line) == 0 {
			continue // keep-alive
		}
		// The scanner reuses its buffer: hand out a copy.
		return bytes.Clone(line), nil
	}
	if err := c.sc.Err(); err != nil {
		return nil, fmt.Errorf("client: read: %w", err)
	}
	return nil, fmt.Errorf("client: read: %w", io.EOF)
}

func (c *tcpConn) WriteMessage(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// One write per message, newline included, so a message never leaves
	// in two segments just because of the framing.
	c.wbuf = append(append(c.wbuf[:0], msg...), '\n')
	if err := c.nc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("client: write: %w", err)
	}
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return fmt.Errorf("client: write: %w", err)
	}
	return nil
}

func (c *tcpConn) Close() error { return c.nc.Close() }
