package cdp_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alo-presence/alo/internal/cdp"
)

func TestPageEvalAndScreenshot(t *testing.T) {
	b := cdp.ForTest(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><title>t</title><p id="p">hello</p>
<button id="b" onclick="document.getElementById('p').textContent='clicked'">go</button>
<script>console.log("loaded", 42)</script>`)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := b.NewPage(ctx, 400, 300)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Navigate(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	var text string
	if err := p.Eval(ctx, `document.getElementById("p").textContent`, &text); err != nil || text != "hello" {
		t.Fatalf("text %q, %v", text, err)
	}
	if err := p.Eval(ctx, `document.getElementById("b").click()`, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, `document.getElementById("p").textContent === "clicked"`); err != nil {
		t.Fatal(err)
	}
	if err := p.Eval(ctx, `nope.nope`, nil); err == nil {
		t.Fatal("eval of a throwing expression: no error")
	}
	png, err := p.Screenshot(ctx)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
	waitCtx, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	for len(p.Log()) == 0 {
		select {
		case <-waitCtx.Done():
			t.Fatal("console.log not seen")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got := p.Log()[0]; got != "console.log: loaded 42" {
		t.Errorf("log %q", got)
	}
}
