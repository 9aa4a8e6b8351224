package web_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/alo-presence/alo/internal/cdp"
)

// TestTwoPages is the demo as a person sees it: the real alo serves the
// page, two tabs sign in as two users who list each other, each sees the
// other come online, and each sees the other go offline when that tab is
// closed. With ALO_SCREENSHOT_DIR set it leaves web-demo.png there, which
// is docs/demo.png (make demo-png).
func TestTwoPages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs alo")
	}
	_, httpAddr := startRealALO(t)
	b := cdp.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	open := func(user, friends string) pageCheck {
		t.Helper()
		c := openPage(t, ctx, b, "http://"+httpAddr+"/?user="+user+"&friends="+friends+"&connect=1", 960, 600)
		c.waitFor(status("live"))
		return c
	}
	closePage := func(c pageCheck) {
		t.Helper()
		c.noExceptions()
		if err := c.p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}

	alice := open("1", "2,3")
	alice.waitFor(offline("2"))
	bob := open("2", "1")
	bob.waitFor(online("1")) // in bob's snapshot
	alice.waitFor(online("2"))
	alice.waitFor(offline("3"))

	// Status (issue 13): each tab's picker, seen live by the other tab.
	setStatus := func(c pageCheck, status, text string) {
		t.Helper()
		c.eval(`document.getElementById("myStatus").value = "` + status + `";
			document.getElementById("myText").value = "` + text + `";
			document.getElementById("setStatus").click()`)
	}
	friend := func(id string) string { return `document.querySelector('.friend[data-user="` + id + `"]')` }
	setStatus(alice, "away", "in a meeting")
	bob.waitFor(friend("1") + `?.dataset.status === "away" && ` + friend("1") + `.querySelector(".text").textContent.includes("in a meeting")`)
	setStatus(bob, "dnd", "deep work")
	alice.waitFor(friend("2") + `?.dataset.status === "dnd" && ` + friend("2") + `.querySelector(".text").textContent.includes("deep work")`)
	// Invisible: bob sees alice leave, with a last seen; alice still
	// sees bob; back online is coming online, with the status chosen.
	setStatus(alice, "invisible", "")
	bob.waitFor(offline("1") + ` && ` + friend("1") + `.querySelector(".since").textContent.startsWith("last seen")`)
	setStatus(bob, "dnd", "deep work, still")
	alice.waitFor(friend("2") + `.querySelector(".text").textContent.includes("still")`)
	setStatus(alice, "online", "back")
	bob.waitFor(online("1") + ` && ` + friend("1") + `.dataset.status === "online" && ` + friend("1") + `.querySelector(".text").textContent.includes("back")`)
	if os.Getenv("ALO_SCREENSHOT_DIR") != "" {
		// Let the "since" times and the log settle into a still picture.
		alice.waitFor(`document.querySelectorAll("#log li").length >= 2`)
		alice.screenshot("demo")
	}

	closePage(bob)
	alice.waitFor(offline("2"))

	bob = open("2", "1")
	bob.waitFor(online("1"))
	alice.waitFor(online("2"))
	closePage(alice)
	bob.waitFor(offline("1"))
	closePage(bob)
}
