package bench

import (
	"fmt"
	"os"
	"testing"
)

// TestMain lets the test binary play the roles the tool re-executes itself
// for, so multi-process tests run the real fan-out.
func TestMain(m *testing.M) {
	switch {
	case os.Getenv(WorkerEnv) != "":
		if err := ServeWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case os.Getenv(fakeEnv) != "":
		// The fake ALO as a process of its own, for --server-cmd tests.
		if err := serveFakeAt(os.Getenv(fakeEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case os.Getenv(BareEnv) != "":
		if err := ServeBare(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
