package web_test

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// A minimal server side of RFC 6455, enough for a test to play the gateway
// to a browser: unfragmented text frames, ping, close. The scripted tests
// use it to make the gateway say exactly what they need (drops, refusals);
// gateway_test.go and twopages_test.go run the page against the real one.

type wsConn struct {
	nc  net.Conn
	br  *bufio.Reader
	wmu sync.Mutex
}

var errWSClosed = errors.New("websocket closed")

func acceptWS(w http.ResponseWriter, r *http.Request) (*wsConn, error) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "websocket only", http.StatusBadRequest)
		return nil, errors.New("not a websocket request")
	}
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	if err := brw.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	return &wsConn{nc: nc, br: brw.Reader}, nil
}

// ReadText returns the next text message, answering pings on the way.
func (c *wsConn) ReadText() (string, error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return "", err
		}
		fin, op, masked := h[0]&0x80 != 0, h[0]&0x0f, h[1]&0x80 != 0
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return "", err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return "", err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if !fin || !masked || n > 1<<20 {
			return "", errors.New("websocket: unsupported frame")
		}
		var mask [4]byte
		if _, err := io.ReadFull(c.br, mask[:]); err != nil {
			return "", err
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.br, payload); err != nil {
			return "", err
		}
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
		switch op {
		case 1:
			return string(payload), nil
		case 8:
			c.writeFrame(8, payload)
			return "", errWSClosed
		case 9:
			c.writeFrame(10, payload)
		}
	}
}

func (c *wsConn) WriteText(s string) error { return c.writeFrame(1, []byte(s)) }

func (c *wsConn) writeFrame(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	hdr := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, byte(n))
	case n < 1<<16:
		hdr = append(hdr, 126, byte(n>>8), byte(n))
	default:
		hdr = binary.BigEndian.AppendUint64(append(hdr, 127), uint64(n))
	}
	_, err := c.nc.Write(append(hdr, payload...))
	return err
}

// Close sends a normal close frame and closes the socket, as a gateway
// does after a logout or when it stops.
func (c *wsConn) Close() {
	c.writeFrame(8, []byte{0x03, 0xe8})
	c.nc.Close()
}
