// Package cdp drives a headless Chromium through the Chrome DevTools
// Protocol, for the project's browser tests. It talks to the browser over
// --remote-debugging-pipe (JSON messages separated by NUL bytes on file
// descriptors 3 and 4) rather than over a WebSocket, so it needs nothing
// beyond the standard library and the browser itself (Debian's chromium).
//
// It covers what page tests need and no more: open a page, evaluate
// JavaScript, wait for a condition, take a screenshot, and collect the
// console and uncaught exceptions so a failing test can show them.
package cdp
