package cdp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// ErrNoBrowser is returned by Find when no Chromium is installed.
var ErrNoBrowser = errors.New("cdp: no chromium found (apt-get install chromium, or set ALO_CHROMIUM)")

// ErrClosed is returned by calls on a browser that has exited.
var ErrClosed = errors.New("cdp: browser closed")

// Find returns the path of a Chromium to run: $ALO_CHROMIUM if set, else
// the first of chromium, chromium-browser, google-chrome on $PATH.
func Find() (string, error) {
	if p := os.Getenv("ALO_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Options configures Launch.
type Options struct {
	// Path is the browser binary. Default: Find().
	Path string
	// Args are extra command-line flags, after the defaults.
	Args []string
	// Stderr receives the browser's own logging. Default: discarded.
	Stderr io.Writer
}

// defaultArgs keep a headless browser quiet and self-contained: no sandbox
// (tests run as root), no GPU, and none of the background traffic to
// Google's hosts, which this machine's closed network refuses.
var defaultArgs = []string{
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--no-default-browser-check",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--disable-extensions",
	"--disable-dev-shm-usage",
	"--mute-audio",
	"--remote-debugging-pipe",
}

// Browser is a running Chromium.
type Browser struct {
	cmd     *exec.Cmd
	dataDir string
	in      *os.File // our end of the browser's fd 3
	out     *os.File // our end of the browser's fd 4

	wmu sync.Mutex // one message at a time on the pipe

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan response
	pages   map[string]*Page // by CDP session id
	err     error            // set when the read loop ends

	readDone chan struct{}
	exited   chan struct{}
	waitErr  error
}

type response struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type request struct {
	ID        int64           `json:"id"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	SessionID string          `json:"sessionId,omitempty"`
}

type message struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	response
}

// Launch starts a headless browser with a fresh profile, removed by Close.
func Launch(ctx context.Context, opts Options) (*Browser, error) {
	path := opts.Path
	if path == "" {
		var err error
		if path, err = Find(); err != nil {
			return nil, err
		}
	}
	dataDir, err := os.MkdirTemp("", "alo-chromium-")
	if err != nil {
		return nil, fmt.Errorf("cdp: profile dir: %w", err)
	}
	// Pipes: the browser reads commands on fd 3 and writes replies on fd 4.
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("cdp: pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		cmdW.Close()
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("cdp: pipe: %w", err)
	}
	args := append(append(append([]string{}, defaultArgs...), "--user-data-dir="+dataDir), opts.Args...)
	args = append(args, "about:blank")
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{cmdR, outW}
	cmd.Stderr = opts.Stderr
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{cmdR, cmdW, outR, outW} {
			f.Close()
		}
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("cdp: start %s: %w", path, err)
	}
	// The child has its copies; closing ours lets us see EOF when it exits.
	cmdR.Close()
	outW.Close()

	b := &Browser{
		cmd: cmd, dataDir: dataDir, in: cmdW, out: outR,
		pending:  map[int64]chan response{},
		pages:    map[string]*Page{},
		readDone: make(chan struct{}),
		exited:   make(chan struct{}),
	}
	go func() {
		b.waitErr = cmd.Wait()
		close(b.exited)
	}()
	go b.readLoop()

	// The first call proves the pipe works.
	var v struct {
		Product string `json:"product"`
	}
	if err := b.Call(ctx, "", "Browser.getVersion", nil, &v); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Browser) readLoop() {
	defer close(b.readDone)
	r := bufio.NewReaderSize(b.out, 1<<16)
	var err error
	for {
		var data []byte
		data, err = r.ReadBytes(0)
		if err != nil {
			break
		}
		var m message
		if json.Unmarshal(data[:len(data)-1], &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m.response
			}
			continue
		}
		b.mu.Lock()
		p := b.pages[m.SessionID]
		b.mu.Unlock()
		if p != nil {
			p.event(m.Method, m.Params)
		}
	}
	b.mu.Lock()
	b.err = fmt.Errorf("%w: %w", ErrClosed, err)
	for id, ch := range b.pending {
		close(ch)
		delete(b.pending, id)
	}
	b.mu.Unlock()
}

// Call sends method with params to the browser (session "") or to a page's
// session, waits for the reply, and decodes its result into result unless
// result is nil.
func (b *Browser) Call(ctx context.Context, session, method string, params, result any) error {
	raw := json.RawMessage("{}")
	if params != nil {
		var err error
		if raw, err = json.Marshal(params); err != nil {
			return fmt.Errorf("cdp: %s: encode params: %w", method, err)
		}
	}
	ch := make(chan response, 1)
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return b.err
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()

	data, err := json.Marshal(request{ID: id, Method: method, Params: raw, SessionID: session})
	if err != nil {
		return fmt.Errorf("cdp: %s: %w", method, err)
	}
	b.wmu.Lock()
	_, err = b.in.Write(append(data, 0))
	b.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("cdp: %s: write: %w", method, err)
	}

	select {
	case resp, ok := <-ch:
		if !ok {
			return fmt.Errorf("cdp: %s: %w", method, ErrClosed)
		}
		if resp.Error != nil {
			return fmt.Errorf("cdp: %s: %s (%d)", method, resp.Error.Message, resp.Error.Code)
		}
		if result != nil {
			if err := json.Unmarshal(resp.Result, result); err != nil {
				return fmt.Errorf("cdp: %s: decode result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("cdp: %s: %w", method, ctx.Err())
	}
}

// Close asks the browser to exit, kills it if it has not within a few
// seconds, and removes its profile. It is safe to call more than once.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = b.Call(ctx, "", "Browser.close", nil, nil)
	select {
	case <-b.exited:
	case <-ctx.Done():
		b.cmd.Process.Kill()
		<-b.exited
	}
	b.in.Close()
	<-b.readDone
	b.out.Close()
	return os.RemoveAll(b.dataDir)
}
