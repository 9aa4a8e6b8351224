package friends

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkLookup is the cost a hello adds under --friends kv: one KV get
// over loopback and the decoding of the list.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 5000} {
		b.Run(fmt.Sprintf("friends=%d", n), func(b *testing.B) {
			ns := startNATS(b, b.TempDir(), -1)
			log, _ := newLog()
			ctx := context.Background()
			src, err := Open(ctx, connect(b, ns), Config{Create: true}, log)
			if err != nil {
				b.Fatal(err)
			}
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprint(1_000_000_000_000 + i)
			}
			if _, err := backend(b, connect(b, ns), "alo_friends").PutString(ctx, "1", "["+strings.Join(ids, ",")+"]"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if e, err := src.Lookup(ctx, 1); err != nil || len(e.Friends) != n {
					b.Fatal(e, err)
				}
			}
		})
	}
}
