// Package bench is the engine of alo-bench, ALO's load tool. It speaks the
// real client protocol (DESIGN §1) over real loopback sockets to a running
// ALO, drives users through open-loop churn, checks every notification it
// receives against the transitions it caused itself, and measures latency,
// throughput and the server's memory and CPU beside the ceilings of the
// machine (raw TCP, NATS, a bare goroutine-per-connection server).
//
// The work is split between a coordinator (the parent process) and workers.
// A worker owns a share of the users and their sockets; when one process's
// file limit would bind, workers are the tool itself re-executed, spoken to
// over JSON lines on stdin/stdout. Workers share one thing: a memory-mapped
// table of every user's transitions (History), so a watcher in one process can
// check and time a notification caused in another.
package bench
