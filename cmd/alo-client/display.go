package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/alo-presence/alo/client"
	"github.com/alo-presence/alo/shared"
)

// ANSI styles, used only when colour is on.
const (
	reset  = "\x1b[0m"
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	grey   = "\x1b[90m"
)

// display prints what happens, one line per event. Without colour every
// line is "HH:MM:SS.mmm word key=value ...", stable for scripts and tests;
// with colour it is meant for people. It owns the roster and is used from
// run's loop only.
type display struct {
	w      io.Writer
	color  bool
	user   int64
	addr   string
	roster *client.Roster
}

func newDisplay(w io.Writer, color bool, user int64, addr string, friends []int64) *display {
	return &display{w: w, color: color, user: user, addr: addr, roster: client.NewRoster(friends)}
}

func (d *display) style(s, text string) string {
	if !d.color {
		return text
	}
	return s + text + reset
}

func (d *display) printf(at time.Time, format string, args ...any) {
	stamp := at.Format("15:04:05.000")
	if d.color {
		stamp = d.style(dim, at.Format("15:04:05"))
	}
	fmt.Fprintf(d.w, stamp+" "+format+"\n", args...)
}

func (d *display) intro(interactive bool) {
	friends := d.roster.Friends()
	ids := make([]int64, len(friends))
	for i, f := range friends {
		ids[i] = f.UserID
	}
	if !d.color {
		d.printf(time.Now(), "start user=%d addr=%s friends=%s", d.user, d.addr, joinIDs(ids))
		return
	}
	hint := ""
	if interactive {
		hint = d.style(dim, " · type help for commands")
	}
	d.printf(time.Now(), "%s as user %s → %s · friends %s%s", d.style(bold, "alo"), d.style(bold, strconv.FormatInt(d.user, 10)), d.addr, listOrNone(ids), hint)
}

func (d *display) event(ev client.Event) {
	wasLive := d.roster.Live()
	changes := d.roster.Apply(ev)
	switch ev.Kind {
	case client.EventConnected:
		if d.color {
			d.printf(ev.Time, "%s", d.style(dim, "connected, signing in…"))
		} else {
			d.printf(ev.Time, "connected attempt=%d", ev.Attempt)
		}
	case client.EventPresence:
		d.changes(changes)
		if len(changes) > 0 && d.roster.Live() {
			d.status()
		}
	case client.EventReady:
		d.changes(changes)
		if d.color {
			d.printf(ev.Time, "%s", d.style(dim, "signed in, session "+ev.Session))
		} else {
			d.printf(ev.Time, "ready session=%s", q(ev.Session))
		}
		d.status()
	case client.EventError:
		if d.color {
			d.printf(ev.Time, "%s %s", d.style(red, "server error "+ev.Code+":"), ev.Message)
		} else {
			d.printf(ev.Time, "error code=%s message=%s", q(ev.Code), q(ev.Message))
		}
	case client.EventUnknown:
		if d.color {
			d.printf(ev.Time, "%s %s", d.style(yellow, "unrecognised message:"), ev.Raw)
		} else {
			d.printf(ev.Time, "unknown raw=%s", q(ev.Raw))
		}
	case client.EventDisconnected:
		if ev.RetryIn == 0 {
			return // logout or rejection: finished() says which
		}
		retry := ev.RetryIn.Round(time.Millisecond)
		if d.color {
			d.printf(ev.Time, "%s %v; retrying in %v", d.style(yellow, "disconnected:"), ev.Err, retry)
		} else {
			d.printf(ev.Time, "disconnected retry_in=%v err=%s", retry, q(fmt.Sprint(ev.Err)))
		}
		if wasLive {
			// Once per outage: show that the states are now stale.
			d.status()
		}
	}
}

func (d *display) changes(changes []client.Change) {
	for _, c := range changes {
		// Plain lines stay as they were for a plain status: "online 2",
		// "offline 3"; a status or text follows, "online 2 away \"lunch\"".
		switch {
		case !d.color && c.Online:
			d.printf(c.Time, "online %d%s", c.UserID, plainStatus(c.Status, c.Text))
		case !d.color:
			d.printf(c.Time, "offline %d", c.UserID)
		case c.Online:
			d.printf(c.Time, "%s %s is %s", d.style(green, "●"), d.style(bold, strconv.FormatInt(c.UserID, 10)), d.statusWords(c.Status, c.Text))
		default:
			d.printf(c.Time, "%s %s went offline", d.style(grey, "○"), d.style(bold, strconv.FormatInt(c.UserID, 10)))
		}
	}
}

// plainStatus is a status as plain output spells it after the id: nothing
// for plain online.
func plainStatus(st shared.Status, text string) string {
	out := ""
	if st != shared.StatusOnline {
		out += " " + st.String()
	}
	if text != "" {
		out += " " + strconv.Quote(text)
	}
	return out
}

// statusWords says an online friend's status for people.
func (d *display) statusWords(st shared.Status, text string) string {
	words := "online"
	switch st {
	case shared.StatusAway:
		words = d.style(yellow, "away")
	case shared.StatusDND:
		words = d.style(red, "busy (do not disturb)")
	}
	if text != "" {
		words += ": " + strconv.Quote(text)
	}
	return words
}

// ownStatus confirms the user's own status.
func (d *display) ownStatus(st shared.Status, text string) {
	if !d.color {
		d.printf(time.Now(), "my-status %s%s", st.String(), plainStatus(shared.StatusOnline, text))
		return
	}
	d.note("your status is now " + st.String() + plainStatus(shared.StatusOnline, text))
}

// ago says how long ago t was, roughly, as a person would.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
}

// status prints the compact one-line summary of all friends.
func (d *display) status() {
	friends := d.roster.Friends()
	now := time.Now()
	if !d.color {
		var on, off []int64
		for _, f := range friends {
			if f.Online {
				on = append(on, f.UserID)
			} else {
				off = append(off, f.UserID)
			}
		}
		state := "live"
		if !d.roster.Live() {
			state = "stale"
		}
		d.printf(now, "status %s online=%s offline=%s", state, joinIDs(on), joinIDs(off))
		for _, f := range friends {
			if f.Online && (f.Status != shared.StatusOnline || f.Text != "") {
				d.printf(now, "friend-status %d%s", f.UserID, plainStatus(f.Status, f.Text))
			}
		}
		return
	}
	var b strings.Builder
	b.WriteString("friends:")
	if len(friends) == 0 {
		b.WriteString(d.style(dim, " none"))
	}
	for _, f := range friends {
		id := strconv.FormatInt(f.UserID, 10)
		if f.Online {
			b.WriteString("  " + d.style(green, "●") + " " + d.style(bold, id))
			if f.Status != shared.StatusOnline || f.Text != "" {
				b.WriteString(" " + d.statusWords(f.Status, f.Text))
			}
			b.WriteString(d.style(dim, " since "+f.Since.Format("15:04:05")))
		} else {
			b.WriteString("  " + d.style(grey, "○ "+id))
			if !f.LastSeen.IsZero() {
				b.WriteString(d.style(dim, " last seen "+ago(now, f.LastSeen)))
			}
		}
	}
	if !d.roster.Live() {
		b.WriteString("  " + d.style(yellow, "(not connected: last known)"))
	}
	d.printf(now, "%s", b.String())
}

func (d *display) setFriends(friends []int64) {
	d.roster.SetFriends(friends)
	if d.color {
		d.printf(time.Now(), "friend list is now %s", listOrNone(friends))
	} else {
		d.printf(time.Now(), "friends %s", joinIDs(friends))
	}
	d.status()
}

func (d *display) help() {
	for _, l := range strings.Split(helpText, "\n") {
		fmt.Fprintln(d.w, l)
	}
}

func (d *display) note(msg string) {
	if d.color {
		d.printf(time.Now(), "%s", d.style(dim, msg))
	} else {
		d.printf(time.Now(), "note message=%s", q(msg))
	}
}

func (d *display) commandError(err error) { d.commandErrorf("%v", err) }

func (d *display) commandErrorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if d.color {
		d.printf(time.Now(), "%s", d.style(red, msg))
	} else {
		d.printf(time.Now(), "error code=command message=%s", q(msg))
	}
}

// finished prints the last line once Run has returned with err.
func (d *display) finished(err error) {
	if err == nil {
		if d.color {
			d.printf(time.Now(), "%s", d.style(dim, "logged out"))
		} else {
			d.printf(time.Now(), "logged out")
		}
	}
}

// joinIDs is the plain form of a list: "2,3", empty for none.
func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

func listOrNone(ids []int64) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.ReplaceAll(joinIDs(ids), ",", ", ")
}

// q quotes a value for a plain line when it needs it, as logfmt does.
func q(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=\n") || !strconv.CanBackquote(s) {
		return strconv.Quote(s)
	}
	return s
}
