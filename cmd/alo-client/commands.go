package main

import (
	"slices"
	"strings"

	"github.com/alo-presence/alo/client"
	"github.com/alo-presence/alo/shared"
)

const helpText = `  friends 2,5     replace the friend list (friends none: empty it)
  friends         show the friend list and who is online
  add 4 [5 ...]   add friends
  remove 3        remove friends (also: rm)
  status          show who is online, with their statuses
  status away in a meeting
                  set your status (online, away, dnd, invisible) and text
  quit            log out and exit (also: logout, exit, Ctrl-D)
  help            this text`

// execute runs one command line typed by the user, and reports whether it
// was a request to log out.
func execute(line string, c *client.Client, ui *display) (quit bool) {
	cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToLower(cmd) {
	case "":
	case "help", "?", "h":
		ui.help()
	case "status", "s":
		if arg == "" {
			ui.status()
			return false
		}
		name, text, _ := strings.Cut(arg, " ")
		st, ok := shared.ParseStatus(strings.ToLower(name))
		if !ok {
			ui.commandErrorf("usage: status online|away|dnd|invisible [text]")
			return false
		}
		text = strings.TrimSpace(text)
		if err := c.SetStatus(st, text); err != nil {
			ui.commandError(err)
			return false
		}
		ui.ownStatus(st, text)
	case "friends", "f":
		if arg == "" {
			ui.status()
			return false
		}
		var ids []int64
		if arg != "none" && arg != "-" {
			var err error
			if ids, err = client.ParseIDs(arg); err != nil {
				ui.commandError(err)
				return false
			}
		}
		setFriends(c, ui, ids)
	case "add", "+":
		ids, err := client.ParseIDs(arg)
		if err != nil || len(ids) == 0 {
			ui.commandErrorf("usage: add 4 [5 ...]")
			return false
		}
		setFriends(c, ui, append(c.Friends(), ids...))
	case "remove", "rm", "-":
		ids, err := client.ParseIDs(arg)
		if err != nil || len(ids) == 0 {
			ui.commandErrorf("usage: remove 3 [4 ...]")
			return false
		}
		setFriends(c, ui, slices.DeleteFunc(c.Friends(), func(id int64) bool { return slices.Contains(ids, id) }))
	case "quit", "logout", "exit", "q":
		ui.note("logging out")
		if err := c.Logout(); err != nil {
			ui.commandError(err)
		}
		return true
	default:
		ui.commandErrorf("unknown command %q (type help)", cmd)
	}
	return false
}

func setFriends(c *client.Client, ui *display, ids []int64) {
	friends, err := c.SetFriends(ids)
	if friends == nil && err != nil {
		ui.commandError(err)
		return
	}
	// A send error with the list kept means we are (about to be)
	// disconnected; the next hello carries the new list, so show it.
	ui.setFriends(friends)
}
