// Command composecheck drives the end-to-end check of the compose
// deployment (deploy/test-compose.sh runs it): it finds the running gateway
// containers through docker, connects clients to each of them through their
// published ports, checks that friends see each other across gateways, scales
// the gateways down to one and checks that the users of the stopped gateways
// are reported offline to their friends within the deadline, then scales back
// up and checks a new gateway serves the surviving state.
//
// It speaks the client protocol (TCP JSON Lines, DESIGN.md §1) with the
// standard library and shared/ only, so it depends on the wire contract; its
// checks of the bus (bus.go) speak NATS with nats.go, logging in with the
// stack's own passwords.
// Every wait is a condition polled until a deadline; nothing sleeps for a fixed
// time. It prints one line per check and, last, "composecheck: N passed, M
// failed"; the exit status is 1 if any check failed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alo-presence/alo/shared"
)

var (
	flagDocker    = flag.String("docker", "docker", "docker command")
	flagCompose   = flag.String("compose", "docker-compose", "compose command words, with its -p and -f options (split on spaces)")
	flagProject   = flag.String("project", "", "compose project name (labels com.docker.compose.project)")
	flagService   = flag.String("service", "gateway", "the gateway service name in the compose file")
	flagPort      = flag.String("port", "8080/tcp", "the gateway's client port inside the container")
	flagScale     = flag.Int("scale", 3, "how many gateways the stack runs at the start")
	flagMonitor   = flag.String("nats-monitor", "", "published NATS monitoring address (host:port); checked when set")
	flagOffline   = flag.Duration("offline-within", 2*time.Second, "deadline for a watcher to see online:false after the stopped gateway closed its user's connection")
	flagDrain     = flag.Duration("drain-within", 5*time.Second, "deadline, from the start of the scale-down, for a stopped gateway to close its clients' connections (well under the 10 s stop_grace_period, so a gateway that ignores SIGTERM fails)")
	flagDeadline  = flag.Duration("deadline", 10*time.Second, "deadline for any other expected message")
	flagHealthy   = flag.Duration("healthy-within", 90*time.Second, "deadline for containers to report healthy")
	flagProbe     = flag.String("probe", "--health-probe", "the binaries' flag that probes a URL and exits 0 on HTTP 200")
	flagHTTPPort  = flag.String("http-port", "8081", "the --http port of presence and gateway inside their containers")
	flagVerbose   = flag.Bool("v", false, "print every message the clients receive")
	passed, fails int
)

func main() {
	flag.Parse()
	if *flagProject == "" {
		fatalf("-project is required")
	}
	if err := setupAuth(); err != nil {
		fatalf("%v", err)
	}
	err := run()
	if err != nil {
		fail("scenario stopped early: %v", err)
	}
	fmt.Printf("composecheck: %d passed, %d failed\n", passed, fails)
	if fails > 0 {
		os.Exit(1)
	}
}

func ok(format string, args ...any) {
	passed++
	fmt.Printf("  ok    "+format+"\n", args...)
}

func fail(format string, args ...any) {
	fails++
	fmt.Printf("  FAIL  "+format+"\n", args...)
}

func check(cond bool, format string, args ...any) bool {
	if cond {
		ok(format, args...)
	} else {
		fail(format, args...)
	}
	return cond
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "composecheck: "+format+"\n", args...)
	os.Exit(2)
}

func step(format string, args ...any) {
	fmt.Printf("== "+format+"\n", args...)
}

// ---- docker ----

type container struct {
	ID     string
	Name   string
	Number int    // com.docker.compose.container-number
	Addr   string // published client address on the host
	HTTP   string // published HTTP address on the host, if any
	Health string
	Exe    string // the binary inside the image, for the health probe
}

func command(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func docker(args ...string) (string, error) { return command(*flagDocker, args...) }

func compose(args ...string) (string, error) {
	words := strings.Fields(*flagCompose)
	return command(words[0], append(words[1:], args...)...)
}

// containers lists the running containers of a compose service, by number.
func containers(service string) ([]container, error) {
	out, err := docker("ps", "-q",
		"--filter", "label=com.docker.compose.project="+*flagProject,
		"--filter", "label=com.docker.compose.service="+service)
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	out, err = docker(append([]string{"inspect"}, ids...)...)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		ID     string `json:"Id"`
		Name   string
		Config struct {
			Labels     map[string]string
			Entrypoint []string
		}
		State struct {
			Running bool
			Health  *struct{ Status string }
		}
		NetworkSettings struct {
			Ports map[string][]struct{ HostIP, HostPort string }
		}
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, fmt.Errorf("docker inspect: %v", err)
	}
	var cs []container
	for _, r := range raw {
		if !r.State.Running {
			continue
		}
		c := container{ID: r.ID, Name: strings.TrimPrefix(r.Name, "/")}
		c.Number, _ = strconv.Atoi(r.Config.Labels["com.docker.compose.container-number"])
		if r.State.Health != nil {
			c.Health = r.State.Health.Status
		}
		if len(r.Config.Entrypoint) > 0 {
			c.Exe = r.Config.Entrypoint[0]
		}
		published := func(port string) string {
			b := r.NetworkSettings.Ports[port]
			if len(b) == 0 {
				return ""
			}
			host := b[0].HostIP
			if host == "" || host == "0.0.0.0" {
				host = "127.0.0.1"
			}
			return net.JoinHostPort(host, b[0].HostPort)
		}
		c.Addr = published(*flagPort)
		c.HTTP = published(*flagHTTPPort + "/tcp")
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Number < cs[j].Number })
	return cs, nil
}

// waitHealthy waits until the service runs exactly n containers, all healthy.
func waitHealthy(service string, n int) ([]container, error) {
	deadline := time.Now().Add(*flagHealthy)
	var last string
	for {
		cs, err := containers(service)
		if err == nil {
			healthy := 0
			var states []string
			for _, c := range cs {
				if c.Health == "healthy" {
					healthy++
				}
				states = append(states, c.Name+"="+c.Health)
			}
			last = strings.Join(states, " ")
			if len(cs) == n && healthy == n {
				return cs, nil
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: want %d healthy containers within %v, have: %s", service, n, *flagHealthy, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// probe runs the binary's own health probe inside the container: over
// HTTPS on a gateway that serves TLS (it trusts the stack's certificate
// through SSL_CERT_FILE, as its healthcheck does).
func probe(c container, path string) error {
	if c.Exe == "" {
		return errors.New("image has no entrypoint")
	}
	scheme := "http://"
	if tlsConfig != nil && c.Exe == "/gateway" {
		scheme = "https://"
	}
	_, err := docker("exec", c.ID, c.Exe, *flagProbe, scheme+"127.0.0.1:"+*flagHTTPPort+path)
	return err
}

// ---- clients ----

type client struct {
	id      int64
	gw      container
	conn    net.Conn
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	ready   bool
	session string
	snap    map[int64]bool // online:true received before ready
	view    map[int64]bool // latest state per friend
	offAt   map[int64]time.Time
	errs    []string
	pushes  []string // {"push":...} lines, as received
	eof     time.Time
	eofErr  error
}

func dial(gw container, id int64, friends []int64) (*client, error) {
	conn, err := dialGateway(gw)
	if err != nil {
		return nil, err
	}
	c := &client{id: id, gw: gw, conn: conn, changed: make(chan struct{}),
		snap: map[int64]bool{}, view: map[int64]bool{}, offAt: map[int64]time.Time{}}
	hello, err := helloFor(id, friends)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(append(hello, '\n')); err != nil {
		conn.Close()
		return nil, err
	}
	go c.read()
	return c, nil
}

func (c *client) read() {
	sc := bufio.NewScanner(c.conn)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		now := time.Now()
		if *flagVerbose {
			fmt.Printf("        %s user %d <- %s\n", c.gw.Name, c.id, line)
		}
		var m shared.ServerMessage
		err := shared.DecodeServer(line, &m)
		c.mu.Lock()
		switch {
		case err != nil:
			c.errs = append(c.errs, fmt.Sprintf("unparsable line %q", line))
		case m.Kind() == shared.ServerError:
			c.errs = append(c.errs, fmt.Sprintf("error %s: %s", m.Error, m.Message))
		case m.Kind() == shared.ServerReady:
			if c.ready {
				c.errs = append(c.errs, "second ready")
			}
			c.ready, c.session = true, m.Session
		case m.Kind() == shared.ServerPush:
			c.pushes = append(c.pushes, string(line))
		case m.Kind() == shared.ServerState:
			u, on := *m.UserID, *m.Online
			if !c.ready && on {
				c.snap[u] = true
			}
			if c.view[u] && !on {
				c.offAt[u] = now
			}
			c.view[u] = on
		}
		c.notify()
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.eof, c.eofErr = time.Now(), sc.Err()
	c.notify()
	c.mu.Unlock()
}

func (c *client) notify() { close(c.changed); c.changed = make(chan struct{}) }

// waitFor waits until cond (called with c.mu held) is true, or the deadline.
func (c *client) waitFor(d time.Duration, cond func() bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		c.mu.Lock()
		done, ch := cond(), c.changed
		c.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			c.mu.Lock()
			done = cond()
			c.mu.Unlock()
			return done
		}
	}
}

func (c *client) String() string { return fmt.Sprintf("user %d@%s", c.id, c.gw.Name) }

func (c *client) state() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []int64
	for u := range c.view {
		ids = append(ids, u)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var b strings.Builder
	fmt.Fprintf(&b, "ready=%v view={", c.ready)
	for i, u := range ids {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%d:%v", u, c.view[u])
	}
	b.WriteString("}")
	if !c.eof.IsZero() {
		fmt.Fprintf(&b, " closed(%v)", c.eofErr)
	}
	if len(c.errs) > 0 {
		fmt.Fprintf(&b, " errors=%q", c.errs)
	}
	return b.String()
}

func ids(cs []*client) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.id)
	}
	return out
}

func setOf(xs []int64) map[int64]bool {
	m := map[int64]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func without(xs []int64, x int64) []int64 {
	var out []int64
	for _, y := range xs {
		if y != x {
			out = append(out, y)
		}
	}
	return out
}

// connect connects user id to gw and checks its snapshot is exactly the
// friends in online, followed by ready.
func connect(gw container, id int64, friends, online []int64) (*client, error) {
	c, err := dial(gw, id, friends)
	if err != nil {
		fail("user %d connects to %s (%s): %v", id, gw.Name, gw.Addr, err)
		return nil, err
	}
	start := time.Now()
	if !c.waitFor(*flagDeadline, func() bool { return c.ready || !c.eof.IsZero() }) || !c.ready {
		fail("%s gets ready within %v: %s", c, *flagDeadline, c.state())
		return c, errors.New("no ready")
	}
	c.mu.Lock()
	want, got := setOf(online), c.snap
	same := len(want) == len(got)
	for u := range want {
		same = same && got[u]
	}
	gotList := keys(got)
	c.mu.Unlock()
	check(same, "%s: snapshot %v then ready in %v (want snapshot %v)", c, gotList, time.Since(start).Round(time.Millisecond), online)
	return c, nil
}

func keys(m map[int64]bool) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ---- scenario ----

func run() error {
	step("stack: %d gateways healthy, presence and nats healthy", *flagScale)
	gws, err := waitHealthy(*flagService, *flagScale)
	if err != nil {
		return err
	}
	for _, g := range gws {
		ok("%s healthy, clients at %s", g.Name, g.Addr)
		if g.Addr == "" {
			return fmt.Errorf("%s publishes no %s port", g.Name, *flagPort)
		}
	}
	for _, svc := range []string{"presence", "nats"} {
		cs, err := waitHealthy(svc, 1)
		if err != nil {
			return err
		}
		ok("%s healthy", cs[0].Name)
		if svc == "presence" {
			gws = append(gws, cs[0]) // probed below, not connected to
		}
	}
	step("health endpoints, through the binaries' own probe inside each container")
	for _, g := range gws {
		for _, path := range []string{"/healthz", "/readyz"} {
			err := probe(g, path)
			check(err == nil, "%s: %s %s answers 200 (%v)", g.Name, g.Exe, path, err)
		}
		err := probe(g, "/no-such-endpoint")
		check(err != nil, "%s: the probe fails on a 404 (so a passing probe means something)", g.Name)
		if g.Exe == "/gateway" {
			code, body, err := get("http://" + g.HTTP + "/readyz")
			check(g.HTTP != "" && code == 200, "%s: /readyz through its published HTTP port %s answers %d %s (%v)", g.Name, g.HTTP, code, body, err)
		}
	}
	gws = gws[:len(gws)-1]

	if *flagMonitor != "" {
		step("NATS monitoring on %s", *flagMonitor)
		checkMonitor(len(gws) + 1)
	}

	step("friends on different gateways see each other")
	// Two users per gateway, everyone friends with everyone: users i*100+1 and
	// i*100+2 on gateway number i.
	var all []int64
	for _, g := range gws {
		all = append(all, int64(g.Number*100+1), int64(g.Number*100+2))
	}
	var clients []*client
	defer func() {
		for _, c := range clients {
			c.conn.Close()
		}
	}()
	var online []int64
	for _, g := range gws {
		for k := int64(1); k <= 2; k++ {
			id := int64(g.Number)*100 + k
			c, err := connect(g, id, without(all, id), online)
			if c != nil {
				clients = append(clients, c)
			}
			if err != nil {
				return err
			}
			online = append(online, id)
		}
	}
	for _, c := range clients {
		others := without(all, c.id)
		got := c.waitFor(*flagDeadline, func() bool {
			for _, u := range others {
				if !c.view[u] {
					return false
				}
			}
			return true
		})
		check(got, "%s sees all %d friends online (%s)", c, len(others), c.state())
	}
	if *flagNATS != "" {
		if err := checkBus(gws, clients); err != nil {
			return err
		}
	}
	if jwtSecret != nil {
		checkAuth(gws[0])
	}

	step("scale down to 1 gateway: users of the stopped gateways go offline for their friends")
	start := time.Now()
	out, err := compose("up", "-d", "--no-build", "--scale", *flagService+"=1")
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("scale down: %v\n%s", err, out)
	}
	left, err := waitHealthy(*flagService, 1)
	if err != nil {
		return err
	}
	survivor := left[0]
	ok("compose scaled %s to 1 in %v; %s is left", *flagService, took.Round(time.Millisecond), survivor.Name)
	var stayed, stopped []*client
	for _, c := range clients {
		if c.gw.ID == survivor.ID {
			stayed = append(stayed, c)
		} else {
			stopped = append(stopped, c)
		}
	}
	if len(stayed) != 2 || len(stopped) != len(clients)-2 {
		return fmt.Errorf("survivor %s is not one of the gateways the clients used", survivor.Name)
	}
	for _, c := range stopped {
		closed := c.waitFor(*flagDeadline, func() bool { return !c.eof.IsZero() })
		c.mu.Lock()
		at := c.eof.Sub(start)
		c.mu.Unlock()
		if !closed {
			fail("%s: its gateway closed the connection within %v of the scale-down: %s", c, *flagDeadline, c.state())
			continue
		}
		check(at <= *flagDrain, "%s: its gateway drained on SIGTERM and closed the connection %v after the scale-down began (limit %v)",
			c, at.Round(time.Millisecond), *flagDrain)
	}
	for _, w := range stayed {
		for _, c := range stopped {
			if !w.waitFor(*flagDeadline, func() bool { return !w.view[c.id] }) {
				fail("%s sees user %d offline within %v: %s", w, c.id, *flagDeadline, w.state())
				continue
			}
			w.mu.Lock()
			off := w.offAt[c.id]
			w.mu.Unlock()
			c.mu.Lock()
			eof := c.eof
			c.mu.Unlock()
			lag := off.Sub(eof)
			check(!eof.IsZero() && lag <= *flagOffline,
				"%s got {\"user_id\":%d,\"online\":false} %v after %s closed (limit %v; %v after the scale-down began)",
				w, c.id, lag.Round(time.Millisecond), c.gw.Name, *flagOffline, off.Sub(start).Round(time.Millisecond))
		}
	}
	for _, w := range stayed {
		other := stayed[0]
		if other == w {
			other = stayed[1]
		}
		w.mu.Lock()
		fine := w.eof.IsZero() && w.view[other.id] && len(w.errs) == 0
		w.mu.Unlock()
		check(fine, "%s stays connected and still sees user %d online (%s)", w, other.id, w.state())
	}
	newID := int64(900)
	n, err := connect(survivor, newID, all, ids(stayed))
	if n != nil {
		clients = append(clients, n)
	}
	if err != nil {
		return err
	}

	step("scale back up to %d gateways: a new gateway serves the same state", *flagScale)
	start = time.Now()
	if out, err := compose("up", "-d", "--no-build", "--scale", fmt.Sprintf("%s=%d", *flagService, *flagScale)); err != nil {
		return fmt.Errorf("scale up: %v\n%s", err, out)
	}
	gws, err = waitHealthy(*flagService, *flagScale)
	if err != nil {
		return err
	}
	ok("compose scaled %s to %d, all healthy in %v", *flagService, *flagScale, time.Since(start).Round(time.Millisecond))
	var fresh container
	for _, g := range gws {
		if g.ID != survivor.ID {
			fresh = g
			break
		}
	}
	// A user of a stopped gateway comes back through the new one.
	back := stopped[0].id
	m, err := connect(fresh, back, append(without(all, back), newID), append(ids(stayed), newID))
	if m != nil {
		clients = append(clients, m)
	}
	if err != nil {
		return err
	}
	for _, w := range append(stayed, n) {
		got := w.waitFor(*flagDeadline, func() bool { return w.view[back] })
		check(got, "%s sees user %d online again, now on %s (%s)", w, back, fresh.Name, w.state())
	}
	wasStopped := map[*client]bool{}
	for _, c := range stopped {
		wasStopped[c] = true
	}
	for _, c := range clients {
		c.mu.Lock()
		errs := c.errs
		c.mu.Unlock()
		switch {
		case wasStopped[c]:
			// Told why as its gateway stopped (README: {"error":"shutdown"}).
			check(len(errs) == 1 && strings.HasPrefix(errs[0], "error "+shared.CodeShutdown+":"),
				"%s was told its gateway shut down, and nothing else went wrong: %q", c, errs)
		case len(errs) > 0:
			fail("%s received error messages: %q", c, errs)
		}
	}
	return nil
}

func get(url string) (int, string, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	if tlsConfig != nil {
		url = "https://" + strings.TrimPrefix(url, "http://")
		hc.Transport = &http.Transport{TLSClientConfig: tlsConfig}
	}
	resp, err := hc.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	return resp.StatusCode, string(bytes.TrimSpace(body)), nil
}

func checkMonitor(minConns int) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + *flagMonitor + "/healthz")
	if err != nil {
		fail("NATS /healthz: %v", err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check(resp.StatusCode == 200, "NATS /healthz answers %d %s", resp.StatusCode, bytes.TrimSpace(body))
	deadline := time.Now().Add(*flagDeadline)
	var conns int
	for {
		resp, err = hc.Get("http://" + *flagMonitor + "/varz")
		if err == nil {
			var v struct {
				Connections int    `json:"connections"`
				Version     string `json:"version"`
			}
			err = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			conns = v.Connections
			if err == nil && conns >= minConns {
				ok("NATS %s /varz: %d client connections (>= %d: every gateway and presence)", v.Version, conns, minConns)
				return
			}
		}
		if time.Now().After(deadline) {
			fail("NATS /varz shows >= %d connections within %v: have %d (%v)", minConns, *flagDeadline, conns, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
