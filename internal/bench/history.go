package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// History is every user's list of presence transitions in this run, in a
// table that all processes of the run map: the worker that owns a user
// appends to its row, any worker reads any row. It is how a watcher in one
// process checks and times a notification caused in another.
//
// Transition k of a user is online when k is even and offline when k is odd
// (every user starts offline). Each holds two instants on the run's Clock:
// Start, when the tool began it (began dialing, or began closing), and
// Confirm, when it is known to have registered (ready received) — 0 while
// unknown, and Void when the attempt failed in a way that leaves it unknown
// whether the server ever saw the session.
//
// Rows are written by one goroutine each, readers use atomic loads, and the
// count is stored after the slot it publishes, so a reader never sees a slot
// half written.
type History struct {
	words []int64 // header, then per user: count, then slots × (start, confirm)
	users int
	slots int
	mem   []byte // the mapping, nil when the table is private to this process
}

// Void marks a transition whose effect on the server is unknown.
const Void = -1

const historyMagic = 0x616c6f686973 // "alohis"

const historyHeader = 4 // magic, users, slots, reserved

// ErrHistoryFull says a user has used every transition slot of the run.
var ErrHistoryFull = errors.New("bench: user has no transition slots left")

func historyWords(users, slots int) int { return historyHeader + users*(1+2*slots) }

// NewHistory returns a table private to this process.
func NewHistory(users, slots int) *History {
	h := &History{words: make([]int64, historyWords(users, slots)), users: users, slots: slots}
	h.words[0], h.words[1], h.words[2] = historyMagic, int64(users), int64(slots)
	return h
}

// CreateHistory makes a table in a new file at path (best on tmpfs, such as
// /dev/shm) and maps it, for workers to open with OpenHistory.
func CreateHistory(path string, users, slots int) (*History, error) {
	size := historyWords(users, slots) * 8
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bench: create history: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(int64(size)); err != nil {
		return nil, fmt.Errorf("bench: size history: %w", err)
	}
	var hdr [historyHeader * 8]byte
	binary.LittleEndian.PutUint64(hdr[0:], historyMagic)
	binary.LittleEndian.PutUint64(hdr[8:], uint64(users))
	binary.LittleEndian.PutUint64(hdr[16:], uint64(slots))
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("bench: write history header: %w", err)
	}
	return mapHistory(f, size)
}

// OpenHistory maps a table another process created.
func OpenHistory(path string) (*History, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("bench: open history: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("bench: stat history: %w", err)
	}
	return mapHistory(f, int(st.Size()))
}

func mapHistory(f *os.File, size int) (*History, error) {
	if size < historyHeader*8 || size%8 != 0 {
		return nil, fmt.Errorf("bench: history file of %d bytes is malformed", size)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("bench: map history: %w", err)
	}
	// The mapping is page-aligned, so every word is 8-byte aligned as the
	// atomic operations need.
	words := unsafe.Slice((*int64)(unsafe.Pointer(&mem[0])), size/8)
	h := &History{words: words, users: int(words[1]), slots: int(words[2]), mem: mem}
	if words[0] != historyMagic || h.users < 0 || h.slots < 0 || historyWords(h.users, h.slots) != len(words) {
		_ = syscall.Munmap(mem)
		return nil, errors.New("bench: history file header does not match its size")
	}
	return h, nil
}

// Close unmaps a shared table; the file stays for its creator to remove.
func (h *History) Close() error {
	if h.mem == nil {
		return nil
	}
	mem := h.mem
	h.mem, h.words = nil, nil
	if err := syscall.Munmap(mem); err != nil {
		return fmt.Errorf("bench: unmap history: %w", err)
	}
	return nil
}

// Users returns the number of rows.
func (h *History) Users() int { return h.users }

// Slots returns the number of transitions a user may have.
func (h *History) Slots() int { return h.slots }

func (h *History) row(u int) int { return historyHeader + u*(1+2*h.slots) }

// Count returns how many transitions user u has had.
func (h *History) Count(u int) int { return int(atomic.LoadInt64(&h.words[h.row(u)])) }

// Append records a new transition of user u begun at start and returns its
// index. Only u's owner may call it.
func (h *History) Append(u int, start int64) (int, error) {
	r := h.row(u)
	k := int(h.words[r]) // the owner is the only writer of the count
	if k >= h.slots {
		return 0, ErrHistoryFull
	}
	atomic.StoreInt64(&h.words[r+1+2*k], start)
	atomic.StoreInt64(&h.words[r+2+2*k], 0)
	atomic.StoreInt64(&h.words[r], int64(k+1))
	return k, nil
}

// Confirm records when transition k of user u is known to have registered,
// or Void.
func (h *History) Confirm(u, k int, t int64) {
	atomic.StoreInt64(&h.words[h.row(u)+2+2*k], t)
}

// At returns transition k of user u.
func (h *History) At(u, k int) (start, confirm int64) {
	r := h.row(u) + 1 + 2*k
	return atomic.LoadInt64(&h.words[r]), atomic.LoadInt64(&h.words[r+1])
}
