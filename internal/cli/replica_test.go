package cli

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
)

func TestTrailingNumber(t *testing.T) {
	for name, want := range map[string]int{
		"alo-composetest-gateway-2.alo-composetest_default.": 2,
		"alo_gateway_10":        10,
		"gateway":               0,
		"alo-gateway-x.net.":    0,
		"alo-gateway-0":         0,
		"3f2a9c1b0d4e.default.": 0,
	} {
		got, ok := trailingNumber(name)
		if got != want || ok != (want > 0) {
			t.Errorf("trailingNumber(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}

// A reverse lookup against a DNS server on loopback that answers as
// Docker's does, with a compressed name: the replica number comes from it.
func TestReplicaNumberFromDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		resp := append([]byte{}, q[:2]...)
		resp = append(resp, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0)
		resp = append(resp, q[12:]...)                          // the question
		resp = append(resp, 0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60) // name: the question's; PTR IN, ttl
		name := []byte{}
		for _, l := range strings.Split("alo-composetest-gateway-3.alo-composetest_default", ".") {
			name = append(append(name, byte(len(l))), l...)
		}
		name = append(name, 0)
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(name)))
		resp = append(resp, name...)
		pc.WriteTo(resp, from)
	}()
	got, err := reverseLookup(context.Background(), pc.LocalAddr().String(), net.IPv4(172, 18, 0, 5).To4())
	if err != nil {
		t.Fatal(err)
	}
	if got != "alo-composetest-gateway-3.alo-composetest_default." {
		t.Fatalf("name %q", got)
	}
	if n, _ := trailingNumber(got); n != 3 {
		t.Fatalf("replica %d, want 3", n)
	}
}

func TestExpandReplica(t *testing.T) {
	t.Setenv(EnvReplica, "4")
	id, user, file, other := "gw-{replica}", "gw-{replica}", "/run/secrets/nats-gw-{replica}", "x"
	if err := ExpandReplica(context.Background(), &id, &user, &file, &other); err != nil {
		t.Fatal(err)
	}
	if id != "gw-4" || user != "gw-4" || file != "/run/secrets/nats-gw-4" || other != "x" {
		t.Fatalf("got %q %q %q %q", id, user, file, other)
	}
	t.Setenv(EnvReplica, "0")
	if err := ExpandReplica(context.Background(), &id); err != nil {
		t.Fatalf("no placeholder left, yet: %v", err)
	}
	id = "gw-{replica}"
	if err := ExpandReplica(context.Background(), &id); err == nil {
		t.Fatal("replica 0 accepted")
	}
}
