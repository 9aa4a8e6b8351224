package bench

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
	"syscall"
	"time"
)

// WorkerEnv, set in a process's environment, makes alo-bench a worker: it
// reads a WorkerConfig and then Commands on stdin, and writes Replies on
// stdout. The coordinator re-executes its own binary this way when one
// process's file limit would bind.
const WorkerEnv = "ALO_BENCH_WORKER"

// workerHandle is the coordinator's side of one worker.
type workerHandle interface {
	call(ctx context.Context, c Command) (Reply, error)
	close() error
}

// localWorker runs a worker in the coordinator's own process.
type localWorker struct {
	w      *Worker
	cancel context.CancelFunc
	done   chan struct{}
}

func newLocalWorker(cfg WorkerConfig) (*localWorker, error) {
	w, err := NewWorker(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &localWorker{w: w, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		w.Run(ctx)
	}()
	return l, nil
}

func (l *localWorker) call(ctx context.Context, c Command) (Reply, error) {
	return l.w.Do(ctx, c), nil
}

func (l *localWorker) close() error {
	l.w.closeAll()
	l.cancel()
	<-l.done
	if l.w.cfg.HistoryPath != "" {
		return l.w.hist.Close()
	}
	return nil
}

// procWorker is a worker in a child process.
type procWorker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	encMu sync.Mutex
	enc   *json.Encoder

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan Reply
	dead    error
	done    chan struct{}
}

// startProcWorker re-executes this binary as a worker and sends it cfg.
func startProcWorker(cfg WorkerConfig) (*procWorker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: find own binary: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	cmd.Stderr = os.Stderr
	// A worker must not outlive the coordinator, even a killed one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: worker stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: worker stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start worker: %w", err)
	}
	p := &procWorker{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), pending: map[int64]chan Reply{}, done: make(chan struct{})}
	go p.readReplies(stdout)
	if err := p.enc.Encode(cfg); err != nil {
		p.close()
		return nil, fmt.Errorf("bench: configure worker: %w", err)
	}
	// The first reply (id 0) says whether the worker could set itself up.
	ch := make(chan Reply, 1)
	p.mu.Lock()
	p.pending[0] = ch
	p.mu.Unlock()
	select {
	case r := <-ch:
		if r.Err != "" {
			p.close()
			return nil, fmt.Errorf("bench: worker %d: %s", cfg.Index, r.Err)
		}
	case <-p.done:
		return nil, fmt.Errorf("bench: worker %d exited during setup: %w", cfg.Index, p.dead)
	case <-time.After(60 * time.Second):
		p.close()
		return nil, fmt.Errorf("bench: worker %d did not start", cfg.Index)
	}
	return p, nil
}

func (p *procWorker) readReplies(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var rep Reply
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			continue // not ours: a stray line must not stop the run
		}
		p.mu.Lock()
		ch := p.pending[rep.ID]
		delete(p.pending, rep.ID)
		p.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
	err := p.cmd.Wait()
	if err == nil {
		err = errors.New("exited")
	}
	p.mu.Lock()
	p.dead = err
	p.mu.Unlock()
	close(p.done)
}

func (p *procWorker) call(ctx context.Context, c Command) (Reply, error) {
	ch := make(chan Reply, 1)
	p.mu.Lock()
	if p.dead != nil {
		p.mu.Unlock()
		return Reply{}, fmt.Errorf("bench: worker is gone: %w", p.dead)
	}
	p.nextID++
	c.ID = p.nextID
	p.pending[c.ID] = ch
	p.mu.Unlock()
	p.encMu.Lock()
	err := p.enc.Encode(c)
	p.encMu.Unlock()
	if err != nil {
		return Reply{}, fmt.Errorf("bench: send to worker: %w", err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-p.done:
		return Reply{}, fmt.Errorf("bench: worker died: %w", p.dead)
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
}

// close ends the worker: closing its stdin makes it close its sockets and
// exit; a worker that does not is killed.
func (p *procWorker) close() error {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// ServeWorker is a worker process's main loop: config, then commands, until
// stdin ends.
func ServeWorker(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(bufio.NewReaderSize(in, 64<<10))
	var outMu sync.Mutex
	enc := json.NewEncoder(out)
	reply := func(r Reply) {
		outMu.Lock()
		_ = enc.Encode(r)
		outMu.Unlock()
	}
	var cfg WorkerConfig
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("bench: read worker config: %w", err)
	}
	w, err := NewWorker(cfg)
	if err != nil {
		reply(Reply{Err: err.Error()})
		return err
	}
	defer w.hist.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	reply(Reply{})
	var wg sync.WaitGroup
	for {
		var c Command
		if err := dec.Decode(&c); err != nil {
			break // the coordinator is done (or gone)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply(w.Do(ctx, c))
		}()
	}
	cancel()
	w.closeAll()
	wg.Wait()
	return nil
}
