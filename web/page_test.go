package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alo-presence/alo/client/clienttest"
	"github.com/alo-presence/alo/internal/cdp"
	"github.com/alo-presence/alo/web"
)

// fakeGateway serves the page at / and plays the gateway on /ws, with the
// test scripting what the server says.
type fakeGateway struct {
	srv   *httptest.Server
	conns chan *fakeWS
	mu    sync.Mutex
	all   []*fakeWS
}

type fakeWS struct {
	ws     *wsConn
	msgs   chan string
	closed chan struct{}
}

func newFakeGateway(t testing.TB) *fakeGateway {
	t.Helper()
	g := &fakeGateway{conns: make(chan *fakeWS, 8)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(web.Index)
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := acceptWS(w, r)
		if err != nil {
			return
		}
		c := &fakeWS{ws: ws, msgs: make(chan string, 64), closed: make(chan struct{})}
		g.mu.Lock()
		g.all = append(g.all, c)
		g.mu.Unlock()
		go func() {
			defer close(c.closed)
			for {
				m, err := ws.ReadText()
				if err != nil {
					return
				}
				c.msgs <- m
			}
		}()
		g.conns <- c
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		g.mu.Lock()
		for _, c := range g.all {
			c.ws.nc.Close()
		}
		g.mu.Unlock()
		g.srv.Close()
	})
	return g
}

func (g *fakeGateway) accept(t testing.TB) *fakeWS {
	t.Helper()
	select {
	case c := <-g.conns:
		return c
	case <-time.After(clienttest.Timeout):
		t.Fatal("the page did not open a WebSocket")
		return nil
	}
}

func (c *fakeWS) expect(t testing.TB, want string) {
	t.Helper()
	select {
	case got := <-c.msgs:
		if !clienttest.JSONEqual(got, want) {
			t.Fatalf("page sent %s, want %s", got, want)
		}
	case <-time.After(clienttest.Timeout):
		t.Fatalf("page did not send %s", want)
	}
}

func (c *fakeWS) send(t testing.TB, msg string) {
	t.Helper()
	if err := c.ws.WriteText(msg); err != nil {
		t.Fatalf("send %s: %v", msg, err)
	}
}

// pageCheck waits for a condition on the page, failing with the page's
// console and a screenshot if it does not come.
type pageCheck struct {
	t   *testing.T
	ctx context.Context
	p   *cdp.Page
}

// openPage opens a w×h page in b and navigates it to url.
func openPage(t *testing.T, ctx context.Context, b *cdp.Browser, url string, w, h int) pageCheck {
	t.Helper()
	p, err := b.NewPage(ctx, w, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Navigate(ctx, url); err != nil {
		t.Fatal(err)
	}
	return pageCheck{t: t, ctx: ctx, p: p}
}

// noExceptions fails the test if the page's script threw.
func (c pageCheck) noExceptions() {
	c.t.Helper()
	if ex := c.p.Exceptions(); len(ex) > 0 {
		c.t.Fatalf("uncaught exceptions in the page:\n%s", strings.Join(ex, "\n"))
	}
}

func (c pageCheck) waitFor(expr string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, clienttest.Timeout)
	defer cancel()
	if err := c.p.WaitFor(ctx, expr); err != nil {
		c.screenshot("failure")
		c.t.Fatalf("%v\npage console:\n%s", err, strings.Join(c.p.Log(), "\n"))
	}
}

func (c pageCheck) eval(expr string) {
	c.t.Helper()
	if err := c.p.Eval(c.ctx, expr, nil); err != nil {
		c.t.Fatal(err)
	}
}

// screenshot saves a PNG to $ALO_SCREENSHOT_DIR (to look at) or the test's
// temporary directory.
func (c pageCheck) screenshot(name string) {
	c.t.Helper()
	dir := os.Getenv("ALO_SCREENSHOT_DIR")
	if dir == "" {
		dir = c.t.TempDir()
	}
	png, err := c.p.Screenshot(c.ctx)
	if err != nil {
		c.t.Errorf("screenshot: %v", err)
		return
	}
	path := filepath.Join(dir, "web-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Errorf("screenshot: %v", err)
		return
	}
	c.t.Logf("screenshot: %s", path)
}

const (
	friendOnline  = `document.querySelector('.friend[data-user="%s"]')?.dataset.online === "true"`
	friendOffline = `document.querySelector('.friend[data-user="%s"]')?.dataset.online === "false"`
)

func online(id string) string  { return strings.ReplaceAll(friendOnline, "%s", id) }
func offline(id string) string { return strings.ReplaceAll(friendOffline, "%s", id) }

func status(state string) string {
	return `document.getElementById("status").dataset.state === "` + state + `"`
}

// TestPageLive drives the demo page in headless Chromium through a whole
// session against a scripted gateway: sign in, snapshot, live changes, a
// friend-list update, a gateway drop and reconnect, and logout.
func TestPageLive(t *testing.T) {
	b := cdp.ForTest(t)
	g := newFakeGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := openPage(t, ctx, b, g.srv.URL+"/?user=1&friends=2,3,1,3&connect=1", 960, 900)

	ws := g.accept(t)
	ws.expect(t, `{"user_id":1,"friends":[2,3]}`)
	ws.send(t, `{"user_id":2,"online":true}`)
	ws.send(t, `{"ready":true,"session":"s1"}`)
	c.waitFor(status("live"))
	c.waitFor(online("2"))
	c.waitFor(offline("3"))

	ws.send(t, `{"user_id":3,"online":true}`)
	c.waitFor(online("3"))
	ws.send(t, `{"user_id":2,"online":false}`)
	c.waitFor(offline("2"))
	ws.send(t, `{"error":"rate_limited","message":"slow down"}`)
	c.waitFor(`document.getElementById("log").textContent.includes("server error rate_limited: slow down")`)

	// Change the friend list through the form.
	c.eval(`document.getElementById("newFriends").value = "5, 3"; document.getElementById("friendsForm").requestSubmit()`)
	ws.expect(t, `{"friends":[3,5]}`)
	c.waitFor(offline("5") + ` && !document.querySelector('.friend[data-user="2"]')`)
	ws.send(t, `{"user_id":5,"online":true}`)
	c.waitFor(online("5"))
	c.screenshot("live")

	// The gateway drops the connection; while it is away 3 goes offline,
	// so the new snapshot names only 5 and the page must turn 3 grey.
	ws.ws.Close()
	c.waitFor(status("reconnecting"))
	ws = g.accept(t)
	ws.expect(t, `{"user_id":1,"friends":[3,5]}`)
	ws.send(t, `{"user_id":5,"online":true}`)
	ws.send(t, `{"ready":true,"session":"s2"}`)
	c.waitFor(status("live"))
	c.waitFor(offline("3"))
	c.waitFor(online("5"))

	// Log out: the page says so, the server closes.
	c.eval(`document.getElementById("logout").click()`)
	ws.expect(t, `{"online":false}`)
	ws.ws.Close()
	c.waitFor(status("idle") + ` && !document.getElementById("signin").hidden`)
	c.screenshot("signed-out")

	c.noExceptions()
}

// TestPageRejected checks that a refused hello stops the page from
// retrying and says why.
func TestPageRejected(t *testing.T) {
	b := cdp.ForTest(t)
	g := newFakeGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := openPage(t, ctx, b, g.srv.URL+"/?user=9&friends=1&connect=1", 800, 600)
	ws := g.accept(t)
	ws.expect(t, `{"user_id":9,"friends":[1]}`)
	ws.send(t, `{"error":"too_many_friends","message":"limit is 5000"}`)
	ws.ws.Close()
	c.waitFor(status("rejected"))
	select {
	case <-g.conns:
		t.Fatal("the page reconnected after a rejection")
	case <-time.After(600 * time.Millisecond):
	}
}

// TestPageValidatesInput checks the sign-in form refuses bad ids without
// opening a connection.
func TestPageValidatesInput(t *testing.T) {
	b := cdp.ForTest(t)
	g := newFakeGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := openPage(t, ctx, b, g.srv.URL+"/", 800, 600)
	for _, tc := range []struct{ user, friends string }{{"0", ""}, {"abc", ""}, {"1", "2,x"}, {"1 2", ""}, {"1", "-3"}, {"9007199254740993", ""}} {
		c.eval(`document.getElementById("user").value = ` + quote(tc.user) + `; document.getElementById("friends").value = ` + quote(tc.friends) + `; document.getElementById("signinHint").textContent = ""; document.getElementById("connectForm").requestSubmit()`)
		c.waitFor(`document.getElementById("signinHint").textContent !== ""`)
	}
	select {
	case <-g.conns:
		t.Fatal("the page connected with bad input")
	default:
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
