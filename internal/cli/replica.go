package cli

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// ReplicaPlaceholder, in a gateway's --id, --nats-user or
// --nats-password-file, stands for the replica number of its container
// (ReplicaNumber), so that the replicas of one compose service, which share
// one environment, each log in to NATS as a gateway user of their own and
// publish under its id: gw-{replica} is gw-1 in the first container, gw-2
// in the second.
const ReplicaPlaceholder = "{replica}"

// EnvReplica sets the replica number outright (a systemd instance, a
// Kubernetes StatefulSet's ordinal plus one), instead of asking DNS.
const EnvReplica = "ALO_REPLICA"

// ErrReplica is a replica number that cannot be found.
var ErrReplica = errors.New("cli: cannot tell this container's replica number")

// ExpandReplica replaces ReplicaPlaceholder in each of values by the replica
// number, which it looks up only if one of them holds the placeholder.
func ExpandReplica(ctx context.Context, values ...*string) error {
	need := false
	for _, v := range values {
		need = need || strings.Contains(*v, ReplicaPlaceholder)
	}
	if !need {
		return nil
	}
	n, err := ReplicaNumber(ctx)
	if err != nil {
		return err
	}
	for _, v := range values {
		*v = strings.ReplaceAll(*v, ReplicaPlaceholder, strconv.Itoa(n))
	}
	return nil
}

// ReplicaNumber returns the number Docker Compose gave this container among
// its service's replicas: the trailing number of the container's name
// (alo-gateway-2 in Compose v2, alo_gateway_2 in v1), or EnvReplica when
// set. Compose does not tell a container its name or number; its network's
// DNS server does, answering a reverse lookup of the container's address
// with the name. The lookup asks that server directly, since /etc/hosts,
// which Go's resolver reads first, maps the address to the container id.
func ReplicaNumber(ctx context.Context) (int, error) {
	if v := os.Getenv(EnvReplica); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%w: %s=%q is not a positive number", ErrReplica, EnvReplica, v)
		}
		return n, nil
	}
	server, err := nameserver("/etc/resolv.conf")
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrReplica, err)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrReplica, err)
	}
	var errs []error
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil || ipn.IP.IsLoopback() {
			continue
		}
		name, err := reverseLookup(ctx, server, ipn.IP.To4())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n, ok := trailingNumber(name); ok {
			return n, nil
		}
		errs = append(errs, fmt.Errorf("%s is %s, which ends in no replica number", ipn.IP, name))
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no IPv4 address"))
	}
	return 0, fmt.Errorf("%w (set %s): %w", ErrReplica, EnvReplica, errors.Join(errs...))
}

// trailingNumber returns the number that ends the first label of a name:
// 2 for "alo-gateway-2.alo_default." or "alo_gateway_2".
func trailingNumber(name string) (int, bool) {
	label, _, _ := strings.Cut(name, ".")
	i := strings.LastIndexAny(label, "-_")
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(label[i+1:])
	return n, err == nil && n > 0
}

// nameserver returns the first nameserver of a resolv.conf.
func nameserver(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "nameserver" {
			return net.JoinHostPort(fs[1], "53"), nil
		}
	}
	return "", fmt.Errorf("no nameserver in %s", path)
}

// reverseLookup asks server for the PTR record of ip, in one UDP query.
func reverseLookup(ctx context.Context, server string, ip net.IP) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	id := uint16(time.Now().UnixNano())
	q := binary.BigEndian.AppendUint16(nil, id)
	q = append(q, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0) // recursion desired, one question
	for _, label := range []string{strconv.Itoa(int(ip[3])), strconv.Itoa(int(ip[2])), strconv.Itoa(int(ip[1])), strconv.Itoa(int(ip[0])), "in-addr", "arpa"} {
		q = append(append(q, byte(len(label))), label...)
	}
	q = append(q, 0, 0, 12, 0, 1) // root, type PTR, class IN
	if _, err := c.Write(q); err != nil {
		return "", err
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return parsePTR(buf[:n], id)
}

var errBadDNS = errors.New("malformed DNS answer")

// parsePTR returns the first PTR answer's name in a DNS response.
func parsePTR(m []byte, id uint16) (string, error) {
	if len(m) < 12 || binary.BigEndian.Uint16(m) != id {
		return "", errBadDNS
	}
	if rcode := m[3] & 0xf; rcode != 0 {
		return "", fmt.Errorf("DNS answered rcode %d", rcode)
	}
	qd, an := int(binary.BigEndian.Uint16(m[4:])), int(binary.BigEndian.Uint16(m[6:]))
	off := 12
	for range qd {
		_, next, err := dnsName(m, off)
		if err != nil {
			return "", err
		}
		off = next + 4
	}
	for range an {
		_, next, err := dnsName(m, off)
		if err != nil || next+10 > len(m) {
			return "", errBadDNS
		}
		typ := binary.BigEndian.Uint16(m[next:])
		rdlen := int(binary.BigEndian.Uint16(m[next+8:]))
		rdata := next + 10
		if rdata+rdlen > len(m) {
			return "", errBadDNS
		}
		if typ == 12 {
			name, _, err := dnsName(m, rdata)
			return name, err
		}
		off = rdata + rdlen
	}
	return "", errors.New("no PTR record")
}

// dnsName reads a possibly compressed name at off, and returns it and the
// offset after it.
func dnsName(m []byte, off int) (string, int, error) {
	var labels []string
	end := -1
	for hops := 0; hops < 64; hops++ {
		if off >= len(m) {
			return "", 0, errBadDNS
		}
		l := int(m[off])
		switch {
		case l == 0:
			if end < 0 {
				end = off + 1
			}
			return strings.Join(labels, ".") + ".", end, nil
		case l&0xc0 == 0xc0:
			if off+1 >= len(m) {
				return "", 0, errBadDNS
			}
			if end < 0 {
				end = off + 2
			}
			off = int(binary.BigEndian.Uint16(m[off:]) & 0x3fff)
		default:
			if off+1+l > len(m) {
				return "", 0, errBadDNS
			}
			labels = append(labels, string(m[off+1:off+1+l]))
			off += 1 + l
		}
	}
	return "", 0, errBadDNS
}
