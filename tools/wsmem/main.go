// Command wsmem measures what one idle WebSocket connection costs a Go
// server, for the WebSocket libraries ALO considered, and what one idle
// session costs a running alo on each client transport.
//
// Library comparison (each server holds a reader goroutine blocked on the
// next message and a writer goroutine blocked on a channel, as the gateway
// does; the session runs in its own goroutine so the HTTP handler returns):
//
//	./compare.sh 10000
//
// alo per session (alo built from this repository, on loopback):
//
//	./alo.sh /path/to/alo ws 10000
//
// It is a separate module so that the libraries it compares stay out of
// ALO's own dependencies.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cws "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	gws "github.com/gorilla/websocket"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: wsmem server LIB | client N ADDR | sessions tcp|ws|udp N ADDR FIRST_USER")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		server(os.Args[2])
	case "client":
		n, _ := strconv.Atoi(os.Args[2])
		client(n, os.Args[3])
	case "sessions":
		n, _ := strconv.Atoi(os.Args[3])
		first, _ := strconv.Atoi(os.Args[5])
		sessions(os.Args[2], n, os.Args[4], first)
	}
}

var messages atomic.Int64

func rss() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n << 10
		}
	}
	return 0
}

func settle() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(200 * time.Millisecond)
	return rss()
}

// writer stands for the gateway's writer goroutine: blocked on a channel.
func writer(wake chan struct{}, write func([]byte) error) {
	for range wake {
		_ = write([]byte(`{}`))
	}
}

var bufPool sync.Pool

type pool struct{}

func (pool) Get() any  { return bufPool.Get() }
func (pool) Put(v any) { bufPool.Put(v) }

func server(lib string) {
	var h http.HandlerFunc
	switch lib {
	case "coder":
		h = func(w http.ResponseWriter, r *http.Request) {
			c, err := cws.Accept(w, r, nil)
			if err != nil {
				return
			}
			c.SetReadLimit(64 << 10)
			wake := make(chan struct{}, 1)
			go writer(wake, func(b []byte) error { return c.Write(context.Background(), cws.MessageText, b) })
			go func() {
				for {
					if _, _, err := c.Read(context.Background()); err != nil {
						return
					}
					messages.Add(1)
				}
			}()
		}
	case "gorilla", "gorilla-small":
		up := gws.Upgrader{}
		if lib == "gorilla-small" {
			// Its smallest sensible setup: a small read buffer, and a
			// write buffer only while writing.
			up.ReadBufferSize = 512
			up.WriteBufferPool = pool{}
		}
		h = func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			c.SetReadLimit(64 << 10)
			wake := make(chan struct{}, 1)
			go writer(wake, func(b []byte) error { return c.WriteMessage(gws.TextMessage, b) })
			go func() {
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
					messages.Add(1)
				}
			}()
		}
	case "gobwas":
		h = func(w http.ResponseWriter, r *http.Request) {
			conn, rw, _, err := ws.UpgradeHTTP(r, w)
			if err != nil {
				return
			}
			var src io.Reader = conn
			if rw.Reader.Buffered() > 0 {
				src = io.MultiReader(rw.Reader, conn)
			}
			rd := &wsutil.Reader{Source: src, State: ws.StateServerSide, CheckUTF8: true, MaxMessageSize: 64 << 10,
				OnIntermediate: wsutil.ControlFrameHandler(conn, ws.StateServerSide)}
			wake := make(chan struct{}, 1)
			go writer(wake, func(b []byte) error { return wsutil.WriteServerMessage(conn, ws.OpText, b) })
			go func() {
				defer conn.Close()
				for {
					if _, err := rd.NextFrame(); err != nil {
						return
					}
					if _, err := io.ReadAll(rd); err != nil {
						return
					}
					messages.Add(1)
				}
			}()
		}
	default:
		fmt.Fprintln(os.Stderr, "libraries: coder, gorilla, gorilla-small, gobwas")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(ln.Addr().String())
	base := settle()
	go http.Serve(ln, h)
	// Report once the count of first messages stops growing.
	last := int64(-1)
	for {
		time.Sleep(time.Second)
		n := messages.Load()
		if n > 0 && n == last {
			r := settle()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("%-13s %d conns: %.2f KiB RSS per conn (heap in use %.2f KiB, stacks %.2f KiB)\n",
				lib, n, float64(r-base)/float64(n)/1024, float64(ms.HeapInuse)/float64(n)/1024, float64(ms.StackInuse)/float64(n)/1024)
			fmt.Println("done")
			select {}
		}
		last = n
	}
}

// upgradeRequest writes a WebSocket handshake for addr's /ws on c and reads
// the response.
func upgrade(c net.Conn, addr string) *bufio.Reader {
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		addr, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(c)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			panic(err)
		}
		if l == "\r\n" {
			return br
		}
	}
}

// textFrame is msg as a masked client text frame (msg < 126 bytes).
func textFrame(msg []byte) []byte {
	mask := []byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(msg)), mask[0], mask[1], mask[2], mask[3]}
	for i, b := range msg {
		f = append(f, b^mask[i%4])
	}
	return f
}

// held keeps client's connections reachable: a net.Conn nothing refers to
// may be closed by its finalizer, which would end the session being measured.
var held []net.Conn

func client(n int, addr string) {
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			panic(err)
		}
		upgrade(c, addr)
		c.Write(textFrame([]byte(`{"user_id":1,"friends":[2]}`)))
		held = append(held, c)
	}
	fmt.Println("connected")
	select {}
}

// sessions opens n alo sessions, users first..first+n-1, over transport,
// waits for each one's ready, and holds them; UDP ones send a keep-alive
// every 10s.
func sessions(transport string, n int, addr string, first int) {
	conns := make([]net.Conn, 0, n)
	for i := range n {
		hello := []byte(fmt.Sprintf(`{"user_id":%d,"friends":[]}`, first+i))
		var reply string
		var c net.Conn
		var err error
		switch transport {
		case "tcp":
			if c, err = net.Dial("tcp", addr); err != nil {
				panic(err)
			}
			c.Write(append(hello, '\n'))
			reply, err = bufio.NewReader(c).ReadString('\n')
		case "udp":
			if c, err = net.Dial("udp", addr); err != nil {
				panic(err)
			}
			c.Write(hello)
			buf := make([]byte, 512)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, e := c.Read(buf)
			reply, err = string(buf[:k]), e
		case "ws":
			if c, err = net.Dial("tcp", addr); err != nil {
				panic(err)
			}
			br := upgrade(c, addr)
			c.Write(textFrame(hello))
			h := make([]byte, 2)
			if _, err = io.ReadFull(br, h); err == nil {
				p := make([]byte, h[1]&0x7f)
				_, err = io.ReadFull(br, p)
				reply = string(p)
			}
		}
		if err != nil || !strings.Contains(reply, "ready") {
			panic(fmt.Sprint(reply, err))
		}
		conns = append(conns, c)
	}
	fmt.Println("sessions ready")
	for {
		time.Sleep(10 * time.Second)
		if transport == "udp" {
			for _, c := range conns {
				c.Write([]byte("{}"))
			}
		}
	}
}
