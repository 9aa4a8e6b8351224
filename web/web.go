// Package web holds the demo page the gateway serves at "/": one
// self-contained HTML file (no build step, nothing fetched from elsewhere)
// that signs in over the WebSocket at "/ws" on the same origin and shows
// each friend going online and offline live.
package web

import _ "embed"

// Index is the demo page, index.html.
//
//go:embed index.html
var Index []byte
